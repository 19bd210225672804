package scheduler_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/scheduler"
)

type runner struct {
	mu    sync.Mutex
	days  []string
	at    []time.Time
	clock clockwork.Clock
	block bool // wait for ctx to end, like a day in flight at shutdown
	ran   chan struct{}
}

func (r *runner) Run(ctx context.Context, day billing.Day) (job.Report, error) {
	r.mu.Lock()
	r.days = append(r.days, day.String())
	r.at = append(r.at, r.clock.Now())
	r.mu.Unlock()
	r.ran <- struct{}{}
	if r.block {
		<-ctx.Done()
		return job.Report{Day: day, Fetched: 5, Delivered: 2}, ctx.Err()
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

func newScheduler(t *testing.T, start time.Time, hour int, loc *time.Location) (*scheduler.Scheduler, *clockwork.FakeClock, *runner) {
	fc := clockwork.NewFakeClockAt(start)
	r := &runner{clock: fc, ran: make(chan struct{}, 10)}
	s := scheduler.New(scheduler.Params{Runner: r, Clock: fc, Config: &config.Config{PullHour: hour, PullZone: loc},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return s, fc, r
}

// advanceUntilRun steps the fake clock (the scheduler waits at most an hour at a time)
// until the runner has been called once more. No real sleeping.
func advanceUntilRun(t *testing.T, fc *clockwork.FakeClock, r *runner, limit time.Duration) {
	t.Helper()
	var moved time.Duration
	for {
		// Either the runner was called, or the scheduler is waiting on the clock again.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		waiting := make(chan error, 1)
		go func() { waiting <- fc.BlockUntilContext(ctx, 1) }()
		select {
		case <-r.ran:
			cancel()
			return
		case err := <-waiting:
			cancel()
			require.NoError(t, err, "scheduler is neither running nor waiting")
		}
		require.Less(t, moved, limit, "no run within %v", limit)
		fc.Advance(10 * time.Minute)
		moved += 10 * time.Minute
	}
}

func runLoop(t *testing.T, s *scheduler.Scheduler) (cancel func()) {
	ctx, c := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Loop(ctx) }()
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

func TestScheduler_StartedAfterTheHourWaitsForTomorrow(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	s, fc, r := newScheduler(t, time.Date(2026, 11, 5, 9, 0, 0, 0, sh), 2, sh)
	assert.Equal(t, time.Date(2026, 11, 6, 2, 0, 0, 0, sh), s.FirstRun(fc.Now()))
	stop := runLoop(t, s)
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
