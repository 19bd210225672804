package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

type runnerParams struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Shutdowner fx.Shutdowner
	Mode       Mode
	IO         IO
	Exit       *exitCode
	Config     *config.Config
	Clock      clock.Clock
	Units      []*accounts.Unit
	Logger     *slog.Logger
	Health     *ops.Health
}

// startRunner hooks the chosen mode into the fx lifecycle. Hooks never block: the work runs
// on its own goroutine with a context that OnStop cancels.
func startRunner(p runnerParams) error {
	// Before anything starts (the state file is opened at the start): a usage error only.
	if err := checkDays(p.Mode, calendar.Of(p.Clock.Now().In(p.Config.PullZone))); err != nil {
		return err
	}
	if err := checkClose(p.Mode, p.Config.MonthCloseDay, p.Clock.Now()); err != nil {
		return err
	}
	for _, w := range p.Config.Warnings {
		p.Logger.Warn(w)
	}
	// Said once everything started (the state file is open): a start that fails says only why.
	p.Lifecycle.Append(fx.StartHook(func() {
		p.Logger.Info("connector configured", "config", p.Config.Source,
			"target", config.Redact(p.Config.Target), "endpoint", p.Config.Endpoint.String(),
			"pull_hour", p.Config.PullHour, "pull_zone", p.Config.PullZone.String(),
			"state_path", p.Config.StatePath, "bills", billNames(p.Config.Bills), "api_qps", p.Config.APIQPS,
			"accounts", accountList(p.Units))
		p.Health.Started() // the config is loaded, the state file open: ready (/readyz)
	}))
	switch {
	case p.Mode.Close:
		inBackground(p, func(ctx context.Context) int { return runClose(ctx, p) })
		return nil
	case p.Mode.Once || p.Mode.Range:
		inBackground(p, func(ctx context.Context) int { return runDays(ctx, p) })
		return nil
	}
	inBackground(p, func(ctx context.Context) int { return runDaemons(ctx, p) })
	return nil
}

// runDaemons runs each account's scheduler until the context ends. An account whose state
// cannot be read or written stops (said in the log); the others go on. The status is the
// worst of the accounts'.
func runDaemons(ctx context.Context, p runnerParams) int {
	if len(p.Units) == 0 { // a shard that owns no account (more shards than callers) idles, not a restart loop
		p.Logger.Warn("no account is this shard's: idle until stopped", "shard", p.Config.Shard.String())
		<-ctx.Done()
		return ExitOK
	}
	if err := accounts.TakeOver(p.Units, p.Config, p.Clock.Now(), p.Mode.Since); err != nil {
		p.Logger.Error("daemon stopped", "error", err.Error()) // the state cannot be read
		return exitStatus(err)
	}
	return eachAccount(p.Units, func(u *accounts.Unit) int {
		if p.Mode.Since != (calendar.Day{}) {
			u.Scheduler.CatchUpFrom(p.Mode.Since)
		}
		if err := u.Scheduler.Loop(ctx); err != nil { // the state cannot be read or written
			u.Log.Error("daemon stopped", "error", err.Error())
			return exitStatus(err)
		}
		return ExitOK
	})
}

// eachAccount runs run for every account at once and returns the worst of their statuses.
func eachAccount(units []*accounts.Unit, run func(*accounts.Unit) int) int {
	codes := make([]int, len(units))
	var wg sync.WaitGroup
	for i, u := range units {
		wg.Go(func() { codes[i] = run(u) })
	}
	wg.Wait()
	return worst(codes)
}

// accountList names each account and its kind of credentials, for the start-up log line.
func accountList(units []*accounts.Unit) []string {
	out := make([]string, len(units))
	for i, u := range units {
		out[i] = u.Account.Name + " (" + string(u.Account.Credentials.Kind()) + ")"
		if u.Account.BillOwnerID != 0 {
			out[i] = fmt.Sprintf("%s (%s, bill owner %d)", u.Account.Name, u.Account.Credentials.Kind(), u.Account.BillOwnerID)
		}
	}
	return out
}

// checkDays refuses days the API cannot serve: after today (in pull_zone) or more than
// config.MaxDaysBack days back (the API keeps 18 months).
func checkDays(m Mode, today calendar.Day) error {
	oldest := today.AddDays(-config.MaxDaysBack)
	check := func(flag string, d calendar.Day) error {
		switch {
		case today.Before(d):
			return &usageError{fmt.Sprintf("%s %s is in the future (today is %s in pull_zone)", flag, d, today)}
		case d.Before(oldest):
			return &usageError{fmt.Sprintf("%s %s is older than the %d days (18 months) the API keeps; the oldest day is %s", flag, d, config.MaxDaysBack, oldest)}
		}
		return nil
	}
	var err error
	switch {
	case m.HasDate:
		err = check("--date", m.Date)
	case m.Range:
		if err = check("--from", m.From); err == nil {
			err = check("--to", m.To)
		}
	case m.Since != (calendar.Day{}):
		err = check("--catch-up-from", m.Since)
	}
	return err
}

// inBackground hooks work into the fx lifecycle without blocking it: OnStart launches it
// with its own context, OnStop cancels that context and waits, bounded by the stop context.
// Work that ends by itself shuts the application down with its exit status.
func inBackground(p runnerParams, work func(ctx context.Context) int) {
	var (
		cancel context.CancelFunc
		done   = make(chan struct{})
	)
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			go func() {
				defer close(done)
				code := work(ctx)
				p.Exit.set(code)
				if ctx.Err() == nil {
					_ = p.Shutdowner.Shutdown(fx.ExitCode(code))
				}
			}()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-stop.Done():
				p.Exit.set(ExitIncomplete)
				return errors.New("the run did not stop in time")
			}
		},
	})
}

func billNames(bills []bill.Kind) []string {
	out := make([]string, len(bills))
	for i, b := range bills {
		out[i] = string(b)
	}
	return out
}

func modeName(m Mode) string {
	switch {
	case m.Once:
		return "once"
	case m.Range:
		return "range"
	case m.Close:
		return "close-month"
	default:
		return "daemon"
	}
}

// runDays runs --once or --from/--to for every selected account at once (each at its own
// pace) and returns the worst exit status of them.
func runDays(ctx context.Context, p runnerParams) int {
	var days []calendar.Day
	switch {
	case p.Mode.Once && p.Mode.HasDate:
		days = []calendar.Day{p.Mode.Date}
	case p.Mode.Once:
		days = []calendar.Day{calendar.Yesterday(p.Clock.Now(), p.Config.PullZone)}
	default:
		for d := p.Mode.From; !p.Mode.To.Before(d); d = d.AddDays(1) {
			days = append(days, d)
		}
	}
	var out sync.Mutex // one progress line at a time
	return eachAccount(p.Units, func(u *accounts.Unit) int { return runAccountDays(ctx, p, u, days, &out) })
}

// worst is the status of a run of several accounts: the worst of theirs, except that an
// account whose configuration must be fixed (2) while another did its work is one account
// not delivered (1). Only when every account needs its configuration fixed is it 2.
func worst(codes []int) int {
	all2 := len(codes) > 0
	w := ExitOK
	for _, c := range codes {
		all2 = all2 && c == ExitConfig
		w = max(w, min(c, ExitIncomplete))
	}
	if all2 {
		return ExitConfig
	}
	return w
}

// runAccountDays runs the days of one account. Its progress lines name the account when
// the configuration has accounts.
func runAccountDays(ctx context.Context, p runnerParams, u *accounts.Unit, days []calendar.Day, out *sync.Mutex) int {
	multi := p.Config.MultiAccount()
	code := ExitOK
	var total job.Report
	i := 0
	u.Job.RunDays(ctx, days, job.Explicit, p.Mode.DryRun, func(rep job.Report, err error) bool {
		day := days[i]
		i++
		total.Add(rep)
		status := "done"
		switch {
		case err != nil && ctx.Err() != nil:
			status = "abandoned"
			u.Log.Warn("day abandoned at shutdown, not done", rep.Attrs()...)
			code = ExitIncomplete
		case err != nil:
			status = "FAILED: " + err.Error()
			u.Log.Error("day failed", append(rep.Attrs(), "error", err.Error())...)
			code = max(code, exitStatus(err))
		case p.Mode.DryRun:
			status = "dry run, nothing sent"
			u.Log.Info("day counted (dry run)", rep.Attrs()...)
		default:
			u.Log.Info("day done", rep.Attrs()...)
		}
		name := day.String()
		if multi {
			name += " " + u.Account.Name
		}
		out.Lock()
		if p.Mode.DryRun {
			fmt.Fprintf(p.IO.Stdout, "[%d/%d] %s: %d rows: %d new, %d changed, %d pending delivery, %d already delivered%s - %s\n",
				i, len(days), name, rep.Fetched, rep.New, rep.Changed, rep.Pending, rep.Unchanged,
				countIf(rep.WouldRetract, "would be retracted"), textsafe.Line(status, maxLine))
		} else if p.Mode.Range || multi {
			fmt.Fprintf(p.IO.Stdout, "[%d/%d] %s: %d fetched, %d delivered, %d failed%s in %s - %s\n",
				i, len(days), name, rep.Fetched, rep.Delivered, rep.Failed, countIf(rep.Retracted, "retracted"),
				rep.Duration.Round(1e6), textsafe.Line(status, maxLine))
		}
		out.Unlock()
		// Credentials or permissions: every further day of this account would fail the same way.
		return ctx.Err() == nil && code != ExitConfig
	})
	if i < len(days) && code == ExitOK {
		code = ExitIncomplete // stopped (a signal) before every day was run
	}
	if p.Mode.Range {
		logRangeDone(u, p.Mode, len(days), total)
	}
	return code
}

// countIf is ", n what" when n is not 0: a count progress lines show only when it happens.
func countIf(n int, what string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d %s", n, what)
}

// logRangeDone logs the totals of a --from/--to run of one account; a dry run's say what
// a run would send, not what was delivered.
func logRangeDone(u *accounts.Unit, m Mode, days int, total job.Report) {
	attrs := []any{"from", m.From.String(), "to", m.To.String(), "days", days,
		"fetched", total.Fetched, "new", total.New, "changed", total.Changed}
	if m.DryRun {
		attrs = append(attrs, "would_send", total.WouldSend, "would_retract", total.WouldRetract)
	} else {
		attrs = append(attrs, "delivered", total.Delivered, "failed", total.Failed, "retracted", total.Retracted)
	}
	u.Log.Info("range done", attrs...)
}
