package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/logging"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// probeTimeout bounds one call of --check: a connection, a request, an answer. An unknown
// host fails at once; a host that does not answer fails after it.
const probeTimeout = 5 * time.Second

// probeBudget bounds one probe whole: a broker's connect and lookup, an account's calls
// (one per bill).
const probeBudget = 2 * probeTimeout

// checkLine is one line of --check's verdict: what was checked, and what was found or
// what is wrong and how to fix it.
type checkLine struct {
	status string // "OK", "WARN" (does not fail the check) or "FAIL"
	name   string // "config", "api ACCOUNT", "target"
	text   string
}

// checkFailed is a check that failed: the configuration, the credentials or what they
// name must change before the connector can work (exit status 2, through exitStatus).
type checkFailed struct{ line checkLine }

func (e *checkFailed) Error() string        { return e.line.name + ": " + e.line.text }
func (e *checkFailed) NeedsConfigFix() bool { return true }

// runCheck is --check: it loads the configuration as a run would, prints the effective
// settings with secrets masked, makes one signed read-only API call per account and bill
// and one probe of v_target, and prints a line for each. It opens no ops listener, no
// state file and sends no event. A signal ends the probes in flight.
func runCheck(cmd command, stdio IO, sigs <-chan os.Signal) int {
	log := logging.New(logging.Options{Writer: stdio.Stderr, Verbose: cmd.verbose})
	cfg, err := config.Load(config.Source{Path: cmd.configPath(), Lookup: stdio.Lookup, Shard: cmd.shard})
	if err != nil {
		printLines(stdio.Stdout, []checkLine{{"FAIL", "config", err.Error() + "; fix it and run --check again"}})
		return exitStatus(err)
	}
	accts, err := selectAccounts(cfg, accounts.Only(cmd.only))
	if err != nil {
		return fail(stdio.Stderr, err)
	}
	printSettings(stdio.Stdout, cfg, accts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	lines := append(configLines(cfg, len(accts)), probeAll(ctx, cfg, accts, log)...)
	fmt.Fprintln(stdio.Stdout, "\nChecks:")
	printLines(stdio.Stdout, lines)
	var failed []error
	for _, l := range lines {
		if l.status == "FAIL" {
			failed = append(failed, &checkFailed{l})
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stdio.Stdout, "check: stopped by a signal before every probe answered")
		return ExitIncomplete
	}
	if len(failed) == 0 {
		fmt.Fprintln(stdio.Stdout, "check: all good")
	} else {
		fmt.Fprintf(stdio.Stdout, "check: %d of %d checks failed: fix what each FAIL line says, then run --check again\n", len(failed), len(lines))
	}
	return exitStatus(errors.Join(failed...))
}

// selectAccounts are the accounts --account names (all when it names none) of this
// process's shard, in the configuration's order.
func selectAccounts(cfg *config.Config, only accounts.Only) ([]config.Account, error) {
	return accounts.Select(cfg, only)
}

// configLines say where the configuration came from, and its warnings.
func configLines(cfg *config.Config, accounts int) []checkLine {
	from := cfg.Source
	if from == "" {
		from = "no config file (looked for " + strings.Join(config.DefaultPaths, ", ") + "): every key from the environment"
	}
	lines := []checkLine{{"OK", "config", fmt.Sprintf("%s: valid (%s target; accounts to check: %d)", from, cfg.Protocol, accounts)}}
	for _, w := range cfg.Warnings {
		lines = append(lines, checkLine{"WARN", "config", w})
	}
	return lines
}

// probeAll runs the probes at once, each bounded by probeBudget, and returns their lines in
// the configuration's order: the accounts, then v_target.
func probeAll(ctx context.Context, cfg *config.Config, accts []config.Account, log *slog.Logger) []checkLine {
	lc := &stopHooks{}
	defer lc.stop()
	clk := clock.New()
	pol := billing.DefaultPolicy
	pol.Attempts, pol.RequestsPerSec = 1, cfg.APIQPS
	pol.ReadTimeout, pol.ConnectTimeout = probeTimeout, probeTimeout
	f := billing.NewFactory(billing.Params{Options: accounts.BillingOptions(cfg), Clock: clk, Logger: log, Policy: &pol, Lifecycle: lc})
	day := calendar.Yesterday(clk.Now(), cfg.PullZone)
	lines := make([]checkLine, len(accts)+1)
	var wg sync.WaitGroup
	for i, a := range accts {
		wg.Go(func() { lines[i] = probeAccount(ctx, f, a, cfg.Bills, day) })
	}
	wg.Go(func() { lines[len(accts)] = probeTarget(ctx, cfg, clk, log, lc) })
	wg.Wait()
	return lines
}

// probeAccount makes one call per configured bill of account a, for day.
func probeAccount(ctx context.Context, f *billing.Factory, a config.Account, bills []bill.Kind, day calendar.Day) checkLine {
	name := "api " + a.Name
	c, err := f.For(a)
	if err != nil {
		return checkLine{"FAIL", name, err.Error() + "; check the account's credential keys"}
	}
	ctx, cancel := context.WithTimeout(ctx, probeBudget)
	defer cancel()
	var actions []string
	probed := map[bill.Kind]bool{}
	for _, k := range bills {
		k = k.Reads() // the FOCUS bill is the instance bill's rows: one call for both
		if probed[k] {
			continue
		}
		probed[k] = true
		action := "QueryAccountBill"
		if k == bill.Instance {
			action = "DescribeInstanceBill"
		}
		if err := c.Probe(ctx, k, day); err != nil {
			return checkLine{"FAIL", name, fmt.Sprintf("%s for %s: %s", action, day, timedOut(err, "the API", "check endpoint and this machine's network"))}
		}
		actions = append(actions, action)
	}
	return checkLine{"OK", name, fmt.Sprintf("%s for %s: signed call accepted (%s)", strings.Join(actions, " and "), day, a.Credentials.Kind())}
}

// probeTarget builds the sender as a run does, with probeTimeout for its requests, and
// probes v_target.
func probeTarget(ctx context.Context, cfg *config.Config, clk clock.Clock, log *slog.Logger, lc fx.Lifecycle) checkLine {
	s, err := sender.New(sender.Params{Options: accounts.SenderOptions(cfg), Clock: clk, Logger: log,
		Policy: &sender.Policy{Timeout: probeTimeout}, Lifecycle: lc})
	if err != nil {
		return checkLine{"FAIL", "target", err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, probeBudget)
	defer cancel()
	found, err := s.Probe(ctx)
	if err != nil {
		return checkLine{"FAIL", "target", timedOut(err, cfg.TargetRedacted(), "check v_target's host and port, and that the receiver is running")}
	}
	return checkLine{"OK", "target", found}
}

// timedOut is err's text, or for a probe that ran out of time what did not answer and fix.
func timedOut(err error, who, fix string) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer from %s within %s; %s", who, probeBudget, fix)
	}
	return err.Error()
}

// printLines writes the lines, their names aligned, each one safe line.
func printLines(w io.Writer, lines []checkLine) {
	width := 0
	for _, l := range lines {
		width = max(width, len(l.name))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-4s  %-*s  %s\n", l.status, width, textsafe.Line(l.name, maxLine), textsafe.Line(l.text, maxLine))
	}
}

// stopHooks is the fx.Lifecycle of the check's clients and sender: their stop hooks
// (closing kept-alive connections) run when the probes are done.
type stopHooks struct {
	mu    sync.Mutex
	hooks []fx.Hook
}

func (h *stopHooks) Append(x fx.Hook) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks = append(h.hooks, x)
}

func (h *stopHooks) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.hooks) - 1; i >= 0; i-- {
		if h.hooks[i].OnStop != nil {
			_ = h.hooks[i].OnStop(ctx)
		}
	}
}
