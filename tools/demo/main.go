// Command demo shows the connector working without an Alibaba Cloud account: it starts the
// fake BSS OpenAPI with a few days of sample bills and a display sink that prints every
// event it receives, runs the real connector (the production wiring) once over those days
// against them, and exits with the connector's status.
//
// --target nats delivers into NATS JetStream instead: an embedded nats-server with
// JetStream (testing/brokers), the stream created by the connector; the demo prints each
// message of the stream, then runs the same days again to show that the stream's message
// count stays the number of rows (the ids are the Nats-Msg-Id, within the duplicate window).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/testing/brokers"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	focuscheck "github.com/cloudbill/alicloud-billing-source/testing/focus"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// wallClock is the connector's clock package: the one place that reads the time.
var wallClock = clock.New()

func main() {
	days := flag.Int("days", 3, "how many days of sample bills to pull (ending yesterday)")
	rows := flag.Int("rows", 4, "rows per day")
	quiet := flag.Bool("quiet", false, "print only the summary, not every event")
	bills := flag.String("bills", "account,instance", "the bills to deliver (config key bills)")
	target := flag.String("target", "http", "where to deliver: http (a display sink) or nats (an embedded nats-server with JetStream)")
	flag.Parse()
	switch *target {
	case "http":
		os.Exit(run(*days, *rows, *quiet, *bills))
	case "nats":
		os.Exit(runNATS(*days, *rows, *quiet, *bills))
	}
	fmt.Fprintf(os.Stderr, "demo: --target %q is not http or nats\n", *target)
	os.Exit(2)
}

// sampleAPI starts the fake BSS API with days of sample bills ending yesterday.
func sampleAPI(days, rows int, bills string) (*bssfake.Server, calendar.Day, calendar.Day, error) {
	zone, _ := time.LoadLocation("Asia/Shanghai")
	last := calendar.Yesterday(wallClock.Now(), zone)
	first := last.AddDays(-(days - 1))
	api := bssfake.New(bssfake.Options{Keys: map[string]string{"demo-key-id": "demo-key-secret"}})
	for d := first; !last.Before(d); d = d.AddDays(1) {
		api.SetDay(d.String(), bssfake.SampleDay(d.String(), rows, uint64(d.Day)))
		api.SetInstanceDay(d.String(), bssfake.SampleInstanceDay(d.String(), rows, uint64(d.Day)))
	}
	// The FOCUS bill (bills has focus) is made of the fake's FOCUS days instead: usage, a
	// subscription bought mid-month, a refund, deductions, tags (bssfake.FocusDayOf).
	for d := first; wants(bills, "focus") && !last.Before(d); d = d.AddDays(1) {
		items, err := bssfake.FocusDayOf(d.String())
		if err != nil {
			return nil, first, last, err
		}
		api.SetInstanceDay(d.String(), items)
	}
	if err := api.Start("127.0.0.1:0"); err != nil {
		return nil, first, last, fmt.Errorf("start fake BSS API: %w", err)
	}
	return api, first, last, nil
}

// writeConfig writes config.json into dir: the fake API, the state file, and target's keys.
func writeConfig(dir string, api *bssfake.Server, bills string, target map[string]any) (string, error) {
	cfg := map[string]any{
		"access_key_id": "demo-key-id", "secret_access_Key": "demo-key-secret",
		"endpoint": api.URL(), "pull_hour": 2, "pull_zone": "Asia/Shanghai",
		"state_path": filepath.Join(dir, "state.db"), "bills": bills, "listen": "",
	}
	for k, v := range target {
		cfg[k] = v
	}
	path := filepath.Join(dir, "config.json")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return path, os.WriteFile(path, b, 0o600)
}

func connector(args ...string) int {
	return cli.Main(args, cli.IO{Stdout: os.Stdout, Stderr: os.Stderr, Lookup: func(string) (string, bool) { return "", false }})
}

func runNATS(days, rows int, quiet bool, bills string) int {
	api, first, last, err := sampleAPI(days, rows, bills)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer api.Close()
	dir, err := os.MkdirTemp("", "connector-demo")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := brokers.StartNATS(brokers.NATSOptions{StoreDir: filepath.Join(dir, "jetstream")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer srv.Stop()
	const stream, subject = "BILLING", "billing.daily"
	path, err := writeConfig(dir, api, bills, map[string]any{
		"v_target": srv.URL() + "/" + subject, "nats": map[string]any{"stream": stream, "create_stream": true}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "demo: fake BSS API at %s, embedded nats-server with JetStream at %s\n", api.URL(), srv.URL())
	args := []string{"--config", path, "--from", first.String(), "--to", last.String()}
	fmt.Fprintf(os.Stderr, "demo: running: connector %s\n", strings.Join(args, " "))
	if code := connector(args...); code != 0 {
		return code
	}
	ctx := context.Background()
	msgs, err := srv.Messages(ctx, stream)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: read the stream:", err)
		return 1
	}
	for _, m := range msgs {
		if quiet {
			break
		}
		fmt.Printf("stream %s seq %d subject %s Nats-Msg-Id %s ce-type %s\n%s\n", stream, m.Sequence, m.Subject,
			m.Header.Get("Nats-Msg-Id"), m.Header.Get("ce-type"), m.Data)
	}
	fmt.Fprintf(os.Stderr, "demo: stream %s holds %d messages after the first run\n", stream, len(msgs))
	fmt.Fprintf(os.Stderr, "demo: running the same days again (every row re-sent with its id)\n")
	if code := connector(args...); code != 0 {
		return code
	}
	info, err := srv.StreamInfo(ctx, stream)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: read the stream:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "demo: stream %s holds %d messages after the second run (duplicate window %s): each row once\n",
		stream, info.State.Msgs, info.Config.Duplicates)
	if int(info.State.Msgs) != len(msgs) {
		return 1
	}
	return 0
}

func run(days, rows int, quiet bool, bills string) int {
	api, first, last, err := sampleAPI(days, rows, bills)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer api.Close()

	display := sink.New()
	var mu sync.Mutex
	var focusRows [][]byte // the data of every FOCUS event (see focusSummary)
	display.OnReceive(func(e event.Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Type() == focusType {
			focusRows = append(focusRows, e.Data())
		}
		if quiet {
			return
		}
		b, _ := json.MarshalIndent(e, "", "  ")
		fmt.Printf("%s\n", b)
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
	path, err := writeConfig(dir, api, bills, map[string]any{"v_target": display.URL()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "demo: fake BSS API at %s, display sink at %s\n", api.URL(), display.URL())
	fmt.Fprintf(os.Stderr, "demo: running: connector --config %s --from %s --to %s\n", path, first, last)
	code := connector("--config", path, "--from", first.String(), "--to", last.String())
	fmt.Fprintf(os.Stderr, "demo: the display sink received %d events; the connector exited with status %d\n", display.Len(), code)
	mu.Lock()
	defer mu.Unlock()
	if wants(bills, "focus") {
		if err := focusSummary(focusRows); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return max(code, 1)
		}
	}
	return code
}

// focusType is the FOCUS bill's event type.
const focusType = "alicloud.focus_billing.daily"

// wants reports whether the bills (config key bills: comma-separated) name bill.
func wants(bills, bill string) bool {
	for _, b := range strings.Split(bills, ",") {
		if strings.TrimSpace(b) == bill {
			return true
		}
	}
	return false
}

// focusSummary checks every FOCUS event of the demo against the FOCUS 1.2 conformance
// checker (testing/focus) and prints its summary; a violation fails the demo.
func focusSummary(rows [][]byte) error {
	if len(rows) == 0 {
		return fmt.Errorf("bills has focus, and no FOCUS event (%s) arrived", focusType)
	}
	s := focuscheck.Alibaba.Summarize(rows)
	fmt.Fprintf(os.Stderr, "demo: %d FOCUS events (%s): %d conformant to FOCUS 1.2, %d FOCUS columns, %d x_ columns\n",
		s.Rows, focusType, s.Conformant, len(s.Columns), s.Custom)
	for i, v := range s.Violations {
		if i == 10 {
			fmt.Fprintf(os.Stderr, "demo: ... %d more\n", len(s.Violations)-i)
			break
		}
		fmt.Fprintf(os.Stderr, "demo: FOCUS violation: %s\n", v)
	}
	if len(s.Violations) > 0 {
		return fmt.Errorf("%d FOCUS events break FOCUS 1.2 (%d violations)", s.Rows-s.Conformant, len(s.Violations))
	}
	return nil
}
