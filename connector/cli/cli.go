// Package cli is the connector's command line: flags, --help, the fx wiring of the
// modules and the exit statuses. cmd/connector's main calls Main; the end-to-end tests and
// the demo call it too, so that they run exactly the production wiring.
package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/budget"
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
	Check    bool         // --check: validate the config, probe the API and v_target, send nothing
	Since    calendar.Day // --catch-up-from (daemon)
	// --listen: the ops listener's host:port ("" none) over the config's listen, in every
	// mode. Without it only the daemon opens the config's (see opsOptions).
	Listen    string
	HasListen bool
	Close     bool           // --close-month: close one month now
	Month     calendar.Month // the month of --close-month
	// ImportFrom (--import-state, any mode that opens the state): other processes' state
	// files to take this process's accounts' state from (state.Options.ImportFrom).
	ImportFrom []string
}

// OneOff reports whether the mode runs once and exits (not the daemon).
func (m Mode) OneOff() bool { return m.Once || m.Range || m.Close }

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
	cmd, err := parseFlags(args)
	switch {
	case err != nil:
		return fail(stdio.Stderr, err)
	case cmd.help:
		printHelp(stdio.Stdout)
		return ExitOK
	case cmd.version:
		fmt.Fprintln(stdio.Stdout, "alicloud-billing-source connector", Version)
		return ExitOK
	case cmd.mode.Check: // no application: no ops listener, no state file, no event
		return runCheck(cmd, stdio, sigs)
	}
	// Until the application's logger exists, this one (the same format and stream) speaks.
	early := logging.New(logging.Options{Writer: stdio.Stderr, Verbose: cmd.verbose})
	early.Debug("connector starting", "version", Version, "mode", modeName(cmd.mode), "pid", os.Getpid())
	// Building the application reads the configuration and hooks in the mode's run (startRunner).
	exit := &exitCode{}
	app := fx.New(Options(config.Source{Path: cmd.configPath(), Lookup: stdio.Lookup, Shard: cmd.shard}, stdio, cmd.mode, cmd.verbose, exit),
		fx.Supply(accounts.Only(cmd.only)), fx.Options(extra...))
	if err := app.Err(); err != nil {
		return fail(stdio.Stderr, startFailure(err))
	}
	s := &session{app: app, sigs: sigs, log: early, mode: cmd.mode, stderr: stdio.Stderr, exit: exit}
	return s.run()
}

// Options are the application: the modules of every concern, the casts from their
// concrete types to the small interfaces their users declare, and the run of the mode.
func Options(src config.Source, stdio IO, mode Mode, verbose bool, exit *exitCode) fx.Option {
	return fx.Options(
		fx.Supply(src),
		fx.Supply(logging.Options{Writer: stdio.Stderr, Verbose: verbose}),
		fx.Supply(mode, stdio, exit),
		fx.Supply(state.Options{ReadOnly: mode.DryRun, ImportFrom: mode.ImportFrom}),
		fx.WithLogger(logging.FxLogger),
		logging.Module,
		config.Module,
		clock.Module,
		fx.Provide(accounts.BillingOptions, accounts.SenderOptions, accounts.BudgetOptions, opsOptions),
		budget.Module, // one budget of events in memory for every account
		billing.Module,
		fx.Provide(fx.Annotate(sender.New, fx.As(new(job.Publisher)))),
		state.Module,
		ops.Module,
		accounts.Module,
		fx.Invoke(startRunner),
	)
}

// opsOptions are the ops listener's. The daemon opens the config's listen; a one-off run
// (--once, --from/--to, a dry run) opens none whatever the config says, so that it runs
// beside a daemon that uses the same config file: it is over in minutes, nothing scrapes
// or probes it. --listen on the command line asks for one (or, "", none) in every mode.
func opsOptions(c *config.Config, m Mode) ops.Options {
	switch {
	case m.HasListen:
		return ops.Options{Listen: m.Listen, Name: "--listen"}
	case m.Once || m.Range:
		return ops.Options{}
	}
	return accounts.OpsOptions(c)
}
