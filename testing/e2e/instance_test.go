package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

var bothBills = map[string]any{"bills": []string{"account", "instance"}}

func instanceKey(m map[string]any) string {
	return strings.Join([]string{m["InstanceID"].(string), m["BillingItemCode"].(string), m["SubscriptionType"].(string)}, "/")
}

// expectTags reads the API's tag string as its documentation describes it, for comparing
// (written here independently of the connector's parser).
func expectTags(tag string) map[string]any {
	out := map[string]any{}
	for _, pair := range strings.Split(tag, ";") {
		k, v, _ := strings.Cut(pair, ":")
		if k, v = strings.TrimSpace(k), strings.TrimSpace(v); k != "" || v != "" {
			out[k] = v
		}
	}
	return out
}

// requireInstanceDayDelivered checks that the instance events in got are one per fake row,
// in the instance event's shape, holding every member of the API's item with its value,
// and its tags.
func requireInstanceDayDelivered(t *testing.T, e *harness.Env, day string, got []sink.Received) {
	t.Helper()
	want := map[string]map[string]any{}
	for _, it := range e.API.InstanceDay(day) {
		b, _ := json.Marshal(it)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		want[instanceKey(m)] = m
	}
	var instance []sink.Received
	for _, r := range got {
		if r.Event.Type() == sink.InstanceType {
			instance = append(instance, r)
		}
	}
	require.Len(t, harness.IDs(instance), len(want), "one event per instance row")
	for _, r := range instance {
		require.NoError(t, sink.CheckInstanceShape(r.Event))
		d, err := sink.Data(r.Event)
		require.NoError(t, err)
		tags := d["Tags"]
		delete(d, "VanceSource")
		delete(d, "VanceType")
		delete(d, "Tags")
		row, ok := want[instanceKey(d)]
		require.True(t, ok, "an event for a row the API never had: %s", r.Event.Data())
		assert.Equal(t, row, d, "every member of the API's item, with its value")
		assert.Equal(t, expectTags(row["Tag"].(string)), tags)
		assert.True(t, strings.HasPrefix(r.Event.Subject(), day+"/"), r.Event.Subject())
	}
}

// Both bills of a day, end to end: the account bill by pages, the instance bill by
// NextToken (700 rows, three pages of at most 300), every row once, each in its shape.
func TestE2E_BothBillsOfADayArriveComplete(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 650, 42))
	e.API.SetInstanceDay(e.Day.String(), bssfake.SampleInstanceDay(e.Day.String(), 700, 42))
	r := e.Run(t, []string{"--config", e.Config(t, bothBills), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	var account []sink.Received
	for _, got := range e.Sink.Events() {
		if got.Event.Type() == "alicloud.account_billing.daily" {
			account = append(account, got)
		}
	}
	requireDayDelivered(t, e, e.Day.String(), account)
	requireInstanceDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	assert.Equal(t, 1350, e.Distinct())

	var instanceCalls []bssfake.Request
	for _, q := range e.API.Requests() {
		if q.Params.Get("Action") == "DescribeInstanceBill" {
			instanceCalls = append(instanceCalls, q)
		}
	}
	require.Len(t, instanceCalls, 3, "700 rows are 3 pages of at most 300")
	for i, q := range instanceCalls {
		assert.Equal(t, "DAILY", q.Params.Get("Granularity"))
		assert.Equal(t, e.Day.String(), q.Params.Get("BillingDate"))
		assert.Equal(t, "true", q.Params.Get("IsBillingItem"))
		assert.Equal(t, "300", q.Params.Get("MaxResults"))
		assert.Equal(t, i == 0, q.Params.Get("NextToken") == "", "only the first call has no NextToken")
	}
	assert.Contains(t, r.Stderr, `"bills":["account","instance"],"fetched":1350,"new":1350`)
}

// The instance bill alone, run twice: the same ids; a row whose amount changed gets a new
// id and a higher revision, the others keep theirs.
func TestE2E_InstanceRowsKeepTheirIDsAndACorrectionIsAHigherRevision(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleInstanceDay(e.Day.String(), 40, 3)
	e.API.SetInstanceDay(e.Day.String(), items)
	cfg := e.Config(t, map[string]any{"bills": []string{"instance"}})
	args := []string{"--config", cfg, "--once", "--date", e.Day.String()}
	require.Equal(t, 0, e.Run(t, args).Code)
	first := e.Sink.Events()
	for _, got := range first {
		assert.Equal(t, sink.InstanceType, got.Event.Type(), "only the instance bill is configured")
	}
	e.Sink.Reset()
	items[7].PretaxAmount += 1.5
	e.API.SetInstanceDay(e.Day.String(), items)
	require.Equal(t, 0, e.Run(t, args).Code)
	second := e.Sink.Events()
	require.Len(t, second, 40)
	byID := map[string]bool{}
	firstRev := map[string]int{} // subject -> revision
	for _, got := range first {
		byID[got.Event.ID()] = true
		rev, err := harness.Revision(got.Event)
		require.NoError(t, err)
		firstRev[got.Event.Subject()] = rev
	}
	changed := 0
	for _, got := range second {
		rev, err := harness.Revision(got.Event)
		require.NoError(t, err)
		if byID[got.Event.ID()] {
			assert.Equal(t, firstRev[got.Event.Subject()], rev, "unchanged: the same revision")
			continue
		}
		changed++
		assert.Greater(t, rev, firstRev[got.Event.Subject()])
		d, _ := sink.Data(got.Event)
		assert.Equal(t, items[7].InstanceID, d["InstanceID"])
	}
	assert.Equal(t, 1, changed)
}

// A NextToken the API refuses mid-day (expired): the instance bill is read again from its
// start, and each row arrives under one id (the rows of the first read again with theirs).
func TestE2E_AnExpiredNextTokenReadsTheBillAgainAndLosesNothing(t *testing.T) {
	e := harness.New(t)
	e.API.SetInstanceDay(e.Day.String(), bssfake.SampleInstanceDay(e.Day.String(), 700, 5))
	e.API.Inject(bssfake.Fault{Kind: bssfake.ExpireToken, Page: 2})
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"bills": []string{"instance"}}), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "reading the instance bill again from its start")
	requireInstanceDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	assert.Contains(t, r.Stderr, `"fetched":700`)
}

// An API whose NextToken does not advance: the day fails naming it; no row twice.
func TestE2E_AStuckNextTokenFailsTheDay(t *testing.T) {
	e := harness.New(t)
	e.API.SetInstanceDay(e.Day.String(), bssfake.SampleInstanceDay(e.Day.String(), 700, 6))
	e.API.Inject(bssfake.Fault{Kind: bssfake.StuckToken, Times: 1000})
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"bills": []string{"instance"}}), "--once", "--date", e.Day.String()})
	assert.Equal(t, 1, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "the pages do not advance")
	assert.Equal(t, e.Sink.Len(), e.Distinct(), "no row twice")
}

// --dry-run counts both bills and sends nothing.
func TestE2E_DryRunCountsBothBills(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 20, 1))
	e.API.SetInstanceDay(e.Day.String(), bssfake.SampleInstanceDay(e.Day.String(), 30, 1))
	r := e.Run(t, []string{"--config", e.Config(t, bothBills), "--once", "--dry-run", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "50 new")
	assert.Zero(t, e.Sink.Attempts())
}

// An API that throttles: the connector halves its pace on each Throttling answer, retries
// the page at the slower pace, and the day arrives whole. The fake refuses every 4th
// request whatever the pace (a rate limit binds only on a machine fast enough to exceed
// it: under -race, 20 pages once came slower than 5 a second), so the throttling and the
// backing off happen on any machine.
func TestE2E_PacingBacksOffWhenTheAPIThrottles(t *testing.T) {
	e := harness.New(t)
	const every = 4
	api := bssfake.New(bssfake.Options{Keys: map[string]string{harness.KeyID: harness.Secret}, ThrottleEvery: every})
	require.NoError(t, api.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = api.Close() })
	api.SetInstanceDay(e.Day.String(), bssfake.SampleInstanceDay(e.Day.String(), 6000, 8)) // 20 pages
	cfg := e.Config(t, map[string]any{"endpoint": api.URL(), "bills": []string{"instance"}, "api_qps": 50})
	r := e.Run(t, []string{"--config", cfg, "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	var codes []string
	for _, q := range api.Requests() {
		codes = append(codes, q.Code)
	}
	// Every 4th request refused, each refused page asked for again: 20 pages in 26 requests.
	want := make([]string, 26)
	for i := every - 1; i < len(want); i += every {
		want[i] = "Throttling.User"
	}
	assert.Equal(t, want, codes)
	// Each refusal halves the pace: the retries' log lines say so, the first at half of
	// api_qps, and each slower than the one before (3 answers win back less than halving takes).
	var rates []float64
	for _, line := range strings.Split(r.Stderr, "\n") {
		var l struct {
			Msg, Code string
			Rate      float64
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Code == "Throttling.User" {
			require.Equal(t, "bill query failed, retrying", l.Msg)
			rates = append(rates, l.Rate)
		}
	}
	require.Len(t, rates, 6, r.Stderr)
	assert.InDelta(t, 25, rates[0], 1e-9, "50 requests/s halved")
	for i := 1; i < len(rates); i++ {
		assert.Less(t, rates[i], rates[i-1], "the pace after refusal %d: %v", i+1, rates)
	}
	assert.Equal(t, 6000, e.Distinct())
	assert.Equal(t, 6000, e.Sink.Len(), "nothing twice")
}
