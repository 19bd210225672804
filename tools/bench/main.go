// Command bench measures the connector end to end on loopback, with the production wiring
// (cli.Main): events per second delivered for one large day, and the wall time of a
// --from/--to range against the fake BSS API throttling above 10 requests per second, as
// the real API does. It prints one line per measurement.
//
//	tools/bazel run //tools/bench -- --rows 10000 --days 30 --rows-per-day 650
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// wallClock is the connector's clock package: the one place that reads the time.
var wallClock = clock.New()

func main() {
	rows := flag.Int("rows", 10000, "rows of the large day")
	days := flag.Int("days", 30, "days of the range")
	perDay := flag.Int("rows-per-day", 650, "rows per day of the range")
	concurrency := flag.Int("concurrency", 16, "send_concurrency")
	flag.Parse()
	if err := run(*rows, *days, *perDay, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(rows, days, perDay, concurrency int) error {
	api := bssfake.New(bssfake.Options{Keys: map[string]string{"bench": "bench-secret"}, RateLimit: 10})
	if err := api.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer api.Close()
	k := sink.New()
	if err := k.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer k.Close()
	dir, err := os.MkdirTemp("", "bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "config.json")
	b, _ := json.Marshal(map[string]any{"v_target": k.URL(), "access_key_id": "bench", "secret_access_Key": "bench-secret",
		"endpoint": api.URL(), "send_concurrency": concurrency, "state_path": filepath.Join(dir, "state.db")})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		return err
	}
	quiet := cli.IO{Stdout: io.Discard, Stderr: io.Discard, Lookup: func(string) (string, bool) { return "", false }}

	// One large day.
	// Days the API serves: the connector refuses days older than 18 months.
	big := calendar.Of(wallClock.Now().UTC()).AddDays(-40)
	api.SetDay(big.String(), bssfake.SampleDay(big.String(), rows, 1))
	start := wallClock.Now()
	if code := cli.Main([]string{"--config", cfg, "--once", "--date", big.String()}, quiet); code != 0 {
		return fmt.Errorf("--once exited %d", code)
	}
	took := time.Since(start)
	if k.Len() != rows {
		return fmt.Errorf("sink got %d of %d", k.Len(), rows)
	}
	pages := (rows + billing.PageSize - 1) / billing.PageSize
	fmt.Printf("one day of %d rows (%d pages), send_concurrency %d: %s wall, %.0f events/s end to end (fetch included)\n",
		rows, pages, concurrency, took.Round(time.Millisecond), float64(rows)/took.Seconds())

	// A range of days, the API throttling above 10 requests/s.
	k.Reset()
	first := big.AddDays(-days - 1)
	last := first.AddDays(days - 1)
	for d := first; !last.Before(d); d = d.AddDays(1) {
		api.SetDay(d.String(), bssfake.SampleDay(d.String(), perDay, uint64(d.Day)))
	}
	before := len(api.Requests())
	start = wallClock.Now()
	if code := cli.Main([]string{"--config", cfg, "--from", first.String(), "--to", last.String()}, quiet); code != 0 {
		return fmt.Errorf("--from/--to exited %d", code)
	}
	took = time.Since(start)
	reqs := api.Requests()[before:]
	throttled := 0
	for _, r := range reqs {
		if r.Code == "Throttling.User" {
			throttled++
		}
	}
	fmt.Printf("--from %s --to %s (%d days x %d rows): %s wall, %d API requests (%.1f/s), %d throttled, %d events delivered\n",
		first, last, days, perDay, took.Round(time.Millisecond), len(reqs), float64(len(reqs))/took.Seconds(), throttled, k.Len())
	return nil
}
