package scheduler

import (
	"context"
	"errors"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/monthclose"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// MonthCloser closes the months of the account (monthclose.Closer).
type MonthCloser interface {
	FinalAt(m calendar.Month) time.Time
	Closed(m calendar.Month) (bool, error)
	Close(ctx context.Context, m calendar.Month, dry bool) (monthclose.Summary, error)
}

// OnClose registers a function called after each close of a month (for tests).
func (s *Scheduler) OnClose(f func(monthclose.Summary, error)) { s.closed = f }

// closedMonths is whether a day's month is closed, each month read from the state once.
// A month the state cannot tell about is taken as open (its days run, and say why not).
func (s *Scheduler) closedMonths() func(calendar.Day) bool {
	known := map[calendar.Month]bool{}
	return func(d calendar.Day) bool {
		m := calendar.MonthOf(d)
		closed, ok := known[m]
		if !ok {
			var err error
			closed, err = s.state.MonthClosed(m)
			closed = closed && err == nil
			known[m] = closed
		}
		return closed
	}
}

// DueMonths are the months to close at now, oldest first: each month before the current
// one that the daemon is responsible for from its first day (not before since: a month the
// daemon started in the middle of is closed by hand, --close-month), with a day in the
// catch-up window (see Due), whose bill is final (FinalAt) and that is not closed yet.
func (s *Scheduler) DueMonths(now time.Time, since calendar.Day) []calendar.Month {
	if s.closer == nil {
		return nil
	}
	oldest, _ := s.window(now, since)
	current := calendar.MonthOf(calendar.Of(now.In(monthclose.Zone)))
	var out []calendar.Month
	for m := calendar.MonthOf(oldest); m.Before(current); m = m.Next() {
		if m.First().Before(since) || now.Before(s.closer.FinalAt(m)) {
			continue
		}
		if closed, err := s.closer.Closed(m); err == nil && !closed {
			out = append(out, m)
		}
	}
	return out
}

// nextClose is the next time a month's bill becomes final after now (ok is false without
// a closer).
func (s *Scheduler) nextClose(now time.Time) (time.Time, bool) {
	if s.closer == nil {
		return time.Time{}, false
	}
	current := calendar.MonthOf(calendar.Of(now.In(monthclose.Zone)))
	if t := s.closer.FinalAt(current.Prev()); now.Before(t) {
		return t, true
	}
	return s.closer.FinalAt(current), true
}

// closeMonthAt is the month that a close at t (a nextClose) closes.
func (s *Scheduler) closeMonthAt(t time.Time) calendar.Month {
	return calendar.MonthOf(calendar.Of(t.In(monthclose.Zone))).Prev()
}

// closeMonths closes the months due, oldest first; it returns how many failed (retried
// with the days, on the backoff). A state-file problem ends it, as it ends the daemon.
func (s *Scheduler) closeMonths(ctx context.Context, since calendar.Day) (failed int, err error) {
	for _, m := range s.DueMonths(s.clock.Now(), since) {
		if ctx.Err() != nil {
			return failed, nil
		}
		s.log.Info("closing the month", "month", m.String(), "final_since", s.closer.FinalAt(m).Format(time.RFC3339))
		sum, err := s.closer.Close(ctx, m, false)
		var se *state.Error
		switch {
		case errors.As(err, &se):
			return failed, se
		case err != nil && ctx.Err() != nil:
			s.log.Warn("month close abandoned at shutdown, not done", "month", m.String())
		case err != nil:
			failed++
			s.log.Error("month close failed", "month", m.String(), "error", err.Error())
		}
		if s.closed != nil {
			s.closed(sum, err)
		}
	}
	return failed, nil
}
