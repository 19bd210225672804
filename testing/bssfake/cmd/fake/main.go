// Command fake serves the fake BSS OpenAPI of testing/bssfake on its own, with sample
// bills of the last few billing days, so that the connector can be tried without an
// Alibaba Cloud account (README: "Try it locally"). It prints one line with the endpoint
// and the AccessKey to configure, and serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// Defaults and bounds of the flags. 8082 (beside the display sink's 8081) rather than
// 9100, which Prometheus' node_exporter takes on many operators' machines.
const (
	defaultListen = "127.0.0.1:8082"
	defaultDays   = 3
	defaultRows   = 5
	maxDays       = 31
	maxRows       = 10000
)

const usage = `Usage: fake [--listen HOST:PORT] [--days N] [--rows N] [--seed N]

Serves a fake Alibaba Cloud BSS OpenAPI (QueryAccountBill and DescribeInstanceBill) over
plain HTTP on its own, so that the connector can be tried without an Alibaba Cloud
account. It checks requests as the real API does (RPC signature, AccessKey, timestamp,
parameters) and holds sample bills of the --days billing days ending yesterday (billing
days are UTC+8, as Alibaba Cloud's), --rows rows a day of the account bill and as many of
the instance bill, the same for the same --seed.

Once listening it prints one line on stdout: the address, and the endpoint and AccessKey
to put in config.json. The AccessKey is the fake's public test key, not a secret:
access_key_id %q, secret_access_Key %q; the fake accepts no other.
config.example.json at the repository root is set up for the defaults.

It serves until SIGINT (Ctrl-C) or SIGTERM and then exits 0. A bad flag, or an address
that cannot be listened on (a port in use), is one line on stderr and exit status 2.

Flags:
  --listen HOST:PORT  where to listen (default %q, as in config.example.json)
  --days N            billing days of sample bills, ending yesterday (1..%d, default %d)
  --rows N            rows a day of each bill (0..%d, default %d)
  --seed N            varies the sample amounts and names (default 1)
`

type options struct {
	listen     string
	days, rows int
	seed       uint64
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, clock.New(), os.Args[1:], os.Stdout, os.Stderr))
}

// run serves until ctx ends and returns the exit status.
func run(ctx context.Context, clk clock.Clock, args []string, stdout, stderr io.Writer) int {
	opts, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, usage, bssfake.DefaultKeyID, bssfake.DefaultKeySecret, defaultListen, maxDays, defaultDays, maxRows, defaultRows)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "fake: %v (see fake --help)\n", err)
		return 2
	}
	last := calendar.Yesterday(clk.Now(), time.FixedZone("UTC+8", 8*60*60))
	first := last.AddDays(-(opts.days - 1))
	api := bssfake.New(bssfake.Options{}) // the default keys: bssfake.DefaultKeyID
	for d := first; !last.Before(d); d = d.AddDays(1) {
		seed := opts.seed ^ uint64(d.Year*10000+int(d.Month)*100+d.Day)
		api.SetDay(d.String(), bssfake.SampleDay(d.String(), opts.rows, seed))
		api.GenerateInstanceDay(d.String(), opts.rows, seed)
	}
	if err := api.Start(opts.listen); err != nil {
		fmt.Fprintf(stderr, "fake: --listen %s: %v\n", opts.listen, err)
		return 2
	}
	defer func() { _ = api.Close() }()
	fmt.Fprintf(stdout, "fake BSS OpenAPI at %s: billing days %s..%s (UTC+8), %d rows a day of the account and the instance bill; config: \"endpoint\": %q, \"access_key_id\": %q, \"secret_access_Key\": %q\n",
		api.URL(), first, last, opts.rows, api.URL(), bssfake.DefaultKeyID, bssfake.DefaultKeySecret)
	<-ctx.Done()
	fmt.Fprintln(stderr, "fake: stopped")
	return 0
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.listen, "listen", defaultListen, "")
	fs.IntVar(&o.days, "days", defaultDays, "")
	fs.IntVar(&o.rows, "rows", defaultRows, "")
	fs.Uint64Var(&o.seed, "seed", 1, "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.days < 1 || o.days > maxDays:
		return o, fmt.Errorf("--days %d is not in 1..%d", o.days, maxDays)
	case o.rows < 0 || o.rows > maxRows:
		return o, fmt.Errorf("--rows %d is not in 0..%d", o.rows, maxRows)
	}
	return o, nil
}
