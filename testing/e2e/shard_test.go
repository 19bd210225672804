package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

const (
	shardAccounts = 30
	shardRows     = 3 // per account and day
)

// shardWorld is one fake BSS API serving 30 accounts, each with keys of its own (30 callers),
// and shardRows rows on each of two days; the config lists them as accounts.
func shardWorld(t *testing.T, days ...string) (*harness.Env, []map[string]any) {
	e := harness.New(t)
	var more []bssfake.Account
	var entries []map[string]any
	for i := range shardAccounts {
		id, key, secret := fmt.Sprint(4000000000000000+i), fmt.Sprintf("LTAI5tShardKey%04d", i), fmt.Sprintf("shard-Secret-Never-Printed-%02d", i)
		more = append(more, bssfake.Account{ID: id, Name: fmt.Sprintf("acct%02d@example.com", i), Keys: map[string]string{key: secret}})
		entries = append(entries, map[string]any{"name": fmt.Sprintf("acct-%02d", i), "access_key_id": key, "secret_access_Key": secret})
		e.NeverPrinted(secret)
	}
	api := bssfake.New(bssfake.Options{Keys: map[string]string{harness.KeyID: harness.Secret}, More: more})
	require.NoError(t, api.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = api.Close() })
	e.API = api
	for i, a := range more {
		for j, d := range days {
			api.SetAccountDay(a.ID, d, bssfake.SampleDay(d, shardRows, uint64(100*i+j)))
		}
	}
	return e, entries
}

// shardProc is one connector daemon, in this process (cli.Main, the production wiring)
// with its own application, state and fake clock: shard K of N.
type shardProc struct {
	shard   string
	log     *harness.Buffer
	shut    fx.Shutdowner
	metrics *ops.Metrics
	done    chan int
}

// startShard starts the daemon of shard (K/N) at now, with the state under dir.
func startShard(t *testing.T, e *harness.Env, entries []map[string]any, shard, dir string, now time.Time, args ...string) *shardProc {
	t.Helper()
	p := &shardProc{shard: shard, log: e.Log(), done: make(chan int, 1)}
	cfg := e.Config(t, map[string]any{"accounts": entries, "state_path": e.Dir + "/" + dir + "/state.db"})
	fc := clockwork.NewFakeClockAt(now)
	go func() {
		p.done <- cli.Main(append([]string{"--config", cfg, "--shard", shard}, args...),
			cli.IO{Stdout: e.Log(), Stderr: p.log, Lookup: func(string) (string, bool) { return "", false }},
			fx.Decorate(func(clock.Clock) clock.Clock { return fc }), fx.Populate(&p.shut, &p.metrics))
		e.Changed.Notify()
	}()
	return p
}

var shardLine = regexp.MustCompile(`"msg":"running the accounts of this shard","shard":"([0-9/]+)","accounts":(\d+),"configured":(\d+)`)

// waitRound waits until the daemon has run every account it owns and is waiting for the
// next pull (each account's scheduler says so once its due days are done and recorded).
func (p *shardProc) waitRound(t *testing.T, e *harness.Env) int {
	t.Helper()
	n := -1
	e.Changed.Wait(t, "shard "+p.shard+" to finish its first round", p.log, func() bool {
		if len(p.done) > 0 {
			require.FailNow(t, "shard "+p.shard+" exited", harness.Tail(p.log.String(), 3000))
		}
		s := p.log.String()
		m := shardLine.FindStringSubmatch(s)
		if m == nil {
			return false
		}
		require.Equal(t, p.shard, m[1])
		require.Equal(t, strconv.Itoa(shardAccounts), m[3])
		n, _ = strconv.Atoi(m[2])
		return strings.Count(s, `"msg":"waiting for the next pull"`) >= n
	})
	assert.NotContains(t, p.log.String(), `"level":"ERROR"`)
	return n
}

func (p *shardProc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.shut.Shutdown())
	assert.Equal(t, 0, <-p.done, "shard %s: %s", p.shard, harness.Tail(p.log.String(), 2000))
}

// ran is the accounts whose rows this daemon fetched.
func (p *shardProc) ran(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for i := range shardAccounts {
		name := fmt.Sprintf("acct-%02d", i)
		if (harness.Result{Metrics: p.metrics}).Metric(t, "alicloud_billing_rows_fetched_total", map[string]string{"account": name}) > 0 {
			out[name] = true
		}
	}
	return out
}

// shardEvents are the sink's events of one day, by account; each event's data is the
// account's row of the day.
func shardEvents(t *testing.T, got []sink.Received, day string) map[string][]sink.Received {
	t.Helper()
	out := map[string][]sink.Received{}
	for _, r := range got {
		a, err := r.Event.Context.GetExtension(job.AccountExtension)
		require.NoError(t, err)
		if strings.HasPrefix(r.Event.Subject(), a.(string)+"/"+day+"/") {
			out[a.(string)] = append(out[a.(string)], r)
		}
	}
	return out
}

// layout runs n daemons (shard K of n on the state in directory shardK) at the time at
// with args until each has done its first round, and stops them. It returns the shard
// that fetched rows of each account (checking that no account was fetched by two) and
// the shard that took each account over (its log said so).
func layout(t *testing.T, e *harness.Env, entries []map[string]any, n int, at time.Time, args ...string) (fetched, took map[string]int) {
	t.Helper()
	fetched, took = map[string]int{}, map[string]int{}
	procs := make([]*shardProc, n)
	for k := range procs {
		procs[k] = startShard(t, e, entries, fmt.Sprintf("%d/%d", k, n), fmt.Sprintf("shard%d", k), at, args...)
	}
	total := 0
	for k, p := range procs {
		total += p.waitRound(t, e)
		for a := range p.ran(t) {
			_, dup := fetched[a]
			assert.False(t, dup, "%s fetched by two shards", a)
			fetched[a] = k
		}
		for _, m := range tookOver.FindAllStringSubmatch(p.log.String(), -1) {
			_, dup := took[m[1]]
			assert.False(t, dup, "%s taken over twice", m[1])
			took[m[1]] = k
		}
		p.stop(t)
	}
	assert.Equal(t, shardAccounts, total, "each account in one shard")
	return fetched, took
}

var tookOver = regexp.MustCompile(`"msg":"taking the account over","account":"([a-z0-9-]+)"`)

// Three daemons (shards 0/3, 1/3, 2/3) over 30 accounts, one fake API, one sink: every row
// once in total, each account by one daemon. Then two (0/2 and 1/2, each on the state it
// had): the next day once; the accounts of the removed shard are taken over by their new
// owners from that day, and no row the removed shard delivered is sent again under another
// id (the new owner has not its state: a re-read would give unchanged rows new revisions,
// so new ids).
func TestShards_ThreeThenTwoDeliverEveryRowOnceAndMoveOnlyTheRemovedShardsAccounts(t *testing.T) {
	threeThenTwo(t, time.Date(2026, 11, 12, 3, 0, 0, 0, mustZone(t, "Asia/Shanghai")), "2026-11-11")
}

// The two start three days later: the days missed are caught up, for the moved accounts
// too (from the day after the newest day the new owner had delivered for its own), and
// still nothing the removed shard delivered is sent again.
func TestShards_AfterDowntimeTheMovedAccountsAreCaughtUpWithTheOthers(t *testing.T) {
	threeThenTwo(t, time.Date(2026, 11, 14, 3, 0, 0, 0, mustZone(t, "Asia/Shanghai")), "2026-11-11", "2026-11-12", "2026-11-13")
}

// The two start on the same day, after the pull: the moved accounts' yesterday was
// delivered by the removed shard, and its new owner does not read it again (it would send
// the rows under new ids).
func TestShards_ALayoutChangeAfterThePullSendsNothingAgain(t *testing.T) {
	threeThenTwo(t, time.Date(2026, 11, 11, 9, 0, 0, 0, mustZone(t, "Asia/Shanghai")))
}

// threeThenTwo delivers 2026-11-10 on three shards (a first start at 03:00 on the 11th,
// backfilling the 10th), then runs two shards at then, which must deliver the days next,
// once each, for every account.
func threeThenTwo(t *testing.T, then time.Time, next ...string) {
	d1 := "2026-11-10"
	e, entries := shardWorld(t, append([]string{d1}, next...)...)
	owner, _ := layout(t, e, entries, 3, time.Date(2026, 11, 11, 3, 0, 0, 0, mustZone(t, "Asia/Shanghai")), "--catch-up-from", d1)
	require.Len(t, owner, shardAccounts, "every account fetched by a shard")
	first := e.Sink.Events()
	require.Equal(t, shardAccounts*shardRows, len(first), "every row once")
	require.Len(t, harness.IDs(first), shardAccounts*shardRows, "each id once")
	for a, evs := range shardEvents(t, first, d1) {
		assert.Len(t, evs, shardRows, a)
	}

	// Two shards, each on the state it had (shard 2's state is not reachable).
	fetched, took := layout(t, e, entries, 2, then)
	for a, k := range owner {
		if k == 2 {
			assert.Contains(t, took, a, "%s of the removed shard taken over", a)
			continue
		}
		assert.NotContains(t, took, a, "%s stayed: not taken over", a)
		if len(next) > 0 {
			assert.Equal(t, k, fetched[a], "%s moved between two shards that exist before and after", a)
		}
	}
	for a, k := range took {
		if len(next) > 0 {
			assert.Equal(t, k, fetched[a], "%s: its days read by the shard that took it over", a)
		} else {
			assert.NotContains(t, fetched, a, "%s: no day read again", a)
		}
	}
	requireNextDaysOnce(t, e, first, d1, next)
}

// requireNextDaysOnce checks that the sink holds, beside first (day d1's events), every
// row of each day of next once, of every account, and nothing of d1 again.
func requireNextDaysOnce(t *testing.T, e *harness.Env, first []sink.Received, d1 string, next []string) {
	t.Helper()
	all := e.Sink.Events()
	require.Equal(t, (1+len(next))*shardAccounts*shardRows, len(all), "the days next once, nothing of the first again")
	for id, n := range harness.IDs(all) {
		assert.Equal(t, 1, n, "id %s sent %d times", id, n)
	}
	for _, d := range next {
		day := shardEvents(t, all, d)
		assert.Len(t, day, shardAccounts, "%s of every account, the moved ones by their new owners", d)
		for a, evs := range day {
			assert.Len(t, evs, shardRows, "%s %s", d, a)
		}
	}
	// The first day's events are the first day's only: same ids, no other copy.
	assert.Equal(t, harness.IDs(first), harness.IDs(eventsOf(all, d1)))
}

// Two shards, then a third added after the day's pull: the new shard knows no account,
// cannot tell how far the others got, and takes its accounts over from the next pull (it
// does not read yesterday again under new ids). Only accounts that go to it move. At the
// next pull every account's day is delivered once, those of the new shard by it.
func TestShards_AShardAddedAfterThePullTakesItsAccountsOverFromTheNextPull(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	d1, d2 := "2026-11-10", "2026-11-11"
	e, entries := shardWorld(t, d1, d2)
	before, _ := layout(t, e, entries, 2, time.Date(2026, 11, 11, 3, 0, 0, 0, sh), "--catch-up-from", d1)
	require.Len(t, before, shardAccounts)
	require.Equal(t, shardAccounts*shardRows, e.Sink.Len())

	fetched, took := layout(t, e, entries, 3, time.Date(2026, 11, 11, 9, 0, 0, 0, sh))
	assert.Empty(t, fetched, "no day read again")
	assert.Equal(t, shardAccounts*shardRows, e.Sink.Len(), "nothing sent again")
	require.NotEmpty(t, took, "the new shard's accounts")
	for a, k := range took {
		assert.Equal(t, 2, k, "%s: only the new shard takes accounts over", a)
	}

	after, took := layout(t, e, entries, 3, time.Date(2026, 11, 12, 3, 0, 0, 0, sh))
	assert.Empty(t, took)
	require.Len(t, after, shardAccounts, "every account's next day")
	moved := 0
	for a, k := range after {
		if k != before[a] {
			moved++
			assert.Equal(t, 2, k, "%s moved between two shards that exist before and after", a)
		}
	}
	assert.Positive(t, moved)
	all := e.Sink.Events()
	require.Equal(t, 2*shardAccounts*shardRows, len(all), "the next day once")
	assert.Len(t, harness.IDs(all), 2*shardAccounts*shardRows, "each id once")
	assert.Len(t, shardEvents(t, all, d2), shardAccounts)
}

// count is how many accounts owner gives shard k.
func count(owner map[string]int, k int) int {
	n := 0
	for _, o := range owner {
		if o == k {
			n++
		}
	}
	return n
}

// eventsOf are the events of the received whose subject names day.
func eventsOf(rs []sink.Received, day string) []sink.Received {
	var out []sink.Received
	for _, r := range rs {
		if strings.Contains(r.Event.Subject(), "/"+day+"/") {
			out = append(out, r)
		}
	}
	return out
}

// --check with --shard probes only the shard's accounts and says how many of all they are;
// --account naming an account of another shard is refused, naming its shard.
func TestShards_CheckProbesTheShardsAccountsAndAnOtherShardsAccountIsRefused(t *testing.T) {
	e, entries := shardWorld(t, "2026-11-10")
	cfg := e.Config(t, map[string]any{"accounts": entries})
	r := e.Run(t, []string{"--check", "--config", cfg, "--shard", "1/3"})
	require.Equal(t, 0, r.Code, "stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	m := regexp.MustCompile(`\n +shard +1/3: (\d+) of 30 accounts \(the accounts below\)\n`).FindStringSubmatch(r.Stdout)
	require.NotNil(t, m, r.Stdout)
	n, _ := strconv.Atoi(m[1])
	assert.Positive(t, n)
	assert.Equal(t, n, strings.Count(r.Stdout, "OK    api acct-"), "one probe per account of the shard:\n%s", r.Stdout)
	assert.Len(t, e.API.Requests(), n, "one signed call per account of the shard")

	mine := regexp.MustCompile(`OK +api (acct-\d+)`).FindStringSubmatch(r.Stdout)
	require.NotNil(t, mine)
	r = e.Run(t, []string{"--once", "--date", "2026-11-10", "--config", cfg, "--shard", "0/3", "--account", mine[1]})
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, `--account "`+mine[1]+`" is an account of shard 1/3, not of this process's shard 0/3`)
	assert.Zero(t, e.Sink.Len())
}

// Why a new owner does not read again the days the old one delivered: the ids of a day
// read by a process without the account's state are new (same content, a higher revision
// from this pull's clock), so receivers and brokers that drop repeated ids would not drop
// them. The rule that gives old content after a lost state a new id (revision_test.go) is
// the same rule: the two cases look alike to a process without the state.
func TestShards_ADayReadAgainWithoutTheAccountsStateHasNewIDs(t *testing.T) {
	_, first, again, _ := movedReadAgain(t, false)
	bySubject := map[string]sink.Received{}
	for _, r := range first {
		bySubject[r.Event.Subject()] = r
	}
	for _, r := range again {
		old := bySubject[r.Event.Subject()]
		assert.Equal(t, string(old.Event.Data()), string(r.Event.Data()), "the same content")
		assert.NotEqual(t, old.Event.ID(), r.Event.ID(), "a new id")
		oldRev, err := harness.Revision(old.Event)
		require.NoError(t, err)
		rev, err := harness.Revision(r.Event)
		require.NoError(t, err)
		assert.Greater(t, rev, oldRev)
	}
}

// movedReadAgain delivers 2026-11-10 on three shards, then has the new owner under N = 2
// of an account of the removed shard read that day again for it (--from/--to, --account;
// withState: --import-state on the removed shard's file): the account, its events of the
// first delivery and of the re-read, and the re-read's log.
func movedReadAgain(t *testing.T, withState bool) (moved string, first, again []sink.Received, stderr string) {
	t.Helper()
	sh := mustZone(t, "Asia/Shanghai")
	d1 := "2026-11-10"
	e, entries := shardWorld(t, d1)
	owner, _ := layout(t, e, entries, 3, time.Date(2026, 11, 11, 3, 0, 0, 0, sh), "--catch-up-from", d1)
	for a, k := range owner {
		if k == 2 {
			moved = a
		}
	}
	require.NotEmpty(t, moved)
	first = shardEvents(t, e.Sink.Events(), d1)[moved]
	require.Len(t, first, shardRows)

	// Its new owner under N = 2, shard 0 or 1, on its own state, a day later.
	var args []string
	if withState {
		args = []string{"--import-state", e.Dir + "/shard2/state.db"}
	}
	k := -1
	for _, kk := range []int{0, 1} {
		r := e.Run(t, append([]string{"--config", e.Config(t, map[string]any{"accounts": entries, "state_path": fmt.Sprintf("%s/shard%d/state.db", e.Dir, kk)}),
			"--shard", fmt.Sprintf("%d/2", kk), "--from", d1, "--to", d1, "--account", moved}, args...),
			fx.Decorate(func(clock.Clock) clock.Clock {
				return clockwork.NewFakeClockAt(time.Date(2026, 11, 12, 3, 0, 0, 0, sh))
			}))
		if r.Code == 0 {
			k, stderr = kk, r.Stderr
		}
	}
	require.GreaterOrEqual(t, k, 0, "one of the two owns %s", moved)
	again = shardEvents(t, e.Sink.Events(), d1)[moved][shardRows:]
	require.Len(t, again, shardRows)
	return moved, first, again, stderr
}

// More shards than callers: a shard that owns no account idles until stopped (exit 0), it
// does not exit into a restart loop.
func TestShards_AShardWithNoAccountIdles(t *testing.T) {
	e, entries := shardWorld(t, "2026-11-10")
	idle := -1
	for k := range 2 {
		p := startShard(t, e, entries[:1], fmt.Sprintf("%d/2", k), fmt.Sprintf("idle%d", k), time.Date(2026, 11, 11, 3, 0, 0, 0, mustZone(t, "Asia/Shanghai")))
		e.Changed.Wait(t, "shard "+p.shard+" to start", p.log, func() bool {
			return strings.Contains(p.log.String(), `"msg":"no account is this shard's: idle until stopped"`) ||
				strings.Contains(p.log.String(), `"msg":"waiting for the next pull"`) || len(p.done) > 0
		})
		require.Empty(t, p.done, "shard %s exited by itself", p.shard)
		if strings.Contains(p.log.String(), "idle until stopped") {
			idle = k
		}
		p.stop(t)
	}
	assert.GreaterOrEqual(t, idle, 0, "one of two shards of one account has none")
}
