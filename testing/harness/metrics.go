package harness

import (
	"fmt"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cloudbill/alicloud-billing-source/connector/ops"
)

// Families are metric families by name, as a scrape or a registry gives them.
type Families = map[string]*dto.MetricFamily

// Scrape reads /metrics of the ops listener at addr with the Prometheus text parser.
func Scrape(addr string) (Families, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// Value is the sum of the samples of the family name whose labels include want (a
// histogram's sample count); -1 when there is no such family.
func Value(families Families, name string, want map[string]string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
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

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range m.GetLabel() {
			found = found || l.GetName() == k && l.GetValue() == v
		}
		if !found {
			return false
		}
	}
	return true
}

func byName(fs []*dto.MetricFamily) Families {
	m := Families{}
	for _, f := range fs {
		m[f.GetName()] = f
	}
	return m
}

// The metrics the suites count and wait by, as /metrics names them (see ops.Metrics).
const (
	EventsSent  = ops.Namespace + "_events_sent_total" // labels bill, outcome (delivered, failed)
	DaysPending = ops.Namespace + "_days_pending"      // label account
)
