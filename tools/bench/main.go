// Command bench measures the connector end to end on loopback against its physical
// limits, measured in the same run: a fake BSS API that enforces 10 requests per second
// with 50 ms latency (so a day of P pages cannot take less than P/10 s), and a raw
// 16-worker POST loop to the same sink (how fast this machine takes events at all).
// The connector runs as a child process, so that its peak RSS is its own. It prints a
// Markdown table, one row per figure, each with its target.
//
//	tools/bazel run //tools/bench                      # all of it (about 3 minutes)
//	tools/bazel run //tools/bench -- --rows 50000      # a smaller large day
//	tools/bazel run //tools/bench -- --connector /path/to/an/older/connector --bill account
//	tools/bazel run //tools/bench -- --accounts 100 --rows 3000   # many accounts, each its own keys
//	tools/bazel run //tools/bench -- --accounts 1000 --rows 300 --big 200000   # one big among them
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// wallClock is the connector's clock package: the one place that reads the time.
var wallClock = clock.New()

// childEnv makes this binary the connector (the child process of a measurement).
const childEnv = "BENCH_RUN_CONNECTOR"

type options struct {
	rows, smallRows   int
	days, pagesPerDay int
	deliver           int
	concurrency       int
	qps               int
	latency           time.Duration
	connector         string
	bill              string
	log               string
	accounts          int
	big               int
}

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	if spec := os.Getenv(rawClientEnv); spec != "" {
		os.Exit(rawClientMain(spec))
	}
	var o options
	flag.IntVar(&o.rows, "rows", 200_000, "rows of the large day")
	flag.IntVar(&o.smallRows, "small-rows", 20_000, "rows of the small day (its RSS is the large day's reference)")
	flag.IntVar(&o.days, "days", 30, "days of the --from/--to range")
	flag.IntVar(&o.pagesPerDay, "pages-per-day", 2, "pages per day of the range (account bill, 300 rows a page)")
	flag.IntVar(&o.deliver, "deliver", 20_000, "events of the delivery-alone measurement")
	flag.IntVar(&o.concurrency, "concurrency", 16, "send_concurrency, and the raw loop's workers")
	flag.IntVar(&o.qps, "qps", 10, "requests per second the fake API allows (it throttles above)")
	flag.DurationVar(&o.latency, "latency", 50*time.Millisecond, "the fake API's latency per request")
	flag.StringVar(&o.connector, "connector", "", "a connector binary to measure (default: this code)")
	flag.StringVar(&o.bill, "bill", "instance", "the large day's bill: instance, or account (what a connector before the instance bill can read)")
	flag.StringVar(&o.log, "log", "", "keep the connector's last log (--verbose) in this file")
	flag.IntVar(&o.accounts, "accounts", 0, "the accounts mode: one day of --rows rows for each of this many accounts, each with its own AccessKey (the fake allows --qps per key)")
	flag.IntVar(&o.big, "big", 0, "with --accounts: the first account's day has this many rows (its own bill), the others --rows each: how soon the small ones are done")
	flag.Parse()
	do := run
	if o.accounts > 0 {
		do = runAccounts
	}
	if err := do(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one measured figure.
type result struct {
	what, figure, limit, ratio, target string
	ok                                 bool
}

func run(o options) error {
	api := bssfake.New(bssfake.Options{Keys: map[string]string{"bench": "bench-secret"}, RateLimit: o.qps, Latency: o.latency})
	if err := api.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer api.Close()
	k := sink.New()
	k.KeepDataless()
	if err := k.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer k.Close()
	dir, err := os.MkdirTemp("", "bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var results []result
	add := func(r result) {
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%s: %s\n", r.what, r.figure)
	}

	// The physical limits, and delivery alone: each measured three times, interleaved,
	// after a garbage collection of this process (the sink's), the best of each kept.
	var raw2000, rawN, took time.Duration
	for i := 0; i < 3; i++ {
		runtime.GC()
		r2, err := rawLoop(k, 2000, o.concurrency)
		if err != nil {
			return err
		}
		runtime.GC()
		rn, err := rawLoop(k, o.deliver, o.concurrency)
		if err != nil {
			return err
		}
		runtime.GC()
		d, err := deliverAlone(k, o.deliver, o.concurrency)
		if err != nil {
			return err
		}
		if i == 0 || r2 < raw2000 {
			raw2000 = r2
		}
		if i == 0 || rn < rawN {
			rawN = rn
		}
		if i == 0 || d < took {
			took = d
		}
	}
	rawRate := float64(o.deliver) / rawN.Seconds()
	add(result{what: fmt.Sprintf("raw %d-worker POST loop, %d events (best of 3)", o.concurrency, o.deliver),
		figure: fmt.Sprintf("%.0f events/s", rawRate), limit: "-", ratio: "-", target: "(the limit)", ok: true})
	rate := float64(o.deliver) / took.Seconds()
	add(result{what: fmt.Sprintf("delivery alone, %d events, send_concurrency %d (best of 3)", o.deliver, o.concurrency),
		figure: fmt.Sprintf("%.0f events/s", rate), limit: fmt.Sprintf("%.0f events/s", rawRate),
		ratio: fmt.Sprintf("%.2f", rate/rawRate), target: "≥ 0.70", ok: rate >= 0.7*rawRate})

	// One large day, and a small one for its RSS.
	today := calendar.Of(wallClock.Now().UTC())
	var small measured
	for i, n := range []int{o.smallRows, o.rows} {
		d := today.AddDays(-40 - i)
		m, err := oneDay(o, api, k, dir, d, n)
		if err != nil {
			return err
		}
		pages := (n + billing.PageSize - 1) / billing.PageSize
		limit := time.Duration(float64(pages) / float64(o.qps) * float64(time.Second))
		allowed := time.Duration(1.15*float64(limit)) + raw2000
		add(result{what: fmt.Sprintf("one day of %d %s rows (%d pages): wall", n, o.bill, pages),
			figure: m.wall.Round(10 * time.Millisecond).String(), limit: limit.String(),
			ratio:  fmt.Sprintf("%.3f", m.wall.Seconds()/limit.Seconds()),
			target: fmt.Sprintf("≤ 1.15 × limit + %s (raw loop, 2,000 events) = %s", raw2000.Round(time.Millisecond), allowed.Round(10*time.Millisecond)),
			ok:     m.wall <= allowed})
		add(result{what: fmt.Sprintf("one day of %d %s rows: API requests, throttled, events delivered", n, o.bill),
			figure: fmt.Sprintf("%d requests, %d throttled, %d of %d", m.requests, m.throttled, m.delivered, n),
			limit:  "-", ratio: "-", target: "every row once", ok: m.delivered == n})
		target, ok := "≤ 100 MB", m.rssKB <= 100*1024
		if i == 1 {
			target = fmt.Sprintf("≤ 100 MB and ≤ 1.2 × %.1f MB", float64(small.rssKB)/1024)
			ok = ok && float64(m.rssKB) <= 1.2*float64(small.rssKB)
		}
		add(result{what: fmt.Sprintf("one day of %d %s rows: peak RSS of the connector", n, o.bill),
			figure: fmt.Sprintf("%.1f MB (sampled: heap and stacks %.1f MB, mapped files %.1f MB)", float64(m.rssKB)/1024,
				float64(m.anonKB)/1024, float64(m.fileKB)/1024), limit: "-", ratio: "-", target: target, ok: ok})
		if i == 0 {
			small = m
		}
	}

	// A range of days, two pages each.
	m, err := rangeOfDays(o, api, k, dir, today.AddDays(-100))
	if err != nil {
		return err
	}
	pages := o.days * o.pagesPerDay
	limit := time.Duration(float64(pages) / float64(o.qps) * float64(time.Second))
	want := o.days * o.pagesPerDay * billing.PageSize
	add(result{what: fmt.Sprintf("--from/--to, %d days × %d pages (account bill): wall", o.days, o.pagesPerDay),
		figure: m.wall.Round(10 * time.Millisecond).String(), limit: limit.String(),
		ratio: fmt.Sprintf("%.3f", m.wall.Seconds()/limit.Seconds()), target: "≤ 1.15", ok: m.wall.Seconds() <= 1.15*limit.Seconds()})
	add(result{what: "--from/--to: API requests, throttled, events delivered",
		figure: fmt.Sprintf("%d requests, %d throttled, %d of %d", m.requests, m.throttled, m.delivered, want),
		limit:  "-", ratio: "-", target: "every throttled request retried, none lost", ok: m.delivered == want && m.exit == 0})

	fmt.Printf("| measurement | figure | physical limit | ratio | target | met |\n|---|---|---|---|---|---|\n")
	failed := 0
	for _, r := range results {
		met := "yes"
		if !r.ok {
			met, failed = "NO", failed+1
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.what, r.figure, r.limit, r.ratio, r.target, met)
	}
	if failed > 0 {
		return fmt.Errorf("%d targets not met", failed)
	}
	return nil
}

// measured is one run of the connector.
type measured struct {
	wall                time.Duration
	rssKB               int64
	anonKB, fileKB      int64 // the largest RssAnon and RssFile sampled
	requests, throttled int
	delivered, exit     int
	cpu, beside         time.Duration // the connector's CPU time; this process's (the fake and the sink) meanwhile
}

// selfCPU is this process's CPU time so far (user and system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func oneDay(o options, api *bssfake.Server, k *sink.Sink, dir string, d calendar.Day, n int) (measured, error) {
	if o.bill == "instance" {
		api.GenerateInstanceDay(d.String(), n, 1)
	} else {
		api.SetDay(d.String(), bssfake.SampleDay(d.String(), n, 1))
	}
	m, err := child(o, api, k, dir, []string{"--once", "--date", d.String()}, o.bill, nil, nil)
	if err == nil && m.exit != 0 {
		err = fmt.Errorf("--once --date %s exited %d (log: %s)", d, m.exit, filepath.Join(dir, "connector.log"))
	}
	return m, err
}

func rangeOfDays(o options, api *bssfake.Server, k *sink.Sink, dir string, first calendar.Day) (measured, error) {
	last := first.AddDays(o.days - 1)
	for d := first; !last.Before(d); d = d.AddDays(1) {
		api.SetDay(d.String(), bssfake.SampleDay(d.String(), o.pagesPerDay*billing.PageSize, uint64(d.Day)))
	}
	return child(o, api, k, dir, []string{"--from", first.String(), "--to", last.String()}, "account", nil, nil)
}

var runs int // children started

// child runs the connector with a fresh state and counts what it did. extra are further
// keys of its config (accounts); scrape, when not nil, is called every half second while
// it runs.
func child(o options, api *bssfake.Server, k *sink.Sink, dir string, args []string, bills string, extra map[string]any, scrape func()) (measured, error) {
	k.Reset()
	stateDir := filepath.Join(dir, "state")
	os.RemoveAll(stateDir)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return measured{}, err
	}
	state := filepath.Join(stateDir, "state.db")
	cfg := filepath.Join(dir, "config.json")
	b, err := configOf(o, k, api, state, bills, extra)
	if err != nil {
		return measured{}, err
	}
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		return measured{}, err
	}
	bin := o.connector
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return measured{}, err
		}
		bin = self
	}
	if o.log != "" {
		args = append([]string{"--verbose"}, args...)
	}
	logName := filepath.Join(dir, "connector.log")
	if o.log != "" {
		runs++
		logName = fmt.Sprintf("%s.%d", o.log, runs)
	}
	logf, err := os.Create(logName)
	if err != nil {
		return measured{}, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, append([]string{"--config", cfg}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = io.Discard, logf
	before := len(api.Requests())
	start, startCPU := wallClock.Now(), selfCPU()
	if err := cmd.Start(); err != nil {
		return measured{}, err
	}
	var m measured
	stop := make(chan struct{})
	sampled := make(chan struct{})
	// The child's peak RSS is the kernel's high-water mark of its memory (VmHWM), read
	// every 20 ms until it exits (the rusage of wait4 is no use: on Linux its maxrss
	// counts the parent's resident set at the fork, and this parent holds the sink).
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 1; ; n++ {
			if scrape != nil && n%25 == 0 {
				scrape()
			}
			anon, file, hwm := residentOf(cmd.Process.Pid)
			m.anonKB, m.fileKB, m.rssKB = max(m.anonKB, anon), max(m.fileKB, file), max(m.rssKB, hwm)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	err = cmd.Wait()
	close(stop)
	<-sampled
	m.wall, m.beside = wallClock.Now().Sub(start), selfCPU()-startCPU
	if cmd.ProcessState != nil {
		m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		m.exit = exit.ExitCode()
	} else if err != nil {
		return m, err
	}
	for _, r := range api.Requests()[before:] {
		m.requests++
		if r.Code == "Throttling.User" {
			m.throttled++
		}
	}
	ids := map[string]bool{}
	for _, r := range k.Events() {
		ids[r.Event.ID()] = true
	}
	m.delivered = len(ids)
	return m, nil
}

// residentOf reads RssAnon, RssFile and VmHWM (kB) of a process from /proc; zeros when it
// cannot (the process has exited).
func residentOf(pid int) (anon, file, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		switch {
		case scan(line, "RssAnon: %d kB", &kb):
			anon = kb
		case scan(line, "RssFile: %d kB", &kb):
			file = kb
		case scan(line, "VmHWM: %d kB", &kb):
			hwm = kb
		}
	}
	return anon, file, hwm
}

func scan(line, format string, v *int64) bool {
	_, err := fmt.Sscanf(line, format, v)
	return err == nil
}

// rawLoop POSTs n binary-mode CloudEvents from `workers` goroutines, as plainly as Go can:
// the most this machine and sink take, without the connector.
func rawLoop(k *sink.Sink, n, workers int) (time.Duration, error) {
	k.Reset()
	return rawLoopTo(k, n, workers, k.Len)
}

// rawLoopTo is rawLoop, the sink's events counted by got.
func rawLoopTo(k *sink.Sink, n, workers int, got func() int) (time.Duration, error) {
	start := wallClock.Now()
	err := rawPost(k.URL(), n, workers)
	took := wallClock.Now().Sub(start)
	if err != nil {
		return took, err
	}
	if got() != n {
		return took, fmt.Errorf("raw loop: the sink took %d of %d", got(), n)
	}
	return took, nil
}

// rawPost is the raw loop's client: n POSTs to url from `workers` goroutines.
func rawPost(url string, n, workers int) error {
	body := bytes.Repeat([]byte("x"), 900)
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("ce-specversion", "1.0")
				req.Header.Set("ce-id", fmt.Sprintf("raw-%d", i))
				req.Header.Set("ce-source", bill.Source)
				req.Header.Set("ce-type", "bench.raw")
				resp, err := c.Do(req)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	err, _ := firstErr.Load().(error)
	return err
}

// rawClientEnv makes this binary the raw loop's client alone ("URL N WORKERS"): the
// client's CPU apart from the sink's.
const rawClientEnv = "BENCH_RAW_CLIENT"

// rawClientMain is the raw loop's client in a process of its own.
func rawClientMain(spec string) int {
	var url string
	var n, workers int
	if _, err := fmt.Sscan(spec, &url, &n, &workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench: raw client:", err)
		return 2
	}
	if err := rawPost(url, n, workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench: raw client:", err)
		return 1
	}
	return 0
}

// rawSplit runs the raw loop with its client in a child process: the client's CPU time
// and the sink's (this process's meanwhile), each a measured floor of what delivering
// n events costs on this machine.
func rawSplit(k *sink.Sink, n, workers int, got func() int) (client, sinkCPU time.Duration, err error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", rawClientEnv, k.URL(), n, workers))
	cmd.Stderr = os.Stderr
	before := selfCPU()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("raw client: %w", err)
	}
	sinkCPU = selfCPU() - before
	if got() != n {
		return 0, 0, fmt.Errorf("raw client: the sink took %d of %d", got(), n)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), sinkCPU, nil
}

// deliverAlone sends n built events with the connector's sender.
func deliverAlone(k *sink.Sink, n, concurrency int) (time.Duration, error) {
	k.Reset()
	day := "2026-10-01"
	events := make([]event.Event, n)
	for i := range events {
		r := bill.AccountRow{BillingDate: day, OwnerID: fmt.Sprint(i), ProductCode: "ecs", PretaxAmount: bill.Amount(strconv.Itoa(i))}
		e, err := eventOf(r, wallClock.Now())
		if err != nil {
			return 0, err
		}
		events[i] = e
	}
	target, err := url.Parse(k.URL())
	if err != nil {
		return 0, err
	}
	s, err := sender.New(sender.Params{Options: sender.Options{Target: target, Concurrency: concurrency},
		Clock: wallClock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	start := wallClock.Now()
	failures := s.Send(context.Background(), events, nil)
	took := wallClock.Now().Sub(start)
	if len(failures) > 0 {
		return took, fmt.Errorf("delivery alone: %d failed, first: %v", len(failures), failures[0].Err)
	}
	return took, nil
}

// eventOf is an event of the shape the job sends for row r of the default account (its id,
// subject, data and extensions), pulled at pulled: what the sender alone is measured with.
func eventOf(r bill.Row, pulled time.Time) (event.Event, error) {
	body, _, err := job.Body(r)
	if err != nil {
		return event.Event{}, err
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(job.EventID(r.Identity(), body, 1))
	e.SetSource(job.Source)
	e.SetType(r.Kind().EventType())
	e.SetSubject(job.Subject(r, r.Identity()))
	e.SetExtension(job.RevisionExtension, 1)
	e.SetExtension(job.AccountExtension, config.DefaultAccount)
	e.SetTime(pulled)
	e.DataEncoded = body
	e.SetDataContentType(event.ApplicationJSON)
	return e, nil
}
