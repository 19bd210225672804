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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// The accounts mode (--accounts N): one day of --rows rows for each of N accounts, each
// with its own AccessKey, which the fake API allows --qps requests per second (per key, as
// the API limits each caller). The limit is the larger of the API's time (the slowest
// caller's pages / qps: every account reads in parallel) and a raw 16-worker POST loop of
// the N × rows events to the same sink.

// counter is a sink's count of the events it accepted, by id, and when each account's
// last event came (since the reset).
type counter struct {
	mu    sync.Mutex
	ids   map[string]int
	total int
	start time.Time
	last  map[string]time.Duration // by the events' account extension
}

func (c *counter) receive(e event.Event) {
	at := wallClock.Now()
	acct, _ := e.Extensions()[job.AccountExtension].(string)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids[e.ID()]++
	c.total++
	c.last[acct] = at.Sub(c.start)
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids, c.total, c.last, c.start = map[string]int{}, 0, map[string]time.Duration{}, wallClock.Now()
}

// done is when the account's last event came.
func (c *counter) done(account string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[account]
}

func (c *counter) counts() (distinct, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids), c.total
}

func runAccounts(o options) error {
	if o.big > 0 && (o.accounts < 2 || o.bill != "instance") {
		return fmt.Errorf("--big %d: needs --accounts of 2 or more and the instance bill", o.big)
	}
	api := accountsAPI(o)
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
	if o.big > 0 {
		events += o.big - o.rows
	}
	runtime.GC()
	c.reset()
	raw, err := rawLoopTo(k, events, o.concurrency, func() int { _, n := c.counts(); return n })
	if err != nil {
		return err
	}
	runtime.GC()
	c.reset()
	client, sinkCPU, err := rawSplit(k, events, o.concurrency, func() int { _, n := c.counts(); return n })
	if err != nil {
		return err
	}
	day := calendar.Of(wallClock.Now().UTC()).AddDays(-40)
	if o.bill == "instance" {
		api.GenerateInstanceDay(day.String(), o.rows, 1)
		api.GenerateAccountInstanceDay(bigAccount, day.String(), o.big, 2)
	} else {
		api.SetDay(day.String(), bssfake.SampleDay(day.String(), o.rows, 1))
	}
	c.reset()
	m, commits, err := accountsChild(o, api, k, dir, day)
	if err != nil {
		return err
	}
	if err := reportAccounts(o, m, commits, raw, events, c, dir); err != nil {
		return err
	}
	reportCPU(m, client, sinkCPU, events)
	return nil
}

// reportCPU says where the cores went: the connector's, and the fake API's and the sink's
// beside it; then the raw loop's client and sink, each in a process of its own. The fake
// and the sink share the connector's cores here, so no connector can take less than
// their CPU and its own POSTs' (the raw client's) over the cores: its floor.
func reportCPU(m measured, client, sinkCPU time.Duration, events int) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(events) }
	cores := time.Duration(runtime.NumCPU())
	fmt.Printf("\nCPU, µs an event: the connector %.0f, the fake API and the sink beside it %.0f; the raw loop's client %.0f, its sink %.0f. "+
		"A connector that only POSTed its events would take at least %s on these %d cores.\n",
		per(m.cpu), per(m.beside), per(client), per(sinkCPU), ((client + m.beside) / cores).Round(10*time.Millisecond), cores)
}

// bigAccount is the fake's account of key 0 with --big: a bill of its own.
const bigAccount = "2000000000000001"

// accountsAPI is the fake of the accounts mode: every key its own caller, allowed --qps
// requests a second; with --big, key 0 is bigAccount's.
func accountsAPI(o options) *bssfake.Server {
	keys := make(map[string]string, o.accounts)
	for i := range o.accounts {
		keys[keyID(i)] = "secret-" + keyID(i)
	}
	var more []bssfake.Account
	if o.big > 0 {
		more = []bssfake.Account{{ID: bigAccount, Keys: map[string]string{keyID(0): keys[keyID(0)]}}}
		delete(keys, keyID(0))
	}
	return bssfake.New(bssfake.Options{Keys: keys, More: more, RateLimitPerKey: o.qps, Latency: o.latency})
}

// reportAccounts prints the accounts mode's table (and, with --big, how soon the small
// accounts were done), and checks that every row came once.
func reportAccounts(o options, m measured, commits float64, raw time.Duration, events int, c *counter, dir string) error {
	distinct, total := c.counts()
	pages := (max(o.rows, o.big) + billing.PageSize - 1) / billing.PageSize
	apiTime := time.Duration(float64(pages) / float64(o.qps) * float64(time.Second))
	limit := max(apiTime, raw)
	fsyncs := "-"
	if commits >= 0 {
		fsyncs = fmt.Sprintf("%.0f", commits/m.wall.Seconds())
	}
	fmt.Printf("| work | wall | the limit (max of API time %s and raw loop %s) | ratio | peak RSS (heap and stacks, mapped files) | fsyncs/s | rows delivered |\n|---|---|---|---|---|---|---|\n",
		apiTime, raw.Round(10*time.Millisecond))
	work := fmt.Sprintf("%d accounts × %d %s rows", o.accounts, o.rows, o.bill)
	if o.big > 0 {
		work = fmt.Sprintf("1 account × %d and %d × %d %s rows", o.big, o.accounts-1, o.rows, o.bill)
	}
	fmt.Printf("| %s | %s | %s | %.2f× | %.0f MB (%.0f, %.0f) | %s | %d of %d distinct, %d events, exit %d |\n",
		work, m.wall.Round(10*time.Millisecond), limit.Round(10*time.Millisecond),
		m.wall.Seconds()/limit.Seconds(), float64(m.rssKB)/1024, float64(m.anonKB)/1024, float64(m.fileKB)/1024, fsyncs, distinct, events, total, m.exit)
	if o.big > 0 {
		reportFairness(o, c, raw, events)
	}
	if distinct != events || total != events || m.exit != 0 {
		return fmt.Errorf("not every row once: %d distinct of %d, %d events, exit %d (log: %s)", distinct, events, total, m.exit, filepath.Join(dir, "connector.log"))
	}
	return nil
}

// reportFairness says when the big account's day and the small ones' were delivered
// (their last event at the sink, from the connector's start), beside what the small ones'
// rows alone take at the raw loop's rate: a big account that starved the small ones
// would keep them until its own end.
func reportFairness(o options, c *counter, raw time.Duration, events int) {
	small := make([]time.Duration, 0, o.accounts-1)
	for i := 1; i < o.accounts; i++ {
		small = append(small, c.done(accountName(i)))
	}
	slices.Sort(small)
	alone := time.Duration(float64(raw) * float64((o.accounts-1)*o.rows) / float64(events))
	fmt.Printf("\nThe big account's day was delivered at %s; the %d small ones' by %s (median %s, first %s); their rows alone at the raw loop's rate: %s.\n",
		c.done(accountName(0)).Round(10*time.Millisecond), len(small), small[len(small)-1].Round(10*time.Millisecond),
		small[len(small)/2].Round(10*time.Millisecond), small[0].Round(10*time.Millisecond), alone.Round(10*time.Millisecond))
}

// accountName is the name of account i in the child's config.
func accountName(i int) string { return fmt.Sprintf("a%05d", i) }

func keyID(i int) string { return fmt.Sprintf("LTAIbench%05d", i) }

// accountsChild runs --once for the day with one account per key, and reads the state's
// commits (state_commits_total, -1 when the connector does not count them) from /metrics.
func accountsChild(o options, api *bssfake.Server, k *sink.Sink, dir string, day calendar.Day) (measured, float64, error) {
	accts := make([]map[string]string, o.accounts)
	for i := range accts {
		accts[i] = map[string]string{"name": accountName(i), "access_key_id": keyID(i), "secret_access_Key": "secret-" + keyID(i)}
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
