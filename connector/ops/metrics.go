// Package ops is what an operator watches: the Prometheus metrics of the connector, its
// readiness, and the HTTP listener (config key listen) serving /healthz, /readyz and
// /metrics.
package ops

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Namespace prefixes every metric name.
const Namespace = "alicloud_billing"

// API call outcomes (label outcome of api_requests_total).
const (
	OutcomeOK          = "ok"
	OutcomeThrottled   = "throttled"
	OutcomeServerError = "server_error" // 5xx, timeouts, garbled answers: retried
	OutcomeRefused     = "refused"      // credentials, permissions, parameters, setup: not retried
)

// Metrics are the connector's metrics, on a registry of their own (with the Go and process
// collectors).
type Metrics struct {
	Registry *prometheus.Registry

	APIRequests     *prometheus.CounterVec   // account, action, outcome
	RowsFetched     *prometheus.CounterVec   // account, bill
	RowsRetracted   *prometheus.CounterVec   // account, bill: retractions acknowledged
	EventsSent      *prometheus.CounterVec   // bill, outcome (delivered, failed)
	EventRetries    prometheus.Counter       //
	DeliveryLatency prometheus.Histogram     // seconds from an event queued to its answer
	DaysPending     *prometheus.GaugeVec     // account: days the daemon has due and not complete
	DayRunDuration  *prometheus.HistogramVec // account, bill
	LastSuccess     *prometheus.GaugeVec     // account, bill: when a day was last completed
	LastMonthClosed *prometheus.GaugeVec     // account: the end of the latest month closed
	MonthDifference *prometheus.GaugeVec     // account, currency: the last close's largest |difference|
	StateCommits    prometheus.CounterFunc   // write transactions of the state file (state.Commits)
}

// NewMetrics registers the metrics on a new registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "api_requests_total",
			Help: "BSS OpenAPI requests by account, action and outcome (ok, throttled, server_error, refused)."}, []string{"account", "action", "outcome"}),
		RowsFetched: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rows_fetched_total",
			Help: "Bill rows read from the API, by account and bill (account, instance, focus: the FOCUS rows built from the instance bill's rows, amortized ones included)."}, []string{"account", "bill"}),
		RowsRetracted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rows_retracted_total",
			Help: "Rows retracted (no longer in a complete read of their day's bill; the retraction acknowledged), by account and bill."}, []string{"account", "bill"}),
		EventsSent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "events_sent_total",
			Help: "Events sent to v_target by bill and outcome (delivered, failed)."}, []string{"bill", "outcome"}),
		EventRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "event_retries_total",
			Help: "Send attempts after the first, over all events."}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "delivery_latency_seconds",
			Help:    "Time from an event queued for sending to its answer (retries included).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180}}),
		DaysPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "days_pending",
			Help: "Days of the account the daemon is responsible for that are due and not complete."}, []string{"account"}),
		DayRunDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "day_run_duration_seconds",
			Help:    "Duration of one run of one bill's day (read and delivered).",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}}, []string{"account", "bill"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "last_success_timestamp_seconds",
			Help: "Unix time at which a day of the bill of the account was last recorded complete."}, []string{"account", "bill"}),
		LastMonthClosed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "last_month_closed_timestamp_seconds",
			Help: "End (Unix time of the next month's first instant, UTC+8) of the latest month of the account whose close (month_closed event) was delivered."}, []string{"account"}),
		MonthDifference: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "month_reconcile_difference",
			Help: "The last month close's largest absolute difference, over products, bills and figures, between the sum of the daily rows and QueryBillOverview, by account and currency; above reconcile_tolerance the month is not reconciled."}, []string{"account", "currency"}),
		StateCommits: prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "state_commits_total",
			Help: "Write transactions committed to the state file (each fsynced; the writes of every account and bill grouped)."},
			func() float64 { return float64(state.Commits()) }),
	}
	r.MustRegister(m.APIRequests, m.RowsFetched, m.RowsRetracted, m.EventsSent, m.EventRetries, m.DeliveryLatency, m.DaysPending,
		m.DayRunDuration, m.LastSuccess, m.LastMonthClosed, m.MonthDifference, m.StateCommits,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// EventSent counts one event of the bill answered: delivered, or failed with err.
func (m *Metrics) EventSent(bill string, err error) {
	outcome := "delivered"
	if err != nil {
		outcome = "failed"
	}
	m.EventsSent.WithLabelValues(bill, outcome).Inc()
}

// Or is m, or metrics nobody scrapes when m is nil (tests that build one part alone).
func Or(m *Metrics) *Metrics {
	if m == nil {
		return NewMetrics()
	}
	return m
}
