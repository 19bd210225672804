// Package faults is the fault-injection suite of the delivery guarantees: the connector as
// in production (cli.Main, its fx modules, the state file, real HTTP on loopback) against
// bssfake and the recording sink, with faults on both sides, a fake clock for the daemon
// (no real waiting), and a real subprocess killed with SIGKILL at random points.
//
// Every case checks: the set of distinct rows at the sink equals the fake's rows, an id is
// never reused for other content (so duplicates carry the same id), revisions increase
// for changed content, and the state file is consistent.
package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

const (
	keyID  = "LTAI5tFaults"
	secret = "faults-secret-value"
)

var sh, _ = time.LoadLocation("Asia/Shanghai")

type env = harness.Env

func newEnv(t *testing.T) *env { return harness.NewEnv(t, keyID, secret) }

// daemon is the connector's daemon in this process, on a fake clock that a pump moves
// forward whenever everything that waits, waits on the clock.
type daemon struct {
	fc     *clockwork.FakeClock
	shut   fx.Shutdowner
	done   chan int
	stderr *harness.Buffer
	stop   context.CancelFunc
	pumped chan struct{}
}

func startDaemon(t *testing.T, e *env, at time.Time, step time.Duration, extra map[string]any, args ...string) *daemon {
	t.Helper()
	d := &daemon{fc: clockwork.NewFakeClockAt(at), done: make(chan int, 1), stderr: &harness.Buffer{}, pumped: make(chan struct{})}
	var out harness.Buffer
	cfg := e.Config(t, withDefaults(extra))
	go func() {
		d.done <- cli.Main(append([]string{"--config", cfg}, args...),
			cli.IO{Stdout: &out, Stderr: d.stderr, Lookup: func(string) (string, bool) { return "", false }},
			fx.Decorate(func(clock.Clock) clock.Clock { return d.fc }),
			fx.Populate(&d.shut))
	}()
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	go func() { // the pump
		defer close(d.pumped)
		for ctx.Err() == nil {
			if d.fc.BlockUntilContext(ctx, 1) != nil {
				return
			}
			d.fc.Advance(step)
		}
	}()
	return d
}

// withDefaults is the suite's config: fewer sends in flight than the default, so that
// faults hit the middle of a day.
func withDefaults(extra map[string]any) map[string]any {
	c := map[string]any{"send_concurrency": 8}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// until waits (real time, bounded) for cond while the pump moves the fake clock.
func (d *daemon) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		require.False(t, time.Now().After(deadline), "timed out waiting for %s; log:\n%s", what, harness.Tail(d.stderr.String(), 3000))
		time.Sleep(2 * time.Millisecond)
	}
}

func (d *daemon) shutdown(t *testing.T) {
	t.Helper()
	d.stop()
	<-d.pumped
	require.NotNil(t, d.shut)
	require.NoError(t, d.shut.Shutdown())
	select {
	case code := <-d.done:
		assert.Equal(t, 0, code, harness.Tail(d.stderr.String(), 3000))
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

// delivered is what the sink holds, per row subject.
type delivered struct {
	events     int
	distinct   int // distinct ids
	bySubject  map[string][]sink.Received
	duplicates int
}

// verify checks the guarantees for days and returns the counts for the report.
func verify(t *testing.T, e *env, days []billing.Day) delivered {
	t.Helper()
	got := e.Sink.Events()
	res := delivered{events: len(got), bySubject: map[string][]sink.Received{}}
	contentOf := map[string]string{} // id -> data
	for _, r := range got {
		require.NoError(t, sink.CheckSeedShape(r.Event))
		if c, ok := contentOf[r.Event.ID()]; ok {
			require.Equal(t, c, string(r.Event.Data()), "id %s reused for other content", r.Event.ID())
			res.duplicates++
			continue
		}
		contentOf[r.Event.ID()] = string(r.Event.Data())
		res.bySubject[r.Event.Subject()] = append(res.bySubject[r.Event.Subject()], r)
	}
	res.distinct = len(contentOf)
	// Per subject: revisions 1..n, each with other content, in the order they arrived.
	for subj, evs := range res.bySubject {
		for i, r := range evs {
			rev, err := revisionOf(r)
			require.NoError(t, err)
			assert.Equal(t, i+1, rev, "subject %s: revisions in order", subj)
			if i > 0 {
				assert.NotEqual(t, string(evs[i-1].Event.Data()), string(r.Event.Data()), "subject %s: a revision without a change", subj)
			}
		}
	}
	// The latest revision of every row the fake has, for every day, and nothing else.
	want := map[string]string{}
	for _, d := range days {
		for _, it := range e.API.Day(d.String()) {
			r := harness.RowOf(it)
			ev, err := job.NewEvent(r, job.Identity(r), 1, time.Now())
			require.NoError(t, err)
			want[ev.Subject()] = string(ev.Data())
		}
	}
	require.Equal(t, len(want), len(res.bySubject), "distinct rows at the sink")
	for subj, data := range want {
		evs := res.bySubject[subj]
		require.NotEmpty(t, evs, "row %s never arrived", subj)
		assert.JSONEq(t, data, string(evs[len(evs)-1].Event.Data()), "row %s: the latest content", subj)
	}
	return res
}

func revisionOf(r sink.Received) (int, error) {
	v, ok := r.Event.Extensions()[job.RevisionExtension]
	if !ok {
		return 0, fmt.Errorf("event %s has no revision", r.Event.ID())
	}
	switch n := v.(type) {
	case int32:
		return int(n), nil
	case int:
		return n, nil
	case string:
		var i int
		_, err := fmt.Sscan(n, &i)
		return i, err
	}
	return 0, fmt.Errorf("revision %T", v)
}

// checkState opens the state file (the connector has stopped) and checks it.
func checkState(t *testing.T, e *env, complete []billing.Day) {
	t.Helper()
	st, err := state.Open(e.StatePath, true)
	require.NoError(t, err)
	require.NotNil(t, st)
	defer st.Close()
	require.NoError(t, st.Check())
	for _, d := range complete {
		info, err := st.DayInfo(d)
		require.NoError(t, err)
		assert.True(t, info.Complete, "%s complete in the state", d)
	}
}

// report prints the line of the closing note's table.
func report(t *testing.T, name string, e *env, res delivered, rows int) {
	t.Logf("FAULT %-44s rows %4d | sink requests %5d | events received %5d | distinct %5d | duplicates %3d",
		name, rows, e.Sink.Attempts(), res.events, res.distinct, res.duplicates)
}

func nov(d int) billing.Day { return billing.Day{Year: 2026, Month: time.November, Day: d} }

// A daemon started at 01:50 (Shanghai) on Nov 5 pulls Nov 4 at 02:00 under each API and
// sink fault and rides it out.
func TestFaults_DaemonRidesOutAPIAndSinkFaults(t *testing.T) {
	cases := []struct {
		name   string
		inject func(e *env)
	}{
		{"API throttling burst (8x Throttling.User)", func(e *env) { e.API.Inject(bssfake.Fault{Kind: bssfake.Throttle, Times: 8}) }},
		{"API 5xx (3x 503, 2x 500)", func(e *env) {
			e.API.Inject(bssfake.Fault{Kind: bssfake.ServerError, Status: 503, Times: 3, Page: 2})
			e.API.Inject(bssfake.Fault{Kind: bssfake.ServerError, Status: 500, Times: 2})
		}},
		{"API malformed JSON (3x)", func(e *env) { e.API.Inject(bssfake.Fault{Kind: bssfake.Malformed, Times: 3, Page: 2}) }},
		{"API Success=false mid-pagination", func(e *env) { e.API.Inject(bssfake.Fault{Kind: bssfake.SuccessFalse, Times: 2, Page: 2}) }},
		{"API TotalCount changing between pages", func(e *env) { e.API.Inject(bssfake.Fault{Kind: bssfake.WrongTotal, Delta: 7, Page: 2}) }},
		{"API empty page before TotalCount", func(e *env) { e.API.Inject(bssfake.Fault{Kind: bssfake.EmptyPage, Page: 2}) }},
		{"API down for the whole retry budget (20x 503)", func(e *env) { e.API.Inject(bssfake.Fault{Kind: bssfake.ServerError, Status: 503, Times: 20}) }},
		{"sink 503 (200x)", func(e *env) { e.Sink.FailNext(200, 503) }},
		{"sink 429 (200x)", func(e *env) { e.Sink.FailNext(200, 429) }},
		{"sink timeouts (slower than the send timeout)", func(e *env) {
			e.Sink.SetDelay(40 * time.Second) // longer than the sender's 30 s timeout: in real time
			go func() { time.Sleep(1500 * time.Millisecond); e.Sink.SetDelay(0) }()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.API.SetDay(nov(4).String(), bssfake.SampleDay(nov(4).String(), 420, 4))
			tc.inject(e)
			d := startDaemon(t, e, time.Date(2026, 11, 5, 1, 50, 0, 0, sh), 10*time.Second, nil)
			d.until(t, "every row at the sink", func() bool { return len(harness.IDs(e.Sink.Events())) >= 420 })
			d.until(t, "the day recorded done", func() bool { return strings.Contains(d.stderr.String(), `"msg":"day done","day":"2026-11-04"`) })
			d.shutdown(t)
			res := verify(t, e, []billing.Day{nov(4)})
			checkState(t, e, []billing.Day{nov(4)})
			report(t, tc.name, e, res, 420)
		})
	}
}

// The receiver is down for a simulated day: the day stays not done, the daemon retries on a
// capped backoff (no tight loop), logs each failed attempt once with the count pending,
// and delivers everything when the receiver is back.
func TestFaults_ReceiverDownForADay(t *testing.T) {
	e := newEnv(t)
	e.API.SetDay(nov(4).String(), bssfake.SampleDay(nov(4).String(), 60, 5))
	e.Sink.FailNext(1<<30, 503)
	start := time.Date(2026, 11, 5, 1, 59, 0, 0, sh)
	// Small clock steps: every step lets all waiting retries fire, so big steps would
	// inflate how long one attempt takes in simulated time.
	d := startDaemon(t, e, start, time.Second, nil)
	d.until(t, "a simulated day of outage", func() bool { return d.fc.Now().Sub(start) > 24*time.Hour })
	failedRuns := strings.Count(d.stderr.String(), `"msg":"day failed"`)
	assert.GreaterOrEqual(t, failedRuns, 10, "retried through the day, not only at the next pull_hour")
	assert.LessOrEqual(t, failedRuns, 45, "capped backoff: no tight loop")
	assert.Contains(t, d.stderr.String(), `"pending":60`)
	assert.Zero(t, e.Sink.Len())
	attemptsDown := e.Sink.Attempts()

	e.Sink.FailNext(0, 0) // the receiver is back
	d.until(t, "every row after the outage", func() bool { return len(harness.IDs(e.Sink.Events())) >= 60 })
	d.until(t, "the day recorded done", func() bool { return strings.Contains(d.stderr.String(), `"msg":"day done","day":"2026-11-04"`) })
	d.shutdown(t)
	res := verify(t, e, []billing.Day{nov(4)})
	checkState(t, e, []billing.Day{nov(4)})
	t.Logf("receiver down for %s of simulated time: %d day attempts, %d sink requests refused", 24*time.Hour, failedRuns, attemptsDown)
	report(t, "sink down for a simulated day", e, res, 60)
}

// Days missed while down are pulled, oldest first, when the daemon comes back, and a row
// corrected after delivery (inside the settle window) is sent again as revision 2 while
// unchanged rows are not sent again.
func TestFaults_MissedDaysAndALateCorrection(t *testing.T) {
	e := newEnv(t)
	for d := 4; d <= 8; d++ {
		e.API.SetDay(nov(d).String(), bssfake.SampleDay(nov(d).String(), 30+d, uint64(d)))
	}
	// First life: started Nov 5 01:50; pulls Nov 4, then Nov 5 on Nov 6; stopped.
	d := startDaemon(t, e, time.Date(2026, 11, 5, 1, 50, 0, 0, sh), time.Minute, nil)
	d.until(t, "Nov 5 done", func() bool { return strings.Contains(d.stderr.String(), `"msg":"day done","day":"2026-11-05"`) })
	d.shutdown(t)

	// Down until Nov 8 09:00. Meanwhile one row of Nov 5 was corrected.
	items := e.API.Day(nov(5).String())
	items[3].PaymentAmount += 10
	items[3].CashAmount += 10
	e.API.SetDay(nov(5).String(), items)

	d = startDaemon(t, e, time.Date(2026, 11, 8, 9, 0, 0, 0, sh), time.Minute, nil)
	d.until(t, "Nov 6, 7 caught up", func() bool { return strings.Contains(d.stderr.String(), `"msg":"day done","day":"2026-11-07"`) })
	assert.Equal(t, []string{"2026-11-06", "2026-11-07"}, doneOrder(d.stderr.String()), "oldest first, right at start")
	// Nov 9 02:00: Nov 8, and Nov 5..7 again (settle_days 3): the correction is found.
	d.until(t, "Nov 8 done", func() bool { return strings.Contains(d.stderr.String(), `"msg":"day done","day":"2026-11-08"`) })
	d.shutdown(t)
	assert.Contains(t, d.stderr.String(), `"day":"2026-11-05","fetched":35,"new":0,"changed":1,"unchanged":34`)
	assert.Contains(t, d.stderr.String(), `"day":"2026-11-06","fetched":36,"new":0,"changed":0,"unchanged":36,"delivered":0`)

	days := []billing.Day{nov(4), nov(5), nov(6), nov(7), nov(8)}
	res := verify(t, e, days)
	var revised int
	for _, evs := range res.bySubject {
		if len(evs) > 1 {
			revised++
			assert.Equal(t, evs[0].Event.Subject(), evs[1].Event.Subject())
			assert.NotEqual(t, evs[0].Event.ID(), evs[1].Event.ID())
		}
	}
	assert.Equal(t, 1, revised, "exactly the corrected row has a second revision")
	checkState(t, e, days)
	total := 0
	for _, dd := range days {
		total += len(e.API.Day(dd.String()))
	}
	report(t, "days missed while down + a late correction", e, res, total)
}

func doneOrder(log string) []string {
	var order []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"msg":"day done"`) {
			var v struct{ Day string }
			_ = json.Unmarshal([]byte(l), &v)
			order = append(order, v.Day)
		}
	}
	return order
}
