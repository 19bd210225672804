// Package scheduler is the daemon: every day at pull_hour:00 in pull_zone it runs the job
// for the previous day.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// maxSleep bounds one wait, so that a suspended machine or a stepped wall clock is noticed
// within the hour instead of after a full day.
const maxSleep = time.Hour

// Runner runs one billing day (job.Job).
type Runner interface {
	Run(ctx context.Context, day billing.Day) (job.Report, error)
}

// Scheduler fires the runner at pull_hour every day.
type Scheduler struct {
	run   Runner
	clock clock.Clock
	hour  int
	zone  *time.Location
	log   *slog.Logger
	fired func(job.Report, error) // test hook, called after every run
}

// Params are the inputs of New.
type Params struct {
	fx.In
	Runner Runner
	Clock  clock.Clock
	Config *config.Config
	Logger *slog.Logger
}

// New builds a Scheduler for the configured pull_hour and pull_zone.
func New(p Params) *Scheduler {
	return &Scheduler{run: p.Runner, clock: p.Clock, hour: p.Config.PullHour, zone: p.Config.PullZone, log: p.Logger}
}

// OnRun registers a function called after each scheduled run (for tests and metrics).
func (s *Scheduler) OnRun(f func(job.Report, error)) { s.fired = f }

// FirstRun is when a daemon started at now pulls first: today's pull_hour if it is still
// ahead (the original connector skipped that day), else tomorrow's, so that a restart
// after the hour does not pull the same day twice.
func (s *Scheduler) FirstRun(now time.Time) time.Time {
	today := billing.DayOf(now.In(s.zone))
	if t := today.At(s.hour, s.zone); now.Before(t) {
		return t
	}
	return today.AddDays(1).At(s.hour, s.zone)
}

// Loop runs until ctx ends. A day in flight when ctx ends is abandoned, and logged as such,
// never as done.
func (s *Scheduler) Loop(ctx context.Context) {
	next := s.FirstRun(s.clock.Now())
	for {
		day := billing.DayOf(next.In(s.zone)).AddDays(-1)
		s.log.Info("waiting for the next pull", "at", next.Format(time.RFC3339), "day", day.String())
		if !s.sleepUntil(ctx, next) {
			return
		}
		rep, err := s.run.Run(ctx, day)
		switch {
		case err != nil && ctx.Err() != nil:
			s.log.Warn("day abandoned at shutdown, not done", "day", day.String(), "fetched", rep.Fetched, "delivered", rep.Delivered)
		case err != nil:
			s.log.Error("day failed", "day", day.String(), "fetched", rep.Fetched, "delivered", rep.Delivered,
				"failed", rep.Failed, "duration", rep.Duration.String(), "error", err.Error())
		default:
			s.log.Info("day done", "day", day.String(), "fetched", rep.Fetched, "delivered", rep.Delivered,
				"failed", rep.Failed, "duration", rep.Duration.String())
		}
		if s.fired != nil {
			s.fired(rep, err)
		}
		if ctx.Err() != nil {
			return
		}
		next = billing.DayOf(next.In(s.zone)).AddDays(1).At(s.hour, s.zone)
	}
}

func (s *Scheduler) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(s.clock.Now())
		if d <= 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-s.clock.After(min(d, maxSleep)):
		}
	}
}

// Lifecycle starts the loop on fx's OnStart (without blocking) and stops it on OnStop.
func (s *Scheduler) Lifecycle(lc fx.Lifecycle) {
	var (
		cancel context.CancelFunc
		done   = make(chan struct{})
	)
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			go func() { defer close(done); s.Loop(ctx) }()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-stop.Done():
				return errors.New("scheduler did not stop in time")
			}
		},
	})
}
