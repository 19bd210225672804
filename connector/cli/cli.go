// Package cli is the connector's command line: flags, --help, the fx wiring of the
// modules and the exit statuses. cmd/connector's main calls Main; the end-to-end tests and
// the demo call it too, so that they run exactly the production wiring.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/logging"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Exit statuses.
const (
	ExitOK         = 0 // all delivered (or a daemon stopped by SIGINT, SIGTERM or SIGHUP)
	ExitIncomplete = 1 // not every row of every day was delivered
	ExitConfig     = 2 // bad configuration, bad credentials or bad usage
)

// stopSignals end the process cleanly: a one-off run logs the day it abandons and exits
// 1 when not everything was delivered, the daemon exits 0. SIGHUP is one of them (the
// connector does not reload its configuration), unless the process was started with
// SIGHUP ignored (nohup): then it stays ignored, as nohup asked.
func stopSignals() []os.Signal {
	if signal.Ignored(syscall.SIGHUP) {
		return []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	}
	return []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
}

// Version is set at link time (-X) by the image build.
var Version = "dev"

// Mode is what the command line asked for.
type Mode struct {
	Once     bool
	Date     calendar.Day // --date, zero: yesterday in pull_zone
	HasDate  bool
	From, To calendar.Day // --from/--to
	Range    bool
	DryRun   bool         // --dry-run: fetch and count, send nothing, write no state
	Since    calendar.Day // --catch-up-from (daemon)
}

// IO are the process's streams and environment.
type IO struct {
	Stdout, Stderr io.Writer
	Lookup         func(string) (string, bool) // environment; os.LookupEnv when nil
}

// Main runs the connector with args (without the program name) and returns the exit
// status. extra options are appended to the application (tests: fx.Replace a fake clock).
//
// SIGINT, SIGTERM and SIGHUP are handled from Main's first instruction: a signal that
// arrives while the configuration is read or the application starts is a clean stop too
// (the daemon exits 0, a one-off run that did not deliver everything 1). SIGHUP stops like
// SIGTERM in every mode: there is no reload (a closed terminal, or a supervisor that sends
// it, must not kill a run half-way without saying which day was abandoned).
func Main(args []string, stdio IO, extra ...fx.Option) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, stopSignals()...)
	defer signal.Stop(sigs)
	fs := flag.NewFlagSet("connector", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		cfgPath  = fs.String("config", "", "")
		once     = fs.Bool("once", false, "")
		date     = fs.String("date", "", "")
		from     = fs.String("from", "", "")
		to       = fs.String("to", "", "")
		verbose  = fs.Bool("verbose", false, "")
		dryRun   = fs.Bool("dry-run", false, "")
		since    = fs.String("catch-up-from", "", "")
		only     accountFlag
		showVer  = fs.Bool("version", false, "")
		showHelp bool
	)
	fs.Var(&only, "account", "")
	fs.BoolVar(&showHelp, "help", false, "")
	fs.BoolVar(&showHelp, "h", false, "")
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stdio.Stderr, "connector: "+format+"\nRun 'connector --help' for usage.\n", a...)
		return ExitConfig
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdio.Stdout)
			return ExitOK
		}
		return usageErr("%v", err)
	}
	if showHelp {
		printHelp(stdio.Stdout)
		return ExitOK
	}
	if *showVer {
		fmt.Fprintln(stdio.Stdout, "alicloud-billing-source connector", Version)
		return ExitOK
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	mode, msg := parseMode(*once, *date, *from, *to)
	if msg != "" {
		return usageErr("%s", msg)
	}
	if *dryRun && !mode.Once && !mode.Range {
		return usageErr("--dry-run goes with --once or --from/--to")
	}
	mode.DryRun = *dryRun
	if *since != "" {
		if mode.Once || mode.Range {
			return usageErr("--catch-up-from is for the daemon; use --from/--to for a one-off range")
		}
		d, err := calendar.Parse(*since)
		if err != nil {
			return usageErr("--catch-up-from: %v", err)
		}
		mode.Since = d
	}
	// Until the application's logger exists, this one (the same format and stream) speaks.
	early := logging.New(logging.Options{Writer: stdio.Stderr, Verbose: *verbose})
	early.Debug("connector starting", "version", Version, "mode", modeName(mode), "pid", os.Getpid())

	path := *cfgPath
	if path != "" && !strings.HasPrefix(path, "/") {
		// `bazel run` starts us in the runfiles tree; a relative --config means the caller's directory.
		if wd := os.Getenv("BUILD_WORKING_DIRECTORY"); wd != "" {
			path = wd + "/" + path
		}
	}
	// A stop before the work began: nothing was delivered, nothing was left half-done.
	stoppedEarly := func(sig os.Signal) int {
		early.Info("stopped before the work began", "signal", sig.String())
		if mode.Once || mode.Range {
			return ExitIncomplete
		}
		return ExitOK
	}
	exit := &exitCode{}
	app := fx.New(Options(config.Source{Path: path, Lookup: stdio.Lookup}, stdio, mode, *verbose, exit),
		fx.Supply(accounts.Only(only)), fx.Options(extra...))
	if err := app.Err(); err != nil {
		return startFailure(stdio.Stderr, err)
	}
	select {
	case sig := <-sigs:
		return stoppedEarly(sig)
	default:
	}
	// A signal during the start lets the start finish (its hooks do not block; the timeout
	// bounds them), then stops: cancelling the start would make fx roll it back with a
	// context that is already done, leaving hooks half-stopped.
	startCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = app.Stop(stopCtx)
		select {
		case sig := <-sigs:
			return stoppedEarly(sig)
		default:
			return startFailure(stdio.Stderr, err)
		}
	}
	// From here the run's own verdict counts: a day stopped half-way says so (exit 1).
	code := -1
	select {
	case sig := <-sigs: // one that came during the start
		early.Info("stopping", "signal", sig.String())
	default:
		select {
		case sig := <-sigs:
			early.Info("stopping", "signal", sig.String())
		case s := <-app.Wait(): // the run's own Shutdown with its exit code (or fx's own signal relay)
			code = s.ExitCode
		}
	}
	// Signals during the stop are absorbed: the stop is bounded by its own timeout.
	stopCtx, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := app.Stop(stopCtx); err != nil {
		fmt.Fprintf(stdio.Stderr, "connector: stop: %v\n", err)
	}
	if code > 0 {
		return code
	}
	return exit.get()
}

// startFailure prints why the application could not start as one line and returns the
// exit status: the first configuration, state or usage problem in fx's error chain alone,
// without the wiring around it.
func startFailure(w io.Writer, err error) int {
	var ce *config.Error
	var se *state.Error
	var ue *usageError
	var ae *accounts.UnknownError
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(w, "connector: %v\nRun 'connector --help' for usage.\n", ae)
	case errors.As(err, &ue):
		fmt.Fprintf(w, "connector: %v\nRun 'connector --help' for usage.\n", ue)
	case errors.As(err, &ce):
		fmt.Fprintf(w, "connector: %v\n", ce)
	case errors.As(err, &se):
		fmt.Fprintf(w, "connector: %v\n", se)
	default:
		fmt.Fprintf(w, "connector: cannot start: %v\n", err)
	}
	return ExitConfig
}

// usageError is a command line that the configuration makes impossible (a date the API
// does not keep, for instance).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Options are the application: the modules of every concern, the casts from their
// concrete types to the small interfaces their users declare, and the run of the mode.
func Options(src config.Source, stdio IO, mode Mode, verbose bool, exit *exitCode) fx.Option {
	return fx.Options(
		fx.Supply(src),
		fx.Supply(logging.Options{Writer: stdio.Stderr, Verbose: verbose}),
		fx.Supply(mode, stdio, exit),
		fx.Supply(state.Options{ReadOnly: mode.DryRun}),
		fx.WithLogger(logging.FxLogger),
		logging.Module,
		config.Module,
		clock.Module,
		fx.Provide(accounts.BillingOptions, accounts.SenderOptions, accounts.OpsOptions),
		billing.Module,
		fx.Provide(fx.Annotate(sender.New, fx.As(new(job.Publisher)))),
		state.Module,
		ops.Module,
		accounts.Module,
		fx.Invoke(startRunner),
	)
}

func parseMode(once bool, date, from, to string) (Mode, string) {
	var m Mode
	switch {
	case once && (from != "" || to != ""):
		return m, "--once and --from/--to cannot be combined"
	case date != "" && !once:
		return m, "--date needs --once"
	case (from == "") != (to == ""):
		return m, "--from and --to go together"
	}
	m.Once = once
	if date != "" {
		d, err := calendar.Parse(date)
		if err != nil {
			return m, "--date: " + err.Error()
		}
		m.Date, m.HasDate = d, true
	}
	if from != "" {
		f, err := calendar.Parse(from)
		if err != nil {
			return m, "--from: " + err.Error()
		}
		t, err := calendar.Parse(to)
		if err != nil {
			return m, "--to: " + err.Error()
		}
		if t.Before(f) {
			return m, fmt.Sprintf("--to %s is before --from %s", t, f)
		}
		m.From, m.To, m.Range = f, t, true
	}
	return m, ""
}

// accountFlag is --account: repeatable, or names separated by commas.
type accountFlag []string

func (a *accountFlag) String() string { return strings.Join(*a, ",") }

func (a *accountFlag) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n == "" {
			return errors.New("--account needs an account name")
		}
		*a = append(*a, n)
	}
	return nil
}

// exitCode carries the run's verdict to Main (written by the run's goroutine).
type exitCode struct{ code atomic.Int32 }

func (e *exitCode) get() int     { return int(e.code.Load()) }
func (e *exitCode) set(code int) { e.code.Store(int32(code)) }
