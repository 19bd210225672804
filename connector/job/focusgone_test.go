package job_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// A purchase that a later complete read of its day no longer has (gone, or read again
// under another identity: another billing item) is forgotten: its spread ends, and the
// purchase the read has instead is spread alone, not twice. A refund gone from its day
// likewise no longer ends a spread.
func TestFocus_APurchaseOrRefundGoneFromItsDayIsForgotten(t *testing.T) {
	st := openState(t)
	buy := fday.AddDays(-1)
	focusRun(t, st, buy, job.Incremental,
		[]bill.Row{irow(t, buy, "i-1", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3"),
			irow(t, buy, "i-2", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3"),
			irow(t, buy, "i-3", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3"),
			irow(t, buy, "i-3", "r", -30, "Item", "Refund")})
	// Read again: i-1's purchase is gone, i-2's is another billing item's, i-3's refund is gone.
	focusRun(t, st, buy, job.Explicit,
		[]bill.Row{irow(t, buy, "i-2", "b", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3"),
			irow(t, buy, "i-3", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3")})
	got := focusRun(t, st, fday, job.Incremental, []bill.Row{irow(t, fday, "i-9", "a", 1)})
	assert.Equal(t, map[string]float64{"i-9": 1, "i-2 amortized": 10, "i-3 amortized": 10}, effective(t, got))
}

// A read that may be partial forgets nothing: the purchases are forgotten with the
// retractions, once the read is trusted (here two reads disagree: nothing is retracted).
func TestFocus_AReadNotTrustedForgetsNoPurchase(t *testing.T) {
	st := openState(t)
	buy := fday.AddDays(-1)
	purchase := irow(t, buy, "i-1", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3")
	x, y := irow(t, buy, "i-8", "a", 1), irow(t, buy, "i-9", "a", 1)
	focusRun(t, st, buy, job.Incremental, []bill.Row{purchase, x, y})
	f := &instanceReads{reads: [][][]bill.Row{{{x}}, {{y}}}}
	_, err := focusJob(f, &safePublisher{}, st, bill.Focus).Run(context.Background(), buy, job.Explicit)
	require.Error(t, err, "the two reads disagree")
	got := focusRun(t, st, fday, job.Incremental, []bill.Row{irow(t, fday, "i-7", "a", 1)})
	assert.Equal(t, map[string]float64{"i-7": 1, "i-1 amortized": 10}, effective(t, got))
}
