package job_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// An amortized row whose purchase no longer covers its day in the state (the purchase's
// day read again with a shorter period) is retracted, named from its identity: the day
// does not fail on it.
func TestFocus_AnAmortizedRowOfAPurchaseNoLongerCoveringItsDayIsRetracted(t *testing.T) {
	st := openState(t)
	buy := fday.AddDays(-1)
	focusRun(t, st, buy, job.Incremental, []bill.Row{irow(t, buy, "i-2", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3")})
	later := fday.AddDays(1)
	first := focusRun(t, st, later, job.Incremental, []bill.Row{irow(t, later, "i-9", "a", 1)})
	assert.Equal(t, map[string]float64{"i-9": 1, "i-2 amortized": 10}, effective(t, first))
	focusRun(t, st, buy, job.Explicit, []bill.Row{irow(t, buy, "i-2", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "1")})
	got := focusRun(t, st, later, job.Explicit, []bill.Row{irow(t, later, "i-9", "a", 1)})
	var amortized, retracted []string
	for _, e := range first {
		if strings.Contains(e.Subject(), "/amortized/") {
			amortized = append(amortized, e.Subject())
		}
	}
	for _, e := range got {
		if e.Extensions()[job.RetractedExtension] == true {
			retracted = append(retracted, e.Subject())
		}
	}
	assert.Equal(t, amortized, retracted, "retracted under the amortized row's subject")
}
