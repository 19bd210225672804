// Command demo shows the connector working without an Alibaba Cloud account: it starts the
// fake BSS OpenAPI with a few days of sample bills and a display sink that prints every
// event it receives, runs the real connector (the production wiring) once over those days
// against them, and exits with the connector's status.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// wallClock is the connector's clock package: the one place that reads the time.
var wallClock = clock.New()

func main() {
	days := flag.Int("days", 3, "how many days of sample bills to pull (ending yesterday)")
	rows := flag.Int("rows", 4, "rows per day")
	quiet := flag.Bool("quiet", false, "print only the summary, not every event")
	bills := flag.String("bills", "account,instance", "the bills to deliver (config key bills)")
	flag.Parse()
	os.Exit(run(*days, *rows, *quiet, *bills))
}

func run(days, rows int, quiet bool, bills string) int {
	zone, _ := time.LoadLocation("Asia/Shanghai")
	last := calendar.Yesterday(wallClock.Now(), zone)
	first := last.AddDays(-(days - 1))

	api := bssfake.New(bssfake.Options{Keys: map[string]string{"demo-key-id": "demo-key-secret"}})
	for d := first; !last.Before(d); d = d.AddDays(1) {
		api.SetDay(d.String(), bssfake.SampleDay(d.String(), rows, uint64(d.Day)))
		api.SetInstanceDay(d.String(), bssfake.SampleInstanceDay(d.String(), rows, uint64(d.Day)))
	}
	if err := api.Start("127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, "demo: start fake BSS API:", err)
		return 1
	}
	defer api.Close()

	display := sink.New()
	var mu sync.Mutex
	display.OnReceive(func(e event.Event) {
		if quiet {
			return
		}
		b, _ := json.MarshalIndent(e, "", "  ")
		mu.Lock()
		fmt.Printf("%s\n", b)
		mu.Unlock()
	})
	if err := display.Start("127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, "demo: start display sink:", err)
		return 1
	}
	defer display.Close()

	dir, err := os.MkdirTemp("", "connector-demo")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cfg := map[string]any{
		"v_target": display.URL(), "access_key_id": "demo-key-id", "secret_access_Key": "demo-key-secret",
		"endpoint": api.URL(), "pull_hour": 2, "pull_zone": "Asia/Shanghai",
		"state_path": filepath.Join(dir, "state.db"), "bills": bills, "listen": "",
	}
	path := filepath.Join(dir, "config.json")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "demo: fake BSS API at %s, display sink at %s\n", api.URL(), display.URL())
	fmt.Fprintf(os.Stderr, "demo: running: connector --config %s --from %s --to %s\n", path, first, last)
	code := cli.Main([]string{"--config", path, "--from", first.String(), "--to", last.String()},
		cli.IO{Stdout: os.Stdout, Stderr: os.Stderr, Lookup: func(string) (string, bool) { return "", false }})
	fmt.Fprintf(os.Stderr, "demo: the display sink received %d events; the connector exited with status %d\n", display.Len(), code)
	return code
}
