package job_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// Two purchases of one identity on one day (an instance bought, then upgraded, under one
// billing item): each is spread, neither replaces the other.
func TestFocus_TwoPurchasesOfOneIdentityAreBothSpread(t *testing.T) {
	st := openState(t)
	buy := fday.AddDays(-1)
	focusRun(t, st, buy, job.Incremental,
		[]bill.Row{irow(t, buy, "i-1", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3"),
			irow(t, buy, "i-1", "a", 60, "Item", "SubscriptionOrder", "ServicePeriod", "3")})
	got := focusRun(t, st, fday, job.Incremental, []bill.Row{irow(t, fday, "i-9", "a", 1)})
	assert.Equal(t, map[string]float64{"i-9": 1, "i-1 amortized": 30}, effective(t, got))
	again := focusRun(t, st, fday, job.Explicit, []bill.Row{irow(t, fday, "i-9", "a", 1)})
	assert.ElementsMatch(t, ids(got), ids(again), "a re-run gives the same ids")
}
