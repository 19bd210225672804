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

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/monthclose"
	"github.com/cloudbill/alicloud-billing-source/connector/scheduler"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// closer closes months as monthclose does, in the state: it plans the month's event and
// records it delivered.
type closer struct {
	mu     sync.Mutex
	months []string
	at     []time.Time
	clock  clockwork.Clock
	state  *state.Store
	ran    chan struct{}
}

func (c *closer) FinalAt(m calendar.Month) time.Time { return monthclose.FinalAt(m, 3) }

func (c *closer) Closed(m calendar.Month) (bool, error) { return c.state.MonthClosed(m) }

func (c *closer) Close(_ context.Context, m calendar.Month, dry bool) (monthclose.Summary, error) {
	c.mu.Lock()
	c.months = append(c.months, m.String())
	c.at = append(c.at, c.clock.Now())
	c.mu.Unlock()
	defer func() { c.ran <- struct{}{} }()
	if dry {
		return monthclose.Summary{}, nil
	}
	if err := c.state.PlanMonth(m, state.Month{Hash: "h", ID: "id-" + m.String(), Revision: 1}); err != nil {
		return monthclose.Summary{}, err
	}
	return monthclose.Summary{Month: m, Sent: true}, c.state.CloseMonth(m, "id-"+m.String(), c.clock.Now())
}

func (c *closer) got() ([]string, []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.months...), append([]time.Time(nil), c.at...)
}

func newClosingScheduler(t *testing.T, start time.Time, st *state.Store) (*scheduler.Scheduler, *clockwork.FakeClock, *runner, *closer) {
	t.Helper()
	sh := zone(t, "Asia/Shanghai")
	fc := clockwork.NewFakeClockAt(start)
	r := &runner{clock: fc, ran: make(chan struct{}, 1000), state: st}
	c := &closer{clock: fc, state: st, ran: make(chan struct{}, 100)}
	o := scheduler.Options{PullHour: 2, PullZone: sh, CatchupDays: 31, SettleDays: 3}
	s := scheduler.New(scheduler.Params{Options: o, Runner: r, Clock: fc, State: st, Closer: c,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return s, fc, r, c
}

// advanceUntilClose steps the fake clock until the closer has been called once more.
func advanceUntilClose(t *testing.T, fc *clockwork.FakeClock, c *closer, limit time.Duration) {
	t.Helper()
	advanceUntil(t, fc, c.ran, "close", limit)
}

// The daemon closes May on June 3 at 12:00 UTC+8, not before; then the settle window of
// the next pulls leaves May's days alone.
func TestScheduler_ClosesTheMonthOnTheThirdAtNoonInUTC8(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	st := openState(t)
	require.NoError(t, st.SetSince(calendar.Day{Year: 2026, Month: time.May, Day: 1}))
	start := time.Date(2026, 6, 3, 9, 0, 0, 0, sh)
	s, fc, r, c := newClosingScheduler(t, start, st)
	stop := runLoop(t, s)
	defer stop()
	waitForWait(t, fc) // the catch-up of May 3 to June 2, at start
	for len(r.ran) > 0 {
		<-r.ran
	}
	advanceUntilClose(t, fc, c, 4*time.Hour)
	months, at := c.got()
	assert.Equal(t, []string{"2026-05"}, months)
	noon := time.Date(2026, 6, 3, 12, 0, 0, 0, sh)
	assert.False(t, at[0].Before(noon), "closed at %s, before the bill is final", at[0])
	assert.True(t, at[0].Before(noon.Add(10*time.Minute)), "closed at %s, not at noon", at[0])

	// The pull of June 4 re-pulls the settle_days before June 3: June 2 and 1, not May 31.
	before, _ := r.got()
	advanceUntilRun(t, fc, r, 24*time.Hour)
	waitForWait(t, fc)
	after, _ := r.got()
	assert.Equal(t, []string{"2026-06-01", "2026-06-02", "2026-06-03"}, after[len(before):])
	months, _ = c.got()
	assert.Len(t, months, 1, "a closed month is not closed again")
}

// A daemon down over the 3rd closes the month at its first run after it; before noon on
// the 3rd no month is due, and neither is a month with no day in the catch-up window, nor
// one the daemon started in the middle of (since).
func TestScheduler_ClosesAMissedMonthAtItsFirstRunAfter(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	st := openState(t)
	since := calendar.Day{Year: 2026, Month: time.April, Day: 1}
	require.NoError(t, st.SetSince(since))
	s, fc, _, c := newClosingScheduler(t, time.Date(2026, 6, 9, 15, 0, 0, 0, sh), st)
	may := calendar.Month{Year: 2026, Month: time.May}
	assert.Empty(t, s.DueMonths(time.Date(2026, 6, 3, 11, 59, 0, 0, sh), since))
	assert.Equal(t, []calendar.Month{may}, s.DueMonths(time.Date(2026, 6, 3, 12, 0, 0, 0, sh), since),
		"April has no day in the 31 days of catch-up")
	stop := runLoop(t, s)
	defer stop()
	waitForWait(t, fc)
	months, at := c.got()
	assert.Equal(t, []string{"2026-05"}, months)
	assert.Equal(t, time.Date(2026, 6, 9, 15, 0, 0, 0, sh), at[0].In(sh), "right at start")
	assert.Empty(t, s.DueMonths(fc.Now(), since), "closed")
	assert.Empty(t, s.DueMonths(time.Date(2026, 7, 3, 12, 0, 0, 0, sh), calendar.Day{Year: 2026, Month: time.June, Day: 2}),
		"June is the daemon's from June 2 only")
	assert.Equal(t, []calendar.Month{{Year: 2026, Month: time.June}},
		s.DueMonths(time.Date(2026, 7, 3, 12, 0, 0, 0, sh), calendar.Day{Year: 2026, Month: time.June, Day: 1}))
}

// Days of a closed month are never due, neither to catch up nor to settle.
func TestDue_LeavesTheDaysOfAClosedMonthAlone(t *testing.T) {
	sh := zone(t, "Asia/Shanghai")
	st := openState(t)
	s, _, _, _ := newClosingScheduler(t, time.Time{}, st)
	since := calendar.Day{Year: 2026, Month: time.May, Day: 28}
	now := time.Date(2026, 6, 3, 3, 0, 0, 0, sh) // the pull of June 2
	all := s.Due(now, since, true)
	require.Equal(t, days(since, 6), dayStrings(all))
	require.NoError(t, st.PlanMonth(calendar.Month{Year: 2026, Month: time.May}, state.Month{ID: "x", Revision: 1}))
	assert.Equal(t, days(since, 6), dayStrings(s.Due(now, since, true)), "planned is not closed")
	require.NoError(t, st.CloseMonth(calendar.Month{Year: 2026, Month: time.May}, "x", now))
	assert.Equal(t, []string{"2026-06-01", "2026-06-02"}, dayStrings(s.Due(now, since, true)))
}

func dayStrings(ds []calendar.Day) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}
