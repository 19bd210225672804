package job_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// currencyRow is an instance row the real FOCUS mapping maps: usage of one instance, in
// a currency.
func currencyRow(t *testing.T, instance, currency string) bill.Row {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"BillingDate": fday.String(), "BillAccountID": "9", "OwnerID": "1", "ProductCode": "ecs",
		"InstanceID": instance, "BillingItemCode": "cpu", "PretaxAmount": 2, "SubscriptionType": "PayAsYouGo",
		"Item": "PayAsYouGoBill", "Currency": currency, "Usage": "3", "UsageUnit": "小时"})
	r, err := bill.ParseInstance(b)
	require.NoError(t, err)
	return r
}

// realFocusRun runs the FOCUS bill's day with package focus's own mapping.
func realFocusRun(t *testing.T, st job.State, resend job.Resend, rows []bill.Row) []map[string]any {
	t.Helper()
	p := &safePublisher{}
	j := job.New(job.Params{Budget: shared, Options: job.Options{Bills: []bill.Kind{bill.Focus}}, Fetcher: &instanceReads{reads: [][][]bill.Row{{rows}}},
		Publisher: p, State: st, Clock: clockwork.NewFakeClockAt(pulled), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	_, err := j.Run(context.Background(), fday, resend)
	require.NoError(t, err)
	var out []map[string]any
	for _, e := range p.take() {
		if e.Extensions()[job.RetractedExtension] == true {
			var d map[string]any
			require.NoError(t, json.Unmarshal(e.Data(), &d))
			out = append(out, d)
		}
	}
	return out
}

// A FOCUS row gone from a read whose rows are all of one currency is retracted with a
// whole row in that currency; when the read has rows of two currencies, the row's own is
// not known, and the retraction carries its costs at 0 only.
func TestFocus_ARetractionIsAWholeRowInTheReadsOneCurrency(t *testing.T) {
	for _, tc := range []struct {
		name       string
		currencies []string // of the 10 rows; the last one goes
		whole      bool
	}{
		{"one currency", []string{"USD"}, true},
		{"two currencies", []string{"USD", "CNY"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openState(t)
			var rows []bill.Row
			for i := range 10 {
				rows = append(rows, currencyRow(t, fmt.Sprintf("i-%d", i), tc.currencies[i%len(tc.currencies)]))
			}
			assert.Empty(t, realFocusRun(t, st, job.Incremental, rows))
			got := realFocusRun(t, st, job.Incremental, rows[:9])
			require.Len(t, got, 1, "the row gone, retracted")
			d := got[0]
			assert.Equal(t, 0.0, d["BilledCost"])
			assert.Equal(t, 0.0, d["EffectiveCost"])
			if !tc.whole {
				assert.NotContains(t, d, "BillingCurrency")
				return
			}
			assert.Equal(t, "USD", d["BillingCurrency"])
			assert.Equal(t, "i-9", d["ResourceId"])
			assert.Equal(t, 0.0, d["ConsumedQuantity"])
			assert.Equal(t, 0.0, d["PricingQuantity"])
			assert.Equal(t, "Usage", d["ChargeCategory"])
		})
	}
}
