package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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

func startOpsDaemon(t *testing.T, e *env, extra map[string]any) *opsDaemon {
	t.Helper()
	cfg := map[string]any{"listen": "127.0.0.1:0"}
	for k, v := range extra {
		cfg[k] = v
	}
	d := &opsDaemon{done: make(chan int, 1), log: e.Log()}
	started := make(chan struct{})
	go func() {
		d.done <- cli.Main([]string{"--config", e.Config(t, cfg), "--catch-up-from", day.String()},
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

// scrape reads /metrics with the Prometheus text parser.
func (d *opsDaemon) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/metrics", d.srv.Addr()))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

// value is the sum of the family's samples whose labels include want.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	sum := 0.0
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// The daemon catches up on a day of both bills; /metrics, scraped over HTTP and parsed as
// Prometheus parses it, says what the sink saw.
func TestE2E_MetricsSayWhatTheSinkSaw(t *testing.T) {
	e := newEnv(t)
	e.API.SetDay(day.String(), bssfake.SampleDay(day.String(), 650, 42))
	e.API.SetInstanceDay(day.String(), bssfake.SampleInstanceDay(day.String(), 700, 42))
	e.Sink.FailNext(5, 503) // five retries
	d := startOpsDaemon(t, e, bothBills)
	code, body := d.get(t, "/healthz")
	assert.Equal(t, http.StatusOK, code, body)
	e.Changed.Wait(t, "every due day done", d.log, func() bool {
		return strings.Contains(d.log.String(), `"msg":"waiting for the next pull"`)
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
	assert.Equal(t, float64(1350), value(m, "alicloud_billing_events_sent_total", map[string]string{"outcome": "delivered"}))
	assert.Equal(t, float64(e.Distinct()), value(m, "alicloud_billing_events_sent_total", map[string]string{"outcome": "delivered"}))
	assert.Equal(t, float64(650), value(m, "alicloud_billing_rows_fetched_total", map[string]string{"bill": "account"}))
	assert.Equal(t, float64(700), value(m, "alicloud_billing_rows_fetched_total", map[string]string{"bill": "instance"}))
	// The API's answers as the fake counted them (the catch-up pulled the empty days after
	// the day too: one page per bill each).
	served := map[string]int{}
	for _, q := range e.API.Requests() {
		if q.Code == "" {
			served[q.Params.Get("Action")]++
		}
	}
	for _, action := range []string{"QueryAccountBill", "DescribeInstanceBill"} {
		assert.Equal(t, float64(served[action]), value(m, "alicloud_billing_api_requests_total", map[string]string{"action": action, "outcome": "ok"}), action)
		assert.GreaterOrEqual(t, served[action], 3, action)
	}
	assert.Equal(t, float64(0), value(m, "alicloud_billing_api_requests_total", map[string]string{"outcome": "refused"}))
	assert.Equal(t, float64(e.Sink.Attempts()-e.Sink.Len()), value(m, "alicloud_billing_event_retries_total", nil), "a retry per refused attempt")
	assert.Equal(t, float64(1350), value(m, "alicloud_billing_delivery_latency_seconds", nil), "one observation per event")
	assert.Equal(t, float64(served["QueryAccountBill"]-2), value(m, "alicloud_billing_day_run_duration_seconds", map[string]string{"bill": "account"}),
		"one run per day (the day has 3 pages, every other day 1)")
	for _, b := range []string{"account", "instance"} {
		assert.Positive(t, value(m, "alicloud_billing_last_success_timestamp_seconds", map[string]string{"account": "default", "bill": b}), b)
	}
	assert.Equal(t, float64(0), value(m, "alicloud_billing_days_pending", nil))
	assert.NotNil(t, m["go_goroutines"], "the Go collector")
	assert.NotNil(t, m["process_resident_memory_bytes"], "the process collector")
	code, body = d.get(t, "/readyz")
	assert.Equal(t, http.StatusOK, code, body)
}

// Credentials the API refuses make the daemon not ready, with the reason, until a call
// succeeds; the secret is nowhere in the answer.
func TestE2E_ReadinessFlipsOnRefusedCredentials(t *testing.T) {
	e := newEnv(t)
	e.API.SetDay(day.String(), bssfake.SampleDay(day.String(), 5, 1))
	d := startOpsDaemon(t, e, map[string]any{"secret_access_Key": "not-the-secret"})
	e.Changed.Wait(t, "the day failed", d.log, func() bool { return strings.Contains(d.log.String(), `"msg":"day failed"`) })
	code, body := d.get(t, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "the API refused the credentials of account default: SignatureDoesNotMatch")
	assert.NotContains(t, body, "not-the-secret")
	m := d.scrape(t)
	assert.Positive(t, value(m, "alicloud_billing_api_requests_total", map[string]string{"action": "QueryAccountBill", "outcome": "refused"}))
	code, _ = d.get(t, "/healthz")
	assert.Equal(t, http.StatusOK, code, "alive all the same")
}
