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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

var sh, _ = time.LoadLocation("Asia/Shanghai")

// daemon is the connector's daemon in this process, on a fake clock that a pump moves
// forward whenever everything that waits, waits on the clock. Its runs' reports are
// collected through the scheduler's hook: the tests assert on them and on the sink, never
// on log text.
type daemon struct {
	e      *harness.Env
	fc     *clockwork.FakeClock
	shut   fx.Shutdowner
	done   chan int
	stderr *harness.Buffer
	stop   context.CancelFunc
	pumped chan struct{}

	mu      sync.Mutex
	reports []run
}

// run is one run of a day, as the scheduler reported it, at (fake) time At.
type run struct {
	job.Report
	Err error
	At  time.Time
}

func startDaemon(t *testing.T, e *harness.Env, at time.Time, step time.Duration, extra map[string]any, args []string, opts ...fx.Option) *daemon {
	t.Helper()
	d := &daemon{e: e, fc: clockwork.NewFakeClockAt(at), done: make(chan int, 1), stderr: e.Log(), pumped: make(chan struct{})}
	out := e.Log()
	cfg := e.Config(t, withDefaults(extra))
	go func() {
		d.done <- cli.Main(append([]string{"--config", cfg}, args...),
			cli.IO{Stdout: out, Stderr: d.stderr, Lookup: func(string) (string, bool) { return "", false }},
			append([]fx.Option{
				fx.Decorate(func(clock.Clock) clock.Clock { return d.fc }),
				fx.Invoke(func(us []*accounts.Unit) {
					for _, u := range us {
						u.Scheduler.OnRun(d.record)
					}
				}),
				fx.Populate(&d.shut),
			}, opts...)...)
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
			e.Changed.Notify()
		}
	}()
	return d
}

func (d *daemon) record(rep job.Report, err error) {
	d.mu.Lock()
	d.reports = append(d.reports, run{rep, err, d.fc.Now()})
	d.mu.Unlock()
	d.e.Changed.Notify()
}

// runs returns a copy of the reports so far.
func (d *daemon) runs() []run {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]run(nil), d.reports...)
}

// doneRun is the first successful run of day, if any.
func (d *daemon) doneRun(day calendar.Day) (run, bool) {
	for _, r := range d.runs() {
		if r.Day == day && r.Err == nil {
			return r, true
		}
	}
	return run{}, false
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

// until waits (real time, bounded) for cond while the pump moves the fake clock; cond is
// checked again on every event (a report, a log line, an event at the sink, a clock step).
func (d *daemon) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	d.e.Changed.Wait(t, what, d.stderr, cond)
}

// untilDone waits for a successful run of day.
func (d *daemon) untilDone(t *testing.T, day calendar.Day) {
	t.Helper()
	d.until(t, day.String()+" done", func() bool { _, ok := d.doneRun(day); return ok })
}

func (d *daemon) shutdown(t *testing.T) {
	t.Helper()
	d.stop()
	<-d.pumped
	require.NotNil(t, d.shut)
	require.NoError(t, d.shut.Shutdown())
	timeout := time.NewTimer(harness.Deadline)
	defer timeout.Stop()
	select {
	case code := <-d.done:
		assert.Equal(t, 0, code, harness.Tail(d.stderr.String(), 3000))
	case <-timeout.C:
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
func verify(t *testing.T, e *harness.Env, days []calendar.Day) delivered {
	t.Helper()
	got := e.Sink.Events()
	res := delivered{events: len(got), bySubject: map[string][]sink.Received{}}
	contentOf := map[string]string{} // id -> data
	for _, r := range got {
		if r.Event.Type() == sink.InstanceType {
			require.NoError(t, sink.CheckInstanceShape(r.Event))
		} else {
			require.NoError(t, sink.CheckSeedShape(r.Event))
		}
		if c, ok := contentOf[r.Event.ID()]; ok {
			require.Equal(t, c, string(r.Event.Data()), "id %s reused for other content", r.Event.ID())
			res.duplicates++
			continue
		}
		contentOf[r.Event.ID()] = string(r.Event.Data())
		res.bySubject[r.Event.Subject()] = append(res.bySubject[r.Event.Subject()], r)
	}
	res.distinct = len(contentOf)
	// Per subject: revisions that grow, each with other content, in the order they arrived.
	for subj, evs := range res.bySubject {
		prev := 0
		for i, r := range evs {
			rev, err := harness.Revision(r.Event)
			require.NoError(t, err)
			assert.Greater(t, rev, prev, "subject %s: revisions in order", subj)
			prev = rev
			if i > 0 {
				assert.NotEqual(t, string(evs[i-1].Event.Data()), string(r.Event.Data()), "subject %s: a revision without a change", subj)
			}
		}
	}
	// The latest revision of every row the fake has (both bills), for every day, and
	// nothing else.
	want := e.Want(t, days...)
	require.Equal(t, len(want), len(res.bySubject), "distinct rows at the sink")
	for subj, data := range want {
		evs := res.bySubject[subj]
		require.NotEmpty(t, evs, "row %s never arrived", subj)
		assert.JSONEq(t, data, string(evs[len(evs)-1].Event.Data()), "row %s: the latest content", subj)
	}
	return res
}

// checkState opens the state file (the connector has stopped) and checks it. No file is
// consistent when no day is expected complete (a connector stopped before it made one).
func checkState(t *testing.T, e *harness.Env, complete []calendar.Day) {
	t.Helper()
	st, err := state.Open(e.StatePath, true)
	require.NoError(t, err)
	if st == nil && len(complete) == 0 {
		return
	}
	require.NotNil(t, st)
	defer st.Close()
	require.NoError(t, st.Check())
	for _, d := range complete {
		bills := []bill.Kind{bill.Account}
		if len(e.API.InstanceDay(d.String())) > 0 {
			bills = append(bills, bill.Instance)
		}
		ok, err := st.Complete(d, bills...)
		require.NoError(t, err)
		assert.True(t, ok, "%s complete in the state (%v)", d, bills)
	}
}

// report prints the line of the closing note's table.
func report(t *testing.T, name string, e *harness.Env, res delivered, rows int) {
	t.Logf("FAULT %-44s rows %4d | sink requests %5d | events received %5d | distinct %5d | duplicates %3d",
		name, rows, e.Sink.Attempts(), res.events, res.distinct, res.duplicates)
}

// bothBills configures the account and the instance bill.
var bothBills = map[string]any{"bills": []string{"account", "instance"}}

func nov(d int) calendar.Day { return calendar.Day{Year: 2026, Month: time.November, Day: d} }

// A daemon started at 01:50 (Shanghai) on Nov 5 pulls Nov 4 at 02:00 under each API and
// sink fault and rides it out.
func TestFaults_DaemonRidesOutAPIAndSinkFaults(t *testing.T) {
	cases := []struct {
		name   string
		inject func(e *harness.Env)
		step   time.Duration // the fake clock's step (default 10 s)
		opts   []fx.Option
	}{
		{"API throttling burst (8x Throttling.User)", func(e *harness.Env) { e.API.Inject(bssfake.Fault{Kind: bssfake.Throttle, Times: 8}) }, 0, nil},
		{"API 5xx (3x 503, 2x 500)", func(e *harness.Env) {
			e.API.Inject(bssfake.Fault{Kind: bssfake.ServerError, Status: 503, Times: 3, Page: 2})
			e.API.Inject(bssfake.Fault{Kind: bssfake.ServerError, Status: 500, Times: 2})
		}, 0, nil},
		{"API malformed JSON (3x)", func(e *harness.Env) { e.API.Inject(bssfake.Fault{Kind: bssfake.Malformed, Times: 3, Page: 2}) }, 0, nil},
		{"API Success=false mid-pagination", func(e *harness.Env) { e.API.Inject(bssfake.Fault{Kind: bssfake.SuccessFalse, Times: 2, Page: 2}) }, 0, nil},
		{"API TotalCount changing between pages", func(e *harness.Env) { e.API.Inject(bssfake.Fault{Kind: bssfake.WrongTotal, Delta: 7, Page: 2}) }, 0, nil},
		{"API empty page before TotalCount", func(e *harness.Env) { e.API.Inject(bssfake.Fault{Kind: bssfake.EmptyPage, Page: 2}) }, 0, nil},
		{"API down for the whole retry budget (20x 503)", func(e *harness.Env) { e.API.Inject(bssfake.Fault{Kind: bssfake.ServerError, Status: 503, Times: 20}) }, 0, nil},
		// Fewer failures in a row than open the circuit breaker: per-event retries.
		{"sink 503 (20x)", func(e *harness.Env) { e.Sink.FailNext(20, 503) }, 0, nil},
		{"sink 429 (20x)", func(e *harness.Env) { e.Sink.FailNext(20, 429) }, 0, nil},
		// An outage: the breaker opens, probes, and sending resumes when the receiver is back.
		{"sink 503 for 2 simulated hours", func(e *harness.Env) { e.Sink.FailNext(1<<30, 503) }, 30 * time.Second, nil},
		// The instance bill's own faults (both bills run in every case).
		{"API NextToken expired mid-day (instance bill)", func(e *harness.Env) {
			e.API.Inject(bssfake.Fault{Kind: bssfake.ExpireToken, Page: 2, Action: bssfake.ActionDescribeInstanceBill})
		}, 0, nil},
		{"API throttling burst on the instance bill (8x)", func(e *harness.Env) {
			e.API.Inject(bssfake.Fault{Kind: bssfake.Throttle, Times: 8, Action: bssfake.ActionDescribeInstanceBill})
		}, 0, nil},
		{"API 5xx on the instance bill (3x 503)", func(e *harness.Env) {
			e.API.Inject(bssfake.Fault{Kind: bssfake.ServerError, Status: 503, Times: 3, Page: 2, Action: bssfake.ActionDescribeInstanceBill})
		}, 0, nil},
		{"sink timeouts (slower than the send timeout)", func(e *harness.Env) {
			e.Sink.SetDelay(40 * time.Second) // longer than the sender's timeout (1 s here): in real time
			// The receiver recovers after a while; whenever that is, every row must arrive.
			time.AfterFunc(1500*time.Millisecond, func() { e.Sink.SetDelay(0) })
		}, 0, []fx.Option{fx.Supply(&sender.Policy{Timeout: time.Second})}}, // a real-time HTTP timeout: short
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := harness.New(t)
			e.API.SetDay(nov(4).String(), bssfake.SampleDay(nov(4).String(), 420, 4))
			e.API.SetInstanceDay(nov(4).String(), bssfake.SampleInstanceDay(nov(4).String(), 420, 4))
			tc.inject(e)
			step := tc.step
			if step == 0 {
				step = 10 * time.Second
			}
			start := time.Date(2026, 11, 5, 1, 50, 0, 0, sh)
			d := startDaemon(t, e, start, step, bothBills, nil, tc.opts...)
			if strings.Contains(tc.name, "2 simulated hours") {
				d.until(t, "2 hours of outage", func() bool { return d.fc.Now().Sub(start) > 2*time.Hour })
				require.Zero(t, e.Sink.Len())
				assert.Less(t, e.Sink.Attempts(), 200, "the breaker stops hammering the receiver")
				e.Sink.FailNext(0, 0)
			}
			d.until(t, "every row at the sink", func() bool { return e.Distinct() >= 840 })
			d.untilDone(t, nov(4))
			d.shutdown(t)
			res := verify(t, e, []calendar.Day{nov(4)})
			checkState(t, e, []calendar.Day{nov(4)})
			report(t, tc.name, e, res, 840)
		})
	}
}

// The receiver is down for a simulated day: the day stays not done, the daemon retries on a
// capped backoff (no tight loop), logs each failed attempt once with the count pending,
// and delivers everything when the receiver is back.
func TestFaults_ReceiverDownForADay(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(nov(4).String(), bssfake.SampleDay(nov(4).String(), 60, 5))
	e.Sink.FailNext(1<<30, 503)
	start := time.Date(2026, 11, 5, 1, 59, 0, 0, sh)
	// Small clock steps: every step lets all waiting retries fire, so big steps would
	// inflate how long one attempt takes in simulated time.
	d := startDaemon(t, e, start, time.Second, nil, nil)
	d.until(t, "a simulated day of outage", func() bool { return d.fc.Now().Sub(start) > 24*time.Hour })
	failedRuns := 0
	for _, r := range d.runs() {
		require.Error(t, r.Err, "no run can succeed while the receiver is down")
		assert.Equal(t, 60, r.Failed, "every row reported pending")
		failedRuns++
	}
	assert.GreaterOrEqual(t, failedRuns, 10, "retried through the day, not only at the next pull_hour")
	assert.LessOrEqual(t, failedRuns, 60, "capped backoff: no tight loop")
	assert.Zero(t, e.Sink.Len())
	attemptsDown := e.Sink.Attempts()

	e.Sink.FailNext(0, 0) // the receiver is back
	d.until(t, "every row after the outage", func() bool { return e.Distinct() >= 60 })
	d.untilDone(t, nov(4))
	d.shutdown(t)
	res := verify(t, e, []calendar.Day{nov(4)})
	checkState(t, e, []calendar.Day{nov(4)})
	t.Logf("receiver down for %s of simulated time: %d day attempts, %d sink requests refused", 24*time.Hour, failedRuns, attemptsDown)
	report(t, "sink down for a simulated day", e, res, 60)
}

// Days missed while down are pulled, oldest first, when the daemon comes back, and a row
// corrected after delivery (inside the settle window) is sent again as a higher revision while
// unchanged rows are not sent again.
func TestFaults_MissedDaysAndALateCorrection(t *testing.T) {
	e := harness.New(t)
	for d := 4; d <= 8; d++ {
		e.API.SetDay(nov(d).String(), bssfake.SampleDay(nov(d).String(), 30+d, uint64(d)))
	}
	// First life: started Nov 5 01:50; pulls Nov 4, then Nov 5 on Nov 6; stopped.
	d := startDaemon(t, e, time.Date(2026, 11, 5, 1, 50, 0, 0, sh), time.Minute, nil, nil)
	d.untilDone(t, nov(5))
	d.shutdown(t)

	// Down until Nov 8 09:00. Meanwhile one row of Nov 5 was corrected.
	items := e.API.Day(nov(5).String())
	items[3].PaymentAmount, items[3].CashAmount = "10", "10" // a line paid by coupons (0 in cash), now 10 in cash
	e.API.SetDay(nov(5).String(), items)

	d = startDaemon(t, e, time.Date(2026, 11, 8, 9, 0, 0, 0, sh), time.Minute, nil, nil)
	d.untilDone(t, nov(7))
	var order []string
	for _, r := range d.runs() {
		order = append(order, r.Day.String())
	}
	assert.Equal(t, []string{"2026-11-06", "2026-11-07"}, order, "oldest first, right at start")
	// Nov 9 02:00: Nov 8, and Nov 5..7 again (settle_days 3): the correction is found.
	d.untilDone(t, nov(8))
	d.shutdown(t)
	var settled5, settled6 []job.Report
	nextPull := time.Date(2026, 11, 10, 2, 0, 0, 0, sh) // the pump may reach it before the shutdown
	for _, r := range d.runs() {
		if !r.At.Before(nextPull) {
			continue
		}
		require.NoError(t, r.Err)
		switch r.Day {
		case nov(5):
			settled5 = append(settled5, r.Report)
		case nov(6):
			settled6 = append(settled6, r.Report)
		}
	}
	require.Len(t, settled5, 1, "Nov 5 re-pulled once, in the settle window")
	assert.Equal(t, [4]int{35, 0, 1, 34}, [4]int{settled5[0].Fetched, settled5[0].New, settled5[0].Changed, settled5[0].Unchanged})
	assert.Equal(t, 1, settled5[0].Delivered, "only the corrected row is sent")
	require.Len(t, settled6, 2, "Nov 6 caught up, then re-pulled in the settle window")
	assert.Equal(t, [5]int{36, 0, 0, 36, 0}, [5]int{settled6[1].Fetched, settled6[1].New, settled6[1].Changed, settled6[1].Unchanged, settled6[1].Delivered})

	days := []calendar.Day{nov(4), nov(5), nov(6), nov(7), nov(8)}
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

// While the receiver refuses everything, a large day is reported failed within minutes
// (of simulated time), not after hours of per-event retries; the receiver sees a bounded
// number of requests (the circuit breaker), and the next due day is tried too instead of
// waiting behind the first. When the receiver is back, everything arrives.
func TestFaults_ReceiverOutageFailsDaysInMinutesAndStarvesNone(t *testing.T) {
	e := harness.New(t)
	for _, d := range []calendar.Day{nov(3), nov(4)} {
		e.API.SetDay(d.String(), bssfake.SampleDay(d.String(), 3000, uint64(d.Day)))
	}
	e.Sink.FailNext(1<<30, 503)
	start := time.Date(2026, 11, 5, 2, 0, 0, 0, sh)
	d := startDaemon(t, e, start, time.Second, nil, []string{"--catch-up-from", nov(3).String()})
	failedAt := func(day calendar.Day) (time.Time, bool) {
		for _, r := range d.runs() {
			if r.Day == day && r.Err != nil {
				return r.At, true
			}
		}
		return time.Time{}, false
	}
	d.until(t, "both days reported failed", func() bool {
		_, ok3 := failedAt(nov(3))
		_, ok4 := failedAt(nov(4))
		return ok3 && ok4
	})
	at3, _ := failedAt(nov(3))
	at4, _ := failedAt(nov(4))
	assert.Less(t, at3.Sub(start), 10*time.Minute, "a 3000-row day is reported failed in minutes")
	assert.Less(t, at4.Sub(start), 15*time.Minute, "the second day is not starved behind the first")
	assert.Less(t, e.Sink.Attempts(), 300, "the breaker stops hammering the receiver (6000 rows)")
	for _, r := range d.runs() {
		require.ErrorIs(t, r.Err, sender.ErrReceiverUnavailable)
	}

	e.Sink.FailNext(0, 0) // the receiver is back: a probe, then everything
	d.until(t, "every row after the outage", func() bool { return e.Distinct() >= 6000 })
	// Both days recorded done: the last rows at the sink may belong to a run of Nov 3 that
	// is still recording them when Nov 4 is already done.
	d.untilDone(t, nov(3))
	d.untilDone(t, nov(4))
	d.shutdown(t)
	res := verify(t, e, []calendar.Day{nov(3), nov(4)})
	checkState(t, e, []calendar.Day{nov(3), nov(4)})
	report(t, "receiver down: days failed in minutes, none starved", e, res, 6000)
}
