package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/shard"
)

// command is what the command line asks for.
type command struct {
	help, version, verbose bool
	config                 string // --config as given
	mode                   Mode
	only                   accountFlag
	shard                  string // --shard K/N as given (checked), "" none
	imports                fileFlag
}

// flagValues are the flags that choose the mode, as given.
type flagValues struct {
	once, dryRun, check, listenSet       bool
	date, from, to, since, month, listen string
}

// parseFlags reads the command line. Its errors are *usageError. --help and --version
// win over every other flag and argument.
func parseFlags(args []string) (command, error) {
	var (
		c  command
		v  flagValues
		fs = flag.NewFlagSet("connector", flag.ContinueOnError)
	)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.config, "config", "", "")
	fs.BoolVar(&v.once, "once", false, "")
	fs.StringVar(&v.date, "date", "", "")
	fs.StringVar(&v.from, "from", "", "")
	fs.StringVar(&v.to, "to", "", "")
	fs.BoolVar(&c.verbose, "verbose", false, "")
	fs.BoolVar(&v.dryRun, "dry-run", false, "")
	fs.BoolVar(&v.check, "check", false, "")
	fs.StringVar(&v.since, "catch-up-from", "", "")
	fs.StringVar(&v.month, "close-month", "", "")
	fs.Var(&c.only, "account", "")
	fs.StringVar(&c.shard, "shard", "", "")
	fs.Var(&c.imports, "import-state", "")
	fs.StringVar(&v.listen, "listen", "", "")
	fs.BoolVar(&c.version, "version", false, "")
	fs.BoolVar(&c.help, "help", false, "")
	fs.BoolVar(&c.help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return command{help: true}, nil
		}
		return c, usage("%v", err)
	}
	if c.help || c.version {
		return c, nil
	}
	if fs.NArg() > 0 {
		return c, usage("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { v.listenSet = v.listenSet || f.Name == "listen" })
	if err := checkShard(c.shard); err != nil {
		return c, err
	}
	var err error
	if c.mode, err = v.mode(); err != nil {
		return c, err
	}
	if len(c.imports) > 0 && c.mode.Check {
		return c, usage("--import-state is not for --check (it reads no state file)")
	}
	c.mode.ImportFrom = c.imports
	return c, nil
}

// mode is the mode the flags ask for, or the usage error of flags that do not go together.
func (v flagValues) mode() (Mode, error) {
	switch {
	case v.check:
		if v.once || v.dryRun || v.date != "" || v.from != "" || v.to != "" || v.since != "" || v.month != "" {
			return Mode{}, usage("--check goes alone (with --config, --account, --shard and --verbose)")
		}
		return Mode{Check: true}, nil
	case v.month != "":
		if v.once || v.date != "" || v.from != "" || v.to != "" || v.since != "" || v.listen != "" {
			return Mode{}, usage("--close-month goes alone (with --dry-run, --config, --account and --verbose)")
		}
		m, err := calendar.ParseMonth(v.month)
		if err != nil {
			return Mode{}, usage("--close-month: %v", err)
		}
		return Mode{Close: true, Month: m, DryRun: v.dryRun}, nil
	}
	m, err := modeOf(v.once, v.dryRun, v.date, v.from, v.to, v.since)
	if err != nil {
		return m, err
	}
	m.Listen, m.HasListen = v.listen, v.listenSet
	return m, checkListen(v.listen)
}

// checkShard refuses a --shard that is not K/N (or ordinal/N); config.Load applies it.
func checkShard(s string) error {
	if s == "" {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		return usage("--shard needs K/N (\"0/3\")")
	}
	if _, err := shard.Parse(s); err != nil {
		return usage("--shard: %v", err)
	}
	return nil
}

// checkListen refuses a --listen that is not host:port ("" is no listener).
func checkListen(l string) error {
	if l == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(l)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return usage("--listen: %q is not host:port (\"127.0.0.1:9091\", \":9091\"), or \"\" for no listener", l)
	}
	return nil
}

// modeOf is the mode the flags ask for, or the usage error of flags that do not go together.
func modeOf(once, dryRun bool, date, from, to, since string) (Mode, error) {
	mode, msg := parseMode(once, date, from, to)
	if msg != "" {
		return mode, usage("%s", msg)
	}
	if dryRun && !mode.Once && !mode.Range {
		return mode, usage("--dry-run goes with --once, --from/--to or --close-month")
	}
	mode.DryRun = dryRun
	if since == "" {
		return mode, nil
	}
	if mode.Once || mode.Range {
		return mode, usage("--catch-up-from is for the daemon; use --from/--to for a one-off range")
	}
	d, err := calendar.Parse(since)
	if err != nil {
		return mode, usage("--catch-up-from: %v", err)
	}
	mode.Since = d
	return mode, nil
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

// configPath is --config as the connector opens it: `bazel run` starts it in the runfiles
// tree, so a relative --config means the caller's directory.
func (c command) configPath() string {
	if c.config != "" && !strings.HasPrefix(c.config, "/") {
		if wd := os.Getenv("BUILD_WORKING_DIRECTORY"); wd != "" {
			return wd + "/" + c.config
		}
	}
	return c.config
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

// fileFlag is a flag given once per file (--import-state).
type fileFlag []string

func (f *fileFlag) String() string { return strings.Join(*f, ",") }

func (f *fileFlag) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("needs a file")
	}
	*f = append(*f, v)
	return nil
}
