// Package scheduler is the daemon. Every day at pull_hour:00 in pull_zone it pulls the
// previous day and re-pulls the settle_days before it (late corrections). It catches up
// on the days it missed while down (up to catchup_days back, never before the day before
// it was first started or beyond the API's 18 months), oldest first, and retries a failed
// day on a capped exponential backoff, not only at the next pull_hour. Once a month's bill
// is final (month_close_day of the next month, 12:00 UTC+8) it closes the month
// (monthclose); the days of a closed month are not pulled again.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/monthclose"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/retry"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// maxSleep bounds one wait, so that a suspended machine or a stepped wall clock is noticed
// within the hour instead of after a full day.
const maxSleep = time.Hour

// retryBackoff spaces the retries of failed days: 1 minute doubling to 1 hour (with jitter).
var retryBackoff = retry.Backoff{Base: time.Minute, Max: time.Hour}

// Runner runs one billing day (job.Job).
type Runner interface {
	Run(ctx context.Context, day calendar.Day, resend job.Resend) (job.Report, error)
}

// State is what the scheduler reads of the state (state.Store).
type State interface {
	Since() (calendar.Day, bool, error)
	SetSince(calendar.Day) error
	Complete(day calendar.Day, bills ...bill.Kind) (bool, error)
	MonthClosed(calendar.Month) (bool, error)
}

// Scheduler decides which days to run when.
type Scheduler struct {
	run      Runner
	state    State
	clock    clock.Clock
	hour     int
	zone     *time.Location
	catchup  int
	settle   int
	log      *slog.Logger
	fired    func(job.Report, error)         // test hook, called after every run
	fromFlag calendar.Day                    // --catch-up-from
	bills    []bill.Kind                     // a day is complete when each of these is
	pending  prometheus.Gauge                // days_pending of the account
	closer   MonthCloser                     // nil: no month is closed
	closed   func(monthclose.Summary, error) // test hook, called after every close
}

// Options are when and what the daemon pulls, from the configuration.
type Options struct {
	PullHour    int            // pull_hour, 0..23
	PullZone    *time.Location // pull_zone
	CatchupDays int            // catchup_days
	SettleDays  int            // settle_days
	Bills       []bill.Kind    // bills: a day is complete when each is; none: the account bill
	Account     string         // whose days (config.Account.Name); "" is config.DefaultAccount
}

// Params are the inputs of New: one account's scheduler (connector/accounts makes one per
// account).
type Params struct {
	Options Options
	Runner  Runner
	State   State
	Clock   clock.Clock
	Logger  *slog.Logger
	Metrics *ops.Metrics // nil: metrics of its own, not served
	Closer  MonthCloser  // nil: the daemon closes no month
}

// New builds a Scheduler for the configured pull_hour, pull_zone, catchup_days and settle_days.
func New(p Params) *Scheduler {
	o := p.Options
	bills := o.Bills
	if len(bills) == 0 {
		bills = []bill.Kind{bill.Account}
	}
	account := o.Account
	if account == "" {
		account = config.DefaultAccount
	}
	m := ops.Or(p.Metrics)
	return &Scheduler{run: p.Runner, state: p.State, clock: p.Clock, hour: o.PullHour, zone: o.PullZone,
		catchup: o.CatchupDays, settle: o.SettleDays, log: p.Logger, bills: bills,
		pending: m.DaysPending.WithLabelValues(account), closer: p.Closer}
}

// OnRun registers a function called after each run of a day (for tests and metrics).
func (s *Scheduler) OnRun(f func(job.Report, error)) { s.fired = f }

// CatchUpFrom makes the daemon also responsible for the days from d on (--catch-up-from).
func (s *Scheduler) CatchUpFrom(d calendar.Day) { s.fromFlag = d }

// FirstRun is the first scheduled pull of a daemon started at now: today's pull_hour if it
// is still ahead (the original connector skipped that day), else tomorrow's.
func (s *Scheduler) FirstRun(now time.Time) time.Time {
	today := calendar.Of(now.In(s.zone))
	if t := today.At(s.hour, s.zone); now.Before(t) {
		return t
	}
	return today.AddDays(1).At(s.hour, s.zone)
}

// LatestDue is the last day whose pull time (the next day at pull_hour) has come at now.
func (s *Scheduler) LatestDue(now time.Time) calendar.Day {
	return calendar.Of(s.FirstRun(now).In(s.zone)).AddDays(-2)
}

// since returns the first day the daemon is responsible for, recording it on first start:
// yesterday in pull_zone. Its bill is due at today's pull_hour: a daemon first started
// before that pulls it then, one started after pulls it at once (a new user sees events
// the day they start it, not the next). A restart reads since from the state, and a day
// the state has as complete is not pulled again (Due).
func (s *Scheduler) since(now time.Time) (calendar.Day, error) {
	first := calendar.Of(now.In(s.zone)).AddDays(-1)
	d, ok, err := s.state.Since()
	if err != nil {
		return first, err
	}
	if !ok {
		d = first
	}
	if s.fromFlag != (calendar.Day{}) && s.fromFlag.Before(d) {
		d = s.fromFlag
	}
	if !ok || d != first {
		if err := s.state.SetSince(d); err != nil {
			return d, err
		}
	}
	return d, nil
}

func (s *Scheduler) complete(d calendar.Day) bool {
	ok, err := s.state.Complete(d, s.bills...)
	return err == nil && ok
}

// window is the catch-up window at now: from catchup_days before the latest due day (never
// beyond the API's 18 months, nor before since) to the latest due day.
func (s *Scheduler) window(now time.Time, since calendar.Day) (oldest, latest calendar.Day) {
	latest = s.LatestDue(now)
	oldest = latest.AddDays(-(max(s.catchup, 1) - 1)) // the latest due day always runs
	if limit := calendar.Of(now.In(s.zone)).AddDays(-config.MaxDaysBack); oldest.Before(limit) {
		oldest = limit
	}
	if oldest.Before(since) {
		oldest = since
	}
	return oldest, latest
}

// Due lists the days to run at now, oldest first: incomplete days of the catch-up window
// (from since, at most catchup_days back, never beyond the API's 18 months), and, when
// settling, the settle_days before the latest due day.
// The days of a closed month are never due: its close re-read them (--once and
// --from/--to still run them when asked).
func (s *Scheduler) Due(now time.Time, since calendar.Day, settling bool) []calendar.Day {
	oldest, latest := s.window(now, since)
	closed := s.closedMonths()
	set := map[calendar.Day]bool{}
	for d := oldest; !latest.Before(d); d = d.AddDays(1) {
		if !closed(d) && !s.complete(d) {
			set[d] = true
		}
	}
	if settling {
		for i := 1; i <= s.settle; i++ {
			if d := latest.AddDays(-i); !d.Before(since) && !closed(d) {
				set[d] = true
			}
		}
	}
	days := make([]calendar.Day, 0, len(set))
	for d := range set {
		days = append(days, d)
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Before(days[j]) })
	return days
}

// Loop runs until ctx ends. A day in flight when ctx ends is abandoned, and logged as such,
// never as done. Each round runs the days that are due, then closes the months that are
// (re-reading their days).
func (s *Scheduler) Loop(ctx context.Context) error {
	now := s.clock.Now()
	since, err := s.since(now)
	if err != nil {
		return err
	}
	nextFire := s.FirstRun(now)
	s.log.Info("daemon started", "since", since.String(), "catchup_days", s.catchup, "settle_days", s.settle,
		"first_pull", nextFire.Format(time.RFC3339))
	failStreak := 0
	settling := false
	for {
		failed, err := s.runDays(ctx, s.Due(s.clock.Now(), since, settling))
		if err != nil {
			return err
		}
		n, err := s.closeMonths(ctx, since)
		if err != nil {
			return err
		}
		failed += n
		settling = false
		if ctx.Err() != nil {
			return nil
		}
		wake := s.wake(nextFire, failed, &failStreak)
		if !s.sleepUntil(ctx, wake) {
			return nil
		}
		if !s.clock.Now().Before(nextFire) {
			settling = true
			nextFire = calendar.Of(nextFire.In(s.zone)).AddDays(1).At(s.hour, s.zone)
		}
	}
}

// wake is when the loop runs again: the next pull, the next month close, or the retry of
// what failed, whichever comes first; it says so in the log.
func (s *Scheduler) wake(nextFire time.Time, failed int, failStreak *int) time.Time {
	wake := nextFire
	closing, ok := s.nextClose(s.clock.Now())
	if ok && closing.Before(wake) {
		wake = closing
	}
	if failed > 0 {
		*failStreak++
		wait := retryBackoff.Delay(*failStreak)
		if retry := s.clock.Now().Add(wait); retry.Before(wake) {
			wake = retry
		}
		s.log.Warn("days not complete, retrying", "pending_days", failed, "attempt", *failStreak, "at", wake.Format(time.RFC3339))
		return wake
	}
	*failStreak = 0
	if ok && wake.Equal(closing) {
		s.log.Info("waiting for the month close", "at", wake.Format(time.RFC3339), "month", s.closeMonthAt(wake).String())
		return wake
	}
	s.log.Info("waiting for the next pull", "at", wake.Format(time.RFC3339), "day", calendar.Of(wake.In(s.zone)).AddDays(-1).String())
	return wake
}

// runDays runs the days due, oldest first; it returns how many failed. A state-file
// problem ends it (see runDay).
func (s *Scheduler) runDays(ctx context.Context, days []calendar.Day) (failed int, err error) {
	pending := 0
	for _, d := range days {
		if !s.complete(d) {
			pending++
		}
	}
	s.pending.Set(float64(pending))
	for _, day := range days {
		if ctx.Err() != nil {
			return failed, nil
		}
		wasComplete := s.complete(day)
		ok, err := s.runDay(ctx, day)
		if err != nil {
			return failed, err
		}
		if !ok {
			failed++
		}
		if ok && !wasComplete {
			pending--
			s.pending.Set(float64(pending))
		}
	}
	return failed, nil
}

// runDay runs one day and logs the outcome once; it reports whether the day is complete.
// A state-file problem (the file deleted or replaced, a write refused) is returned: the
// daemon cannot keep its promises without its state and stops.
func (s *Scheduler) runDay(ctx context.Context, day calendar.Day) (bool, error) {
	rep, err := s.run.Run(ctx, day, job.Incremental)
	var se *state.Error
	if errors.As(err, &se) {
		return false, se
	}
	switch {
	case err != nil && ctx.Err() != nil:
		s.log.Warn("day abandoned at shutdown, not done", rep.Attrs()...)
	case err != nil:
		s.log.Error("day failed", append(rep.Attrs(), "error", err.Error())...)
	default:
		s.log.Info("day done", rep.Attrs()...)
	}
	if s.fired != nil {
		s.fired(rep, err)
	}
	return err == nil, nil
}

func (s *Scheduler) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(s.clock.Now())
		if d <= 0 {
			return true
		}
		if retry.Sleep(ctx, s.clock, min(d, maxSleep)) != nil {
			return false
		}
	}
}
