package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// opsDaemon is the daemon in this process with its ops listener on a free port.
type opsDaemon struct {
	srv  *ops.Server
	shut fx.Shutdowner
	done chan int
	log  *harness.Buffer
}

func startOpsDaemon(t *testing.T, e *harness.Env, extra map[string]any) *opsDaemon {
	t.Helper()
	cfg := map[string]any{"listen": "127.0.0.1:0"}
	for k, v := range extra {
		cfg[k] = v
	}
	d := &opsDaemon{done: make(chan int, 1), log: e.Log()}
	started := make(chan struct{})
	go func() {
		d.done <- cli.Main([]string{"--config", e.Config(t, cfg), "--catch-up-from", e.Day.String()},
			cli.IO{Stdout: e.Log(), Stderr: d.log, Lookup: func(string) (string, bool) { return "", false }},
			fx.Populate(&d.srv, &d.shut), fx.Invoke(func(lc fx.Lifecycle) { lc.Append(fx.StartHook(func() { close(started) })) }))
	}()
	e.Changed.Wait(t, "the daemon to start", d.log, func() bool {
		select {
		case <-started:
			return true
		default:
			return false
		}
	})
	t.Cleanup(func() {
		require.NoError(t, d.shut.Shutdown())
		assert.Equal(t, 0, <-d.done)
	})
	return d
}

func (d *opsDaemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s%s", d.srv.Addr(), path))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics of the daemon's ops listener.
func (d *opsDaemon) scrape(t *testing.T) harness.Families {
	t.Helper()
	families, err := harness.Scrape(d.srv.Addr().String())
	require.NoError(t, err)
	return families
}

// The daemon catches up on a day of both bills; /metrics, scraped over HTTP and parsed as
// Prometheus parses it, says what the sink saw.
func TestE2E_MetricsSayWhatTheSinkSaw(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 650, 42))
	e.API.SetInstanceDay(e.Day.String(), bssfake.SampleInstanceDay(e.Day.String(), 700, 42))
	e.Sink.FailNext(5, 503) // five retries
	d := startOpsDaemon(t, e, bothBills)
	code, body := d.get(t, "/healthz")
	assert.Equal(t, http.StatusOK, code, body)
	e.Changed.Wait(t, "every due day done", d.log, func() bool {
		return e.Distinct() >= 1350 && harness.Value(d.scrape(t), harness.DaysPending, nil) == 0
	})

	m := d.scrape(t)
	_, text := d.get(t, "/metrics")
	var sample []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "alicloud_billing_") && !strings.Contains(line, "_bucket{") {
			sample = append(sample, line)
		}
	}
	t.Logf("scraped:\n%s", strings.Join(sample, "\n"))
	assert.Equal(t, float64(1350), harness.Value(m, "alicloud_billing_events_sent_total", map[string]string{"outcome": "delivered"}))
	assert.Equal(t, float64(e.Distinct()), harness.Value(m, "alicloud_billing_events_sent_total", map[string]string{"outcome": "delivered"}))
	assert.Equal(t, float64(650), harness.Value(m, "alicloud_billing_rows_fetched_total", map[string]string{"bill": "account"}))
	assert.Equal(t, float64(700), harness.Value(m, "alicloud_billing_rows_fetched_total", map[string]string{"bill": "instance"}))
	// The API's answers as the fake counted them (the catch-up pulled the empty days after
	// the day too: one page per bill each).
	served := map[string]int{}
	for _, q := range e.API.Requests() {
		if q.Code == "" {
			served[q.Params.Get("Action")]++
		}
	}
	for _, action := range []string{"QueryAccountBill", "DescribeInstanceBill"} {
		assert.Equal(t, float64(served[action]), harness.Value(m, "alicloud_billing_api_requests_total", map[string]string{"action": action, "outcome": "ok"}), action)
		assert.GreaterOrEqual(t, served[action], 3, action)
	}
	assert.Equal(t, float64(0), harness.Value(m, "alicloud_billing_api_requests_total", map[string]string{"outcome": "refused"}))
	assert.Equal(t, float64(e.Sink.Attempts()-e.Sink.Len()), harness.Value(m, "alicloud_billing_event_retries_total", nil), "a retry per refused attempt")
	assert.Equal(t, float64(1350), harness.Value(m, "alicloud_billing_delivery_latency_seconds", nil), "one observation per event")
	assert.Equal(t, float64(served["QueryAccountBill"]-2), harness.Value(m, "alicloud_billing_day_run_duration_seconds", map[string]string{"bill": "account"}),
		"one run per day (the day has 3 pages, every other day 1)")
	for _, b := range []string{"account", "instance"} {
		assert.Positive(t, harness.Value(m, "alicloud_billing_last_success_timestamp_seconds", map[string]string{"account": "default", "bill": b}), b)
	}
	assert.Equal(t, float64(0), harness.Value(m, "alicloud_billing_days_pending", nil))
	assert.NotNil(t, m["go_goroutines"], "the Go collector")
	assert.NotNil(t, m["process_resident_memory_bytes"], "the process collector")
	code, body = d.get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code, body)
}

// Credentials the API refuses make the daemon not ready, with the reason, until a call
// succeeds; the harness.Secret is nowhere in the answer.
func TestE2E_ReadinessFlipsOnRefusedCredentials(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	d := startOpsDaemon(t, e, map[string]any{"secret_access_Key": "not-the-harness.Secret"})
	e.Changed.Wait(t, "the API's refusal counted", d.log, func() bool {
		return harness.Value(d.scrape(t), "alicloud_billing_api_requests_total", map[string]string{"outcome": "refused"}) > 0
	})
	code, body := d.get(t, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "the API refused the credentials of account default: SignatureDoesNotMatch")
	assert.NotContains(t, body, "not-the-harness.Secret")
	m := d.scrape(t)
	assert.Positive(t, harness.Value(m, "alicloud_billing_api_requests_total", map[string]string{"action": "QueryAccountBill", "outcome": "refused"}))
	code, _ = d.get(t, "/healthz")
	assert.Equal(t, http.StatusOK, code, "alive all the same")
}
