// Package cli is the connector's command line: flags, --help, the fx wiring of the
// modules and the exit statuses. cmd/connector's main calls Main; the end-to-end tests and
// the demo call it too, so that they run exactly the production wiring.
package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

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
// 1 when not everything was delivered, the daemon exits 0. SIGHUP is one of them: the
// connector does not reload its configuration.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

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
	signal.Notify(sigs, stopSignals...)
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
	}
	// Until the application's logger exists, this one (the same format and stream) speaks.
	early := logging.New(logging.Options{Writer: stdio.Stderr, Verbose: cmd.verbose})
	early.Debug("connector starting", "version", Version, "mode", modeName(cmd.mode), "pid", os.Getpid())
	// Building the application reads the configuration and hooks in the mode's run (startRunner).
	exit := &exitCode{}
	app := fx.New(Options(config.Source{Path: cmd.configPath(), Lookup: stdio.Lookup}, stdio, cmd.mode, cmd.verbose, exit),
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
		fx.Supply(state.Options{ReadOnly: mode.DryRun}),
		fx.WithLogger(logging.FxLogger),
		logging.Module,
		config.Module,
		clock.Module,
		billing.Module,
		sender.Module,
		state.Module,
		ops.Module,
		accounts.Module,
		fx.Provide(func(s *sender.Sender) job.Publisher { return s }),
		fx.Invoke(startRunner),
	)
}

func printHelp(w io.Writer) {
	// The numbers of the text come from the constants that enforce them.
	text := strings.NewReplacer("{max_days_back}", strconv.Itoa(config.MaxDaysBack),
		"{max_config}", size(config.MaxFileBytes))
	_, _ = text.WriteString(w, `connector - the AliCloud Billing Source: pulls the daily Alibaba Cloud account bill
(BSS OpenAPI QueryAccountBill, grouped by product, every page) and delivers each row as a
CloudEvent (source cloud.alicloud.billing, type alicloud.account_billing.daily) to v_target.

Usage:
  connector [--config PATH]                        daemon: every day at pull_hour in pull_zone,
                                                   pull yesterday's bill; stops on SIGINT,
                                                   SIGTERM or SIGHUP
  connector --once [--date YYYY-MM-DD]             pull one day (default: yesterday in pull_zone)
  connector --from YYYY-MM-DD --to YYYY-MM-DD      pull every day of the range, oldest first

The daemon remembers what it delivered (state_path), catches up on the days it missed
while down (catchup_days), re-pulls the settle_days before each day for late corrections
(a changed row is sent again with a new id, the same subject and a higher revision: the
seconds since 2020 of the pull that found the new content, so it stays higher after a
lost state file; not consecutive), and retries a failed day on a backoff until it is
delivered. --once and --from/--to send every row asked for, even when the state says it
was delivered (unchanged rows with the same ids and revisions), and update it.

Flags:
  --config PATH   config.json to read (default: /vance/config/config.json, then ./config.json)
  --once          pull one day and exit
  --date DAY      the day for --once
  --from, --to    the first and last day of a range
                  (--date, --from, --to, --catch-up-from: not after today in pull_zone and
                  at most {max_days_back} days back, the 18 months that the API keeps)
  --dry-run       with --once or --from/--to: fetch and print counts (new, changed, pending
                  delivery, already delivered; the log adds would_send, the events a run
                  would send); send nothing, write no state
  --catch-up-from DAY   daemon: also pull the days from DAY on that the state has not delivered
  --account NAME  run only this account of accounts (repeatable, or NAME,NAME); default all
  --verbose       debug logs, including fx's start-up events
  --version       print the version
  --help          this text

Config keys (config.json; keys are case-insensitive; each can be overridden by the
environment variable of its name in upper case, e.g. V_TARGET, PULL_HOUR):
`)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, k := range config.Keys {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", k.Name, k.Default, k.Help)
	}
	_ = tw.Flush()
	printLimits(w)
	_, _ = text.WriteString(w, `
Credentials, per account (the first that applies): oidc_provider_arn + oidc_token_file +
role_arn (OIDC/RRSA); role_arn (STS AssumeRole on top of the AccessKey, ecs_ram_role or the
default chain); ecs_ram_role (ECS instance role, IMDSv2); access_key_id + secret_access_Key
(+ security_token). With none of them, the SDK's default chain: ALIBABA_CLOUD_ACCESS_KEY_ID/
_SECRET/_SECURITY_TOKEN, ALIBABA_CLOUD_ROLE_ARN + _OIDC_PROVIDER_ARN + _OIDC_TOKEN_FILE (RRSA on
ACK), the CLI profile, ~/.alibabacloud/credentials, the ECS instance role. Temporary
credentials are renewed before they expire. Secrets and tokens are never printed.

Many accounts: "accounts": [{"name": "payer"}, {"name": "shop", "bill_owner_id": "123..."}];
an entry without credentials uses the top-level ones. Each account has its own state file
(state.NAME.db beside state_path), pacing, retries and catch-up; its events carry it in the
subject (NAME/...) and the "account" extension.

Signals:
  SIGINT, SIGTERM and SIGHUP stop the connector cleanly, in every mode: the day in flight
  is abandoned (logged as "day abandoned at shutdown"; what was acknowledged is recorded),
  a one-off run exits 1 unless every row was delivered, the daemon exits 0. SIGHUP does
  not reload the configuration: restart the connector to change it.

Exit status:
  0  every row delivered (daemon: stopped by SIGINT, SIGTERM or SIGHUP)
  1  some rows were not delivered, or the API kept failing (with accounts: also one
     account refused while others delivered)
  2  what only a change of configuration fixes: bad configuration or usage, credentials
     the API refused, a TLS certificate that is not trusted, an endpoint or receiver that
     redirects (301/302/303), a problem with the state file

config.json must be a regular file of at most {max_config} holding one JSON object, each key
once (two spellings of a key that differ only in case are refused).

Logs are JSON lines on stderr; --from/--to also print one progress line per day on stdout
(with accounts, one per account per day, --once too).
`)
}
