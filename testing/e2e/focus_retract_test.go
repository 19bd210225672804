package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// FOCUS rows gone from the bill are retracted with whole FOCUS rows: the columns their
// identity and the day's currency give, as the rows had them (ServiceName, from a product
// name the identity does not hold, is the product code), every cost and quantity 0.
// focusEvents checks every event against FOCUS 1.2, the retractions too: what a receiver
// that keeps each subject's highest revision holds is a conformant row that adds 0.
func TestE2E_AFocusRowGoneIsRetractedAsAConformantRowOfZeroCost(t *testing.T) {
	e := harness.New(t)
	day := e.Day.String()
	items := bssfake.SampleInstanceDay(day, 60, 7)
	e.API.SetInstanceDay(day, items)
	cfg := e.Config(t, map[string]any{"bills": []string{"focus"}})
	require.Equal(t, 0, e.Run(t, []string{"--config", cfg, "--once", "--date", day}).Code)
	firstEvents, firstData := focusEvents(t, e)
	require.Equal(t, len(items), len(firstEvents))
	delivered := map[string]map[string]any{} // subject -> the row's data
	for i, r := range firstEvents {
		delivered[r.Event.Subject()] = firstData[i]
	}
	e.Sink.Reset()

	var kept []bssfake.InstanceItem
	gone := map[int]bool{3: true, 10: true, 41: true}
	for i, it := range items {
		if !gone[i] {
			kept = append(kept, it)
		}
	}
	e.API.SetInstanceDay(day, kept)
	r := e.Run(t, []string{"--config", cfg, "--from", day, "--to", day})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, ", 3 retracted in ")
	events, data := focusEvents(t, e) // each one conforms to FOCUS 1.2
	retractions := 0
	for i, got := range events {
		if !harness.Retracted(t, got.Event) {
			continue
		}
		retractions++
		was, ok := delivered[got.Event.Subject()]
		require.True(t, ok, "a retraction of a delivered row: %s", got.Event.Subject())
		d := data[i]
		for _, c := range []string{"BilledCost", "EffectiveCost", "ListCost", "ContractedCost"} {
			assert.Equal(t, "0", numberText(d[c]), "%s of %s", c, got.Event.Subject())
		}
		for _, c := range []string{"ConsumedQuantity", "PricingQuantity"} {
			if d[c] != nil {
				assert.Equal(t, "0", numberText(d[c]), "%s of %s", c, got.Event.Subject())
			}
		}
		for _, c := range []string{"BillingCurrency", "BillingAccountId", "SubAccountId", "ResourceId", "ChargePeriodStart",
			"ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd", "ChargeCategory", "ServiceCategory", "SkuId"} {
			assert.Equal(t, was[c], d[c], "%s of %s: as the row had it", c, got.Event.Subject())
		}
	}
	assert.Equal(t, len(gone), retractions, "one retraction per row gone")
}

// numberText is a JSON number's text as focusEvents decodes it (json.Number).
func numberText(v any) string {
	if n, ok := v.(interface{ String() string }); ok {
		return n.String()
	}
	return "not a number"
}
