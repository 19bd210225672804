package scheduler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/scheduler"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

type runner struct {
	mu    sync.Mutex
	days  []string
	at    []time.Time
	clock clockwork.Clock
	block bool // wait for ctx to end, like a day in flight at shutdown
	fails int  // the first runs fail
	state *state.Store
	ran   chan struct{}
}

func (r *runner) Run(ctx context.Context, day calendar.Day, resend job.Resend) (job.Report, error) {
	r.mu.Lock()
	r.days = append(r.days, day.String())
	r.at = append(r.at, r.clock.Now())
	fail := r.fails > 0
	r.fails--
	r.mu.Unlock()
	r.ran <- struct{}{}
	if resend != job.Incremental {
		return job.Report{}, errors.New("the daemon must run days incrementally")
	}
	if r.block {
		<-ctx.Done()
		return job.Report{Day: day, Fetched: 5, Delivered: 2}, ctx.Err()
	}
	if fail {
		return job.Report{Day: day, Fetched: 1, Failed: 1}, job.ErrUndelivered
	}
	if err := complete(r.state, day, r.clock.Now()); err != nil {
		return job.Report{}, err
	}
	return job.Report{Day: day, Fetched: 1, Delivered: 1}, nil
}

func (r *runner) got() ([]string, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.days...), append([]time.Time(nil), r.at...)
}

func zone(t *testing.T, name string) *time.Location {
	l, err := time.LoadLocation(name)
	require.NoError(t, err)
	return l
}

// complete records the day complete as a job that delivered it does: a pull of its bill
// that finished.
func complete(st *state.Store, day calendar.Day, now time.Time) error {
	p, err := st.Pull("account", day)
	if err != nil {
		return err
	}
	return p.Finish(0, now)
}

func newScheduler(t *testing.T, start time.Time, hour int, loc *time.Location) (*scheduler.Scheduler, *clockwork.FakeClock, *runner) {
	return newSchedulerWith(t, start, scheduler.Options{PullHour: hour, PullZone: loc}, openState(t))
}

func newSchedulerWith(t *testing.T, start time.Time, o scheduler.Options, st *state.Store) (*scheduler.Scheduler, *clockwork.FakeClock, *runner) {
	fc := clockwork.NewFakeClockAt(start)
	r := &runner{clock: fc, ran: make(chan struct{}, 1000), state: st}
	p := scheduler.Params{Options: o, Runner: r, Clock: fc, State: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return scheduler.New(p), fc, r
}

func openState(t *testing.T) *state.Store {
	t.Helper()
	s, err := state.Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// advanceUntilRun steps the fake clock (the scheduler waits at most an hour at a time)
// until the runner has been called once more. No real sleeping.
func advanceUntilRun(t *testing.T, fc *clockwork.FakeClock, r *runner, limit time.Duration) {
	t.Helper()
	advanceUntil(t, fc, r.ran, "run", limit)
}

// advanceUntil steps the fake clock by 10 minutes at a time until done says something
// happened (what), failing after limit: each step waits until the scheduler is either
// done or waiting on the clock again.
func advanceUntil(t *testing.T, fc *clockwork.FakeClock, done <-chan struct{}, what string, limit time.Duration) {
	t.Helper()
	var moved time.Duration
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		waiting := make(chan error, 1)
		go func() { waiting <- fc.BlockUntilContext(ctx, 1) }()
		select {
		case <-done:
			cancel()
			return
		case err := <-waiting:
			cancel()
			require.NoError(t, err, "scheduler is neither doing a %s nor waiting", what)
		}
		require.Less(t, moved, limit, "no %s within %v", what, limit)
		fc.Advance(10 * time.Minute)
		moved += 10 * time.Minute
	}
}

func runLoop(t *testing.T, s *scheduler.Scheduler) (cancel func()) {
	ctx, c := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Loop(ctx) }()
	return func() { c(); <-done }
}

func TestScheduler_RunsAtPullHourInZone(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	// 01:30 in Shanghai on Nov 5: before the hour, so today's 02:00 pull happens (the
	// original connector skipped it) and it is for Nov 4.
	s, fc, r := newScheduler(t, time.Date(2026, 11, 5, 1, 30, 0, 0, sh), 2, sh)
	stop := runLoop(t, s)
	defer stop()
	advanceUntilRun(t, fc, r, 2*time.Hour)
	advanceUntilRun(t, fc, r, 25*time.Hour)
	advanceUntilRun(t, fc, r, 25*time.Hour)
	days, at := r.got()
	assert.Equal(t, []string{"2026-11-04", "2026-11-05", "2026-11-06"}, days)
	for i, a := range at {
		assert.Equal(t, time.Date(2026, 11, 5+i, 2, 0, 0, 0, sh), a.In(sh).Truncate(10*time.Minute), "run %d", i)
	}
}

// A daemon first started after today's pull_hour pulls yesterday at once: its bill is due
// (it waited for tomorrow, and a new user saw nothing for a day). Then Nov 5 at Nov 6 02:00.
func TestScheduler_FirstStartedAfterTheHourPullsYesterdayAtOnce(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	st := openState(t)
	o := scheduler.Options{PullHour: 2, PullZone: sh, CatchupDays: 31, SettleDays: 3}
	s, fc, r := newSchedulerWith(t, time.Date(2026, 11, 5, 9, 0, 0, 0, sh), o, st)
	assert.Equal(t, time.Date(2026, 11, 6, 2, 0, 0, 0, sh), s.FirstRun(fc.Now()))
	stop := runLoop(t, s)
	defer stop()
	advanceUntilRun(t, fc, r, time.Hour)
	days, at := r.got()
	assert.Equal(t, []string{"2026-11-04"}, days)
	assert.Equal(t, time.Date(2026, 11, 5, 9, 0, 0, 0, sh), at[0].In(sh), "at once")
	since, ok, err := st.Since()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "2026-11-04", since.String(), "nothing before the day before the first start")

	// Nov 6 02:00: Nov 5, and Nov 4 again for late corrections (settling stops at since).
	advanceUntilRun(t, fc, r, 20*time.Hour)
	advanceUntilRun(t, fc, r, time.Hour)
	days, at = r.got()
	assert.Equal(t, []string{"2026-11-04", "2026-11-04", "2026-11-05"}, days)
	for _, a := range at[1:] {
		assert.Equal(t, time.Date(2026, 11, 6, 2, 0, 0, 0, sh), a.In(sh).Truncate(10*time.Minute))
	}
}

// A restart never pulls the same day twice: Nov 4, pulled at the first start, is not pulled
// again by a restart the same day; the next pull is Nov 5's at Nov 6 02:00.
func TestScheduler_ARestartAfterTheHourDoesNotPullAgain(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	st := openState(t)
	o := scheduler.Options{PullHour: 2, PullZone: sh, CatchupDays: 31, SettleDays: 0}
	s, fc, r := newSchedulerWith(t, time.Date(2026, 11, 5, 9, 0, 0, 0, sh), o, st)
	stop := runLoop(t, s)
	advanceUntilRun(t, fc, r, time.Hour)
	waitForWait(t, fc)
	stop()

	s, fc, r = newSchedulerWith(t, time.Date(2026, 11, 5, 11, 0, 0, 0, sh), o, st)
	stop = runLoop(t, s)
	defer stop()
	advanceUntilRun(t, fc, r, 20*time.Hour)
	days, at := r.got()
	assert.Equal(t, []string{"2026-11-05"}, days)
	assert.False(t, at[0].Before(time.Date(2026, 11, 6, 2, 0, 0, 0, sh)), "pulled twice on Nov 5")
}

func TestScheduler_FirstRunReckonsInPullZone(t *testing.T) {
	ny := zone(t, "America/New_York")
	s, _, _ := newScheduler(t, time.Time{}, 6, ny)
	// 05:59 in New York is 10:59 UTC: still before 06:00 New York time.
	now := time.Date(2026, 11, 5, 10, 59, 0, 0, time.UTC)
	assert.Equal(t, time.Date(2026, 11, 5, 6, 0, 0, 0, ny), s.FirstRun(now))
	// Exactly at the hour counts as after it: a restart at 06:00 does not pull again.
	assert.Equal(t, time.Date(2026, 11, 6, 6, 0, 0, 0, ny), s.FirstRun(time.Date(2026, 11, 5, 6, 0, 0, 0, ny)))
	// Across the end of daylight saving time (Nov 1 2026 in New York) the hour stays 06:00 local.
	assert.Equal(t, time.Date(2026, 11, 1, 6, 0, 0, 0, ny), s.FirstRun(time.Date(2026, 11, 1, 1, 0, 0, 0, ny)))
}

func TestScheduler_StopAbandonsTheDayInFlight(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	s, fc, r := newScheduler(t, time.Date(2026, 11, 5, 1, 50, 0, 0, sh), 2, sh)
	r.block = true
	var reports []error
	s.OnRun(func(_ job.Report, err error) { reports = append(reports, err) })
	stop := runLoop(t, s)
	advanceUntilRun(t, fc, r, time.Hour)
	stop() // returns only once the loop has ended
	require.Len(t, reports, 1)
	assert.ErrorIs(t, reports[0], context.Canceled)
}

// waitForWait returns once the scheduler is waiting on the clock again, all runs of its
// current round done. No real sleeping.
func waitForWait(t *testing.T, fc *clockwork.FakeClock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	require.NoError(t, fc.BlockUntilContext(ctx, 1), "scheduler is not waiting")
}

func days(from calendar.Day, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = from.AddDays(i).String()
	}
	return out
}

func TestScheduler_CatchesUpMissedDaysOldestFirstThenSettles(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	st := openState(t)
	nov := func(d int) calendar.Day { return calendar.Day{Year: 2026, Month: time.November, Day: d} }
	require.NoError(t, st.SetSince(nov(1)))
	for d := 1; d <= 3; d++ {
		require.NoError(t, complete(st, nov(d), time.Date(2026, 11, 8, 9, 0, 0, 0, time.UTC)))
	}
	o := scheduler.Options{PullHour: 2, PullZone: sh, CatchupDays: 31, SettleDays: 3}
	// Down from Nov 4 until Nov 8 10:00: Nov 4..7 were missed.
	s, fc, r := newSchedulerWith(t, time.Date(2026, 11, 8, 10, 0, 0, 0, sh), o, st)
	stop := runLoop(t, s)
	defer stop()
	waitForWait(t, fc)
	got, at := r.got()
	assert.Equal(t, days(nov(4), 4), got, "missed days, oldest first, before waiting")
	for _, a := range at {
		assert.Equal(t, time.Date(2026, 11, 8, 10, 0, 0, 0, sh), a.In(sh), "right at start")
	}

	// Nov 9 02:00: Nov 8, and the 3 days before it again for late corrections.
	fc.Advance(16 * time.Hour)
	waitForWait(t, fc)
	got, _ = r.got()
	assert.Equal(t, days(nov(5), 4), got[4:])
}

func TestScheduler_FailedDayIsRetriedOnABackoffNotTomorrow(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	o := scheduler.Options{PullHour: 2, PullZone: sh, CatchupDays: 31, SettleDays: 0}
	s, fc, r := newSchedulerWith(t, time.Date(2026, 11, 5, 1, 59, 0, 0, sh), o, openState(t))
	r.fails = 3
	stop := runLoop(t, s)
	defer stop()
	for range 4 { // 02:00 fails, +1m fails, +2m fails, +4m done
		waitForWait(t, fc)
		fc.Advance(time.Minute)
		waitForWait(t, fc)
		got, _ := r.got()
		if len(got) == 4 {
			break
		}
		fc.Advance(3 * time.Minute)
	}
	got, at := r.got()
	require.Equal(t, []string{"2026-11-04", "2026-11-04", "2026-11-04", "2026-11-04"}, got)
	var gaps []time.Duration
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]))
	}
	// Retries about 1, 2 and 4 minutes apart, each jittered into its upper half (the test
	// steps the clock coarsely: at most +3m).
	for i, g := range gaps {
		assert.GreaterOrEqual(t, g, (time.Minute<<i)/2, "retry %d", i+1)
		assert.Less(t, g, time.Minute<<i+4*time.Minute, "retry %d", i+1)
	}
}

func TestScheduler_CatchUpIsBoundedByCatchupDaysAndTheAPIsHistory(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, sh)
	latest := calendar.Day{Year: 2026, Month: time.November, Day: 19}
	for _, tc := range []struct {
		catchup, sinceBack, want int
	}{
		{31, 60, 31},    // the catch-up limit
		{10, 5, 6},      // never before since (the day first started)
		{540, 700, 540}, // the API keeps 18 months
		{0, 60, 1},      // no catch-up: still the latest day
	} {
		st := openState(t)
		require.NoError(t, st.SetSince(latest.AddDays(-tc.sinceBack)))
		s, _, _ := newSchedulerWith(t, now, scheduler.Options{PullHour: 2, PullZone: sh, CatchupDays: tc.catchup}, st)
		due := s.Due(now, latest.AddDays(-tc.sinceBack), false)
		assert.Len(t, due, tc.want, "%+v", tc)
		if len(due) > 0 {
			assert.Equal(t, latest, due[len(due)-1])
		}
	}
}

func TestScheduler_CatchUpFromFlagMovesSinceBack(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	st := openState(t)
	o := scheduler.Options{PullHour: 2, PullZone: sh, CatchupDays: 31}
	s, fc, r := newSchedulerWith(t, time.Date(2026, 11, 8, 10, 0, 0, 0, sh), o, st)
	s.CatchUpFrom(calendar.Day{Year: 2026, Month: time.November, Day: 5})
	stop := runLoop(t, s)
	defer stop()
	waitForWait(t, fc)
	got, _ := r.got()
	assert.Equal(t, []string{"2026-11-05", "2026-11-06", "2026-11-07"}, got)
	since, ok, err := st.Since()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "2026-11-05", since.String())
}

// The state file deleted under the running daemon: the first write fails with the state's
// one-line error and the daemon stops instead of delivering without its memory (and next
// to a second daemon that may have started on the same path).
func TestScheduler_StopsWhenTheStateFileIsDeleted(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := state.Open(path, false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	o := scheduler.Options{PullHour: 2, PullZone: sh, CatchupDays: 3}
	s, _, r := newSchedulerWith(t, time.Date(2026, 11, 5, 2, 30, 0, 0, sh), o, st)
	require.NoError(t, st.SetSince(calendar.Day{Year: 2026, Month: time.November, Day: 1}))
	require.NoError(t, os.Remove(path))

	done := make(chan error, 1)
	go func() { done <- s.Loop(context.Background()) }()
	timeout := time.NewTimer(90 * time.Second)
	defer timeout.Stop()
	select {
	case err = <-done:
	case <-timeout.C:
		t.Fatal("the daemon kept running without its state file")
	}
	var se *state.Error
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, state.ErrReplaced)
	assert.Contains(t, err.Error(), "state_path "+path)
	got, _ := r.got()
	assert.LessOrEqual(t, len(got), 1, "no further day is run without the state")
}
