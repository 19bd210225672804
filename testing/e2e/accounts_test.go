package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

const (
	payerID  = "1234567890123456" // bssfake's own account: the payer
	memberID = "2000000000000002" // a member of the payer
	busyID   = "3000000000000003" // an account of its own, throttled
	busyKey  = "LTAI5tBusyAccountKey"
	busySec  = "busy-Secret-Never-Printed-5d4c"
)

// accountsWorld is bssfake serving the payer (whose member is memberID) and busyID, with
// the same rows on every day of both accounts: only the account tells their events apart.
func accountsWorld(t *testing.T) *harness.Env {
	api := bssfake.New(bssfake.Options{Keys: map[string]string{harness.KeyID: harness.Secret}, Members: []string{memberID},
		More: []bssfake.Account{{ID: busyID, Name: "busy@example.com", Keys: map[string]string{busyKey: busySec}}}})
	require.NoError(t, api.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = api.Close() })
	e := harness.New(t)
	e.API = api
	for _, d := range []string{e.Day.String(), e.Day.AddDays(1).String()} {
		rows := bssfake.SampleDay(d, 9, 4)
		api.SetAccountDay(memberID, d, rows)
		api.SetAccountDay(busyID, d, rows)
	}
	return e
}

var threeAccounts = map[string]any{"accounts": []map[string]any{
	{"name": "busy", "access_key_id": busyKey, "secret_access_Key": busySec},
	{"name": "broken", "access_key_id": "LTAI5tNobodyKnowsThis", "secret_access_Key": "broken-Secret-Never-Printed"},
	{"name": "shop", "bill_owner_id": memberID}, // with the top-level (payer's) credentials
}}

// byAccount groups the sink's events by their account extension, checking each event's
// shape and that its subject starts with the account.
func byAccount(t *testing.T, got []sink.Received) map[string][]event.Event {
	out := map[string][]event.Event{}
	for _, r := range got {
		require.NoError(t, sink.CheckSeedShape(r.Event))
		a, err := r.Event.Context.GetExtension(job.AccountExtension)
		require.NoError(t, err)
		name, _ := a.(string)
		assert.True(t, strings.HasPrefix(r.Event.Subject(), name+"/"), "subject %q names its account", r.Event.Subject())
		out[name] = append(out[name], r.Event)
	}
	return out
}

func TestAccounts_TwoGoodAccountsDeliverEverythingTheRefusedOneIsReported(t *testing.T) {
	e := accountsWorld(t)
	e.API.Inject(bssfake.Fault{Kind: bssfake.Throttle, Times: 4, Account: busyID})
	r := e.Run(t, []string{"--config", e.Config(t, threeAccounts), "--from", e.Day.String(), "--to", e.Day.AddDays(1).String()})
	assert.NotContains(t, r.Stdout+r.Stderr, busySec)
	assert.NotContains(t, r.Stdout+r.Stderr, "broken-Secret-Never-Printed")
	require.Equal(t, 1, r.Code, "one account not delivered, the others done: exit 1\n%s", harness.Tail(r.Stderr, 3000))

	got := byAccount(t, e.Sink.Events())
	assert.Len(t, got["busy"], 18, "both days of the throttled account")
	assert.Len(t, got["shop"], 18, "both days of the member account")
	assert.Empty(t, got["broken"])
	assert.Len(t, harness.IDs(e.Sink.Events()), 36, "the same rows of two accounts are two events each: ids differ by account")

	// One progress line per account per day; the refused account's says why.
	for _, d := range []string{e.Day.String(), e.Day.AddDays(1).String()} {
		assert.Contains(t, r.Stdout, d+" busy: 9 fetched, 9 delivered, 0 failed")
		assert.Contains(t, r.Stdout, d+" shop: 9 fetched, 9 delivered, 0 failed")
	}
	assert.Contains(t, r.Stdout, " broken: 0 fetched, 0 delivered, 0 failed")
	assert.Contains(t, r.Stdout, "InvalidAccessKeyId.NotFound")

	throttled, member := 0, 0
	for _, q := range e.API.Requests() {
		switch q.Account {
		case busyID:
			if q.Code == "Throttling.User" {
				throttled++
			}
		case memberID:
			member++
			assert.Equal(t, harness.KeyID, q.Params.Get("AccessKeyId"), "the member's bill is read with the payer's key")
			assert.Equal(t, memberID, q.Params.Get("BillOwnerId"))
		}
	}
	assert.Equal(t, 4, throttled, "the busy account was throttled and retried")
	assert.Positive(t, member)

	// One state file for every account (a bucket each), none of its own.
	for _, n := range []string{"busy", "broken", "shop"} {
		_, err := os.Stat(strings.TrimSuffix(e.StatePath, ".db") + "." + n + ".db")
		assert.ErrorIs(t, err, os.ErrNotExist, n)
		st, err := state.Open(e.StatePath, true)
		require.NoError(t, err)
		require.NoError(t, st.DB().Account(n).Check(), n)
		days, err := st.DB().Account(n).Days()
		require.NoError(t, err)
		if n != "broken" {
			assert.Len(t, days, 2, n)
		}
		require.NoError(t, st.Close())
	}
}

func TestAccounts_AccountFlagRunsOnlyThatAccount(t *testing.T) {
	e := accountsWorld(t)
	r := e.Run(t, []string{"--config", e.Config(t, threeAccounts), "--once", "--date", e.Day.String(), "--account", "shop"})
	require.Equal(t, 0, r.Code, r.Stderr)
	got := byAccount(t, e.Sink.Events())
	assert.Len(t, got["shop"], 9)
	assert.Len(t, got, 1, "only shop ran")
	assert.Contains(t, r.Stdout, "[1/1] "+e.Day.String()+" shop: 9 fetched, 9 delivered")

	r = e.Run(t, []string{"--config", e.Config(t, threeAccounts), "--once", "--account", "nobody"})
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, `--account "nobody" is not a configured account; the accounts are: broken, busy, shop`)
}

func TestAccounts_EveryAccountRefusedIsExit2(t *testing.T) {
	e := accountsWorld(t)
	cfg := map[string]any{"accounts": []map[string]any{
		{"name": "a", "access_key_id": "LTAI5tNobodyKnowsThisA", "secret_access_Key": "x-Secret-A"},
		{"name": "b", "access_key_id": "LTAI5tNobodyKnowsThisB", "secret_access_Key": "x-Secret-B"},
	}}
	r := e.Run(t, []string{"--config", e.Config(t, cfg), "--once", "--date", e.Day.String()})
	assert.Equal(t, 2, r.Code, r.Stdout)
	assert.Empty(t, e.Sink.Events())
}

func TestAccounts_FlatConfigKeepsItsEventsAndStateFile(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	want := e.Want(t, e.Day)
	got := map[string]string{}
	for _, ev := range e.Sink.Events() {
		got[ev.Event.Subject()] = string(ev.Event.Data())
		a, err := ev.Event.Context.GetExtension(job.AccountExtension)
		require.NoError(t, err)
		assert.Equal(t, "default", a)
	}
	assert.Equal(t, want, got, "the subjects of a config without accounts are as they were")
	// The ids too, computed from the rows' identities and the revision without the event
	// builder. The rows are new, read by one pull: one revision, the pull's time.
	revs := map[int]bool{}
	for _, ev := range e.Sink.Events() {
		rev, err := harness.Revision(ev.Event)
		require.NoError(t, err)
		revs[rev] = true
	}
	require.Len(t, revs, 1, "one pull, one revision")
	wantIDs := map[string]bool{}
	for _, r := range e.API.Day(e.Day.String()) { // the fake's item is the connector's row
		body, _, err := job.Body(r)
		require.NoError(t, err)
		for rev := range revs {
			wantIDs[job.EventID(r.Identity(), body, rev)] = true
		}
	}
	gotIDs := map[string]bool{}
	for id := range harness.IDs(e.Sink.Events()) {
		gotIDs[id] = true
	}
	assert.Equal(t, wantIDs, gotIDs)
	_, err := os.Stat(e.StatePath)
	assert.NoError(t, err)
}

func TestAccounts_DaemonServesTheGoodAccountsAndReportsTheRefusedOne(t *testing.T) {
	e := accountsWorld(t)
	cfg := map[string]any{}
	for k, v := range threeAccounts {
		cfg[k] = v
	}
	d := startOpsDaemon(t, e, cfg)
	// The daemon catches up from day (--catch-up-from): both days of the good accounts.
	e.WaitDistinct(t, 36, d.log)
	e.Changed.Wait(t, "the refused account's refusal counted", d.log, func() bool {
		return harness.Value(d.scrape(t), "alicloud_billing_api_requests_total", map[string]string{"account": "broken", "outcome": "refused"}) > 0
	})
	code, body := d.get(t, "/readyz")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "account broken: InvalidAccessKeyId.NotFound")
	assert.NotContains(t, body, "account busy")
	m := d.scrape(t)
	for _, a := range []string{"busy", "shop"} {
		e.Changed.Wait(t, a+" recorded complete", d.log, func() bool {
			return harness.Value(d.scrape(t), "alicloud_billing_last_success_timestamp_seconds", map[string]string{"account": a, "bill": "account"}) > 0
		})
		assert.Equal(t, 18.0, harness.Value(m, "alicloud_billing_rows_fetched_total", map[string]string{"account": a, "bill": "account"}), a)
	}
	assert.Zero(t, harness.Value(m, "alicloud_billing_last_success_timestamp_seconds", map[string]string{"account": "broken", "bill": "account"}))
	assert.Positive(t, harness.Value(m, "alicloud_billing_api_requests_total", map[string]string{"account": "broken", "action": "QueryAccountBill", "outcome": "refused"}))
	assert.Positive(t, harness.Value(m, "alicloud_billing_days_pending", map[string]string{"account": "broken"}))
	// The sink holds an event before the connector has read its answer and counted it: the
	// counter reaches 36 by the time the days are logged done.
	e.Changed.Wait(t, "36 events counted delivered", d.log, func() bool {
		return harness.Value(d.scrape(t), "alicloud_billing_events_sent_total", map[string]string{"bill": "account", "outcome": "delivered"}) >= 36
	})
	assert.Equal(t, 36.0, harness.Value(d.scrape(t), "alicloud_billing_events_sent_total", map[string]string{"bill": "account", "outcome": "delivered"}))
}

// An account's state file of the release before (one file per account, schema 1, beside
// state_path) is imported into state_path on the first start that runs the account, said
// once in the log, and renamed aside.
func TestAccounts_AnEarlierReleasesAccountFileIsImportedOnFirstStart(t *testing.T) {
	e := accountsWorld(t)
	legacy := strings.TrimSuffix(e.StatePath, ".db") + ".shop.db"
	old, err := bolt.Open(legacy, 0o600, nil)
	require.NoError(t, err)
	since := e.Day.AddDays(-30).String()
	require.NoError(t, old.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("days")); err != nil {
			return err
		}
		if err := m.Put([]byte("since"), []byte(since)); err != nil {
			return err
		}
		return m.Put([]byte("schema"), []byte("1"))
	}))
	require.NoError(t, old.Close())

	for run := range 2 {
		r := e.Run(t, []string{"--config", e.Config(t, threeAccounts), "--once", "--date", e.Day.String(), "--account", "shop"})
		require.Equal(t, 0, r.Code, r.Stderr)
		assert.Equal(t, 1-run, strings.Count(r.Stderr, `"msg":"state: imported an earlier release's state file of an account","account":"shop","from":"`+legacy+`"`), r.Stderr)
	}
	assert.NoFileExists(t, legacy)
	assert.FileExists(t, legacy+".imported")
	st, err := state.Open(e.StatePath, true)
	require.NoError(t, err)
	defer st.Close()
	got, ok, err := st.DB().Account("shop").Since()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, since, got.String(), "the account's state came along")
}
