package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// The accounts mode (--accounts N): one day of --rows rows for each of N accounts, each
// with its own AccessKey, which the fake API allows --qps requests per second (per key, as
// the API limits each caller). The limit is the larger of the API's time (the slowest
// caller's pages / qps: every account reads in parallel) and a raw 16-worker POST loop of
// the N × rows events to the same sink.

// counter is a sink's count of the events it accepted, by id.
type counter struct {
	mu    sync.Mutex
	ids   map[string]int
	total int
}

func (c *counter) receive(e event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids[e.ID()]++
	c.total++
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids, c.total = map[string]int{}, 0
}

func (c *counter) counts() (distinct, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids), c.total
}

func runAccounts(o options) error {
	keys := make(map[string]string, o.accounts)
	for i := range o.accounts {
		keys[keyID(i)] = "secret-" + keyID(i)
	}
	api := bssfake.New(bssfake.Options{Keys: keys, RateLimitPerKey: o.qps, Latency: o.latency})
	if err := api.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer api.Close()
	c := &counter{ids: map[string]int{}}
	k := sink.New()
	k.KeepNothing()
	k.OnReceive(c.receive)
	if err := k.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer k.Close()
	dir, err := os.MkdirTemp("", "bench-accounts")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	events := o.accounts * o.rows
	runtime.GC()
	c.reset()
	raw, err := rawLoopTo(k, events, o.concurrency, func() int { _, n := c.counts(); return n })
	if err != nil {
		return err
	}
	day := calendar.Of(wallClock.Now().UTC()).AddDays(-40)
	if o.bill == "instance" {
		api.GenerateInstanceDay(day.String(), o.rows, 1)
	} else {
		api.SetDay(day.String(), bssfake.SampleDay(day.String(), o.rows, 1))
	}
	c.reset()
	m, commits, err := accountsChild(o, api, k, dir, day)
	if err != nil {
		return err
	}
	distinct, total := c.counts()
	pages := (o.rows + billing.PageSize - 1) / billing.PageSize
	apiTime := time.Duration(float64(pages) / float64(o.qps) * float64(time.Second))
	limit := max(apiTime, raw)
	fsyncs := "-"
	if commits >= 0 {
		fsyncs = fmt.Sprintf("%.0f", commits/m.wall.Seconds())
	}
	fmt.Printf("| work | wall | the limit (max of API time %s and raw loop %s) | ratio | peak RSS (heap and stacks, mapped files) | fsyncs/s | rows delivered |\n|---|---|---|---|---|---|---|\n",
		apiTime, raw.Round(10*time.Millisecond))
	fmt.Printf("| %d accounts × %d %s rows | %s | %s | %.2f× | %.0f MB (%.0f, %.0f) | %s | %d of %d distinct, %d events, exit %d |\n",
		o.accounts, o.rows, o.bill, m.wall.Round(10*time.Millisecond), limit.Round(10*time.Millisecond),
		m.wall.Seconds()/limit.Seconds(), float64(m.rssKB)/1024, float64(m.anonKB)/1024, float64(m.fileKB)/1024, fsyncs, distinct, events, total, m.exit)
	if distinct != events || total != events || m.exit != 0 {
		return fmt.Errorf("not every row once: %d distinct of %d, %d events, exit %d (log: %s)", distinct, events, total, m.exit, filepath.Join(dir, "connector.log"))
	}
	return nil
}

func keyID(i int) string { return fmt.Sprintf("LTAIbench%05d", i) }

// accountsChild runs --once for the day with one account per key, and reads the state's
// commits (state_commits_total, -1 when the connector does not count them) from /metrics.
func accountsChild(o options, api *bssfake.Server, k *sink.Sink, dir string, day calendar.Day) (measured, float64, error) {
	accts := make([]map[string]string, o.accounts)
	for i := range accts {
		accts[i] = map[string]string{"name": fmt.Sprintf("a%05d", i), "access_key_id": keyID(i), "secret_access_Key": "secret-" + keyID(i)}
	}
	port, err := freePort()
	if err != nil {
		return measured{}, 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	commits := -1.0
	var mu sync.Mutex
	scrape := func() {
		if v, ok := metric("http://"+addr+"/metrics", "alicloud_billing_state_commits_total"); ok {
			mu.Lock()
			commits = max(commits, v)
			mu.Unlock()
		}
	}
	m, err := child(o, api, k, dir, []string{"--once", "--date", day.String(), "--listen", addr}, o.bill,
		map[string]any{"accounts": accts}, scrape)
	mu.Lock()
	defer mu.Unlock()
	return m, commits, err
}

// freePort is a loopback port free now (the child's ops listener, to read /metrics).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// metric is the sum of the samples of a counter in a Prometheus text page.
func metric(url, name string) (float64, bool) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// configOf is the child's configuration: one account of the top-level keys, or extra's.
func configOf(o options, k *sink.Sink, api *bssfake.Server, state, bills string, extra map[string]any) ([]byte, error) {
	cfg := map[string]any{"v_target": k.URL(), "access_key_id": "bench", "secret_access_Key": "bench-secret",
		"endpoint": api.URL(), "send_concurrency": o.concurrency, "state_path": state, "bills": []string{bills}, "listen": ""}
	if extra != nil {
		delete(cfg, "access_key_id")
		delete(cfg, "secret_access_Key")
	}
	for key, v := range extra {
		cfg[key] = v
	}
	return json.Marshal(cfg)
}
