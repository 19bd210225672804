package e2e

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	focuscheck "github.com/cloudbill/alicloud-billing-source/testing/focus"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// focusType is the FOCUS bill's event type.
const focusType = "alicloud.focus_billing.daily"

// focusEvents are the FOCUS events the sink holds, and each one's data: every FOCUS event
// of the suite goes through here, and each must conform to FOCUS 1.2 (testing/focus, with
// the columns Alibaba's data calls for), the set too: retractions (extension retracted)
// as well, which carry the whole row with its costs and quantities at 0.
func focusEvents(t *testing.T, e *harness.Env) ([]sink.Received, []map[string]any) {
	t.Helper()
	var events []sink.Received
	var data []map[string]any
	var rows [][]byte
	for _, r := range e.Sink.Events() {
		if r.Event.Type() != focusType {
			continue
		}
		var d map[string]any
		dec := json.NewDecoder(strings.NewReader(string(r.Event.Data())))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&d), "a FOCUS event's data is a JSON object")
		events, data, rows = append(events, r), append(data, d), append(rows, r.Event.Data())
	}
	sum := focuscheck.Alibaba.Summarize(rows)
	require.Empty(t, sum.Violations, "every FOCUS event conforms to FOCUS 1.2 (%d of %d rows do)", sum.Conformant, sum.Rows)
	return events, data
}

// decimal reads a FOCUS decimal column, a JSON number or a numeric string, exactly.
func decimal(t *testing.T, v any) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(fmt.Sprint(v))
	require.True(t, ok, "%v is not a decimal", v)
	return r
}

// describeInstanceCalls are the DescribeInstanceBill requests the fake answered.
func describeInstanceCalls(e *harness.Env) int {
	n := 0
	for _, q := range e.API.Requests() {
		if q.Params.Get("Action") == "DescribeInstanceBill" {
			n++
		}
	}
	return n
}

// The instance and FOCUS bills of a day, end to end: the instance bill is read once (its
// three pages), each of its rows arrives as an instance event and as a FOCUS event, and
// the day's BilledCost sums to its PretaxAmount. Run again, the day is read once more and
// the FOCUS events keep their ids.
func TestE2E_InstanceAndFocusAreOneReadOfTheInstanceBill(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleInstanceDay(e.Day.String(), 700, 42)
	e.API.SetInstanceDay(e.Day.String(), items)
	args := []string{"--config", e.Config(t, map[string]any{"bills": []string{"instance", "focus"}}), "--once", "--date", e.Day.String()}
	r := e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, 3, describeInstanceCalls(e), "one read of 700 rows: 3 pages of at most 300, for both bills")
	requireInstanceDayDelivered(t, e, e.Day.String(), e.Sink.Events())

	events, data := focusEvents(t, e)
	billed, pretax := new(big.Rat), new(big.Rat)
	for i, ev := range events {
		assert.Equal(t, "cloud.alicloud.billing", ev.Event.Source())
		assert.True(t, strings.HasPrefix(ev.Event.Subject(), e.Day.String()+"/"), ev.Event.Subject())
		billed.Add(billed, decimal(t, data[i]["BilledCost"]))
	}
	for _, it := range items {
		pretax.Add(pretax, decimal(t, it.PretaxAmount))
	}
	assert.GreaterOrEqual(t, len(events), len(items), "a FOCUS event per instance row (and amortized ones)")
	assert.Equal(t, pretax.FloatString(6), billed.FloatString(6), "the day's BilledCost sums to its PretaxAmount")
	first := harness.IDs(events)

	e.Sink.Reset()
	r = e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, 6, describeInstanceCalls(e), "the run again reads the day once more")
	again, _ := focusEvents(t, e)
	assert.Equal(t, first, harness.IDs(again), "the FOCUS events keep their ids")
}

// --check probes the instance bill once for the instance and FOCUS bills, and the FOCUS
// bill alone by DescribeInstanceBill.
func TestCheck_TheFocusBillIsProbedAsTheInstanceBill(t *testing.T) {
	e := harness.New(t)
	r := check(t, e, map[string]any{"bills": []string{"account", "instance", "focus"}})
	require.Equal(t, 0, r.Code, r.Stdout)
	assert.Contains(t, line(t, r.Stdout, "OK", "api default"), "QueryAccountBill and DescribeInstanceBill for ")
	assert.Len(t, e.API.Requests(), 2)

	e = harness.New(t)
	r = check(t, e, map[string]any{"bills": []string{"focus"}})
	require.Equal(t, 0, r.Code, r.Stdout)
	assert.Contains(t, line(t, r.Stdout, "OK", "api default"), "DescribeInstanceBill for ")
	require.Len(t, e.API.Requests(), 1)
	assert.Equal(t, "DescribeInstanceBill", e.API.Requests()[0].Action)
}

// The instance bill grows while it is read: the read stops, and the day is read again
// from its start for both bills, once. Each row arrives once in each bill.
func TestE2E_AMovedInstanceBillIsReadAgainForBothBills(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleInstanceDay(e.Day.String(), 700, 5)
	e.API.SetInstanceDay(e.Day.String(), items[:699])
	url := shiftingAPI(t, e, func(n int) {
		if n == 1 { // after page 1 of the first read: one more row, TotalCount 700
			e.API.SetInstanceDay(e.Day.String(), items)
		}
	})
	cfg := e.Config(t, map[string]any{"endpoint": url, "bills": []string{"instance", "focus"}})
	r := e.Run(t, []string{"--config", cfg, "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "reading the instance bill again from its start")
	assert.Equal(t, 2+3, describeInstanceCalls(e), "pages 1 and 2 of the read that moved (page 2 says so), then one read of 3 pages for both bills")
	requireInstanceDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	events, _ := focusEvents(t, e)
	subjects := map[string]bool{}
	for _, ev := range events {
		subjects[ev.Event.Subject()] = true
	}
	assert.GreaterOrEqual(t, len(subjects), len(items), "every instance row as a FOCUS row")
}

// Two months of the fake's FOCUS days through the connector (the second month's bill
// empty, so that every purchase of the first is spread to its end): every FOCUS event
// conforms; each day's BilledCost sums to its PretaxAmount; the one-month subscription's
// EffectiveCost over its days sums to its price to the cent; over the run, EffectiveCost
// sums to BilledCost (the refunded subscription's spread ends on its refund's day).
func TestE2E_AFocusMonthAddsUpAndIsSpread(t *testing.T) {
	e := harness.New(t)
	month := calendar.MonthOf(e.Day).Prev().Prev()
	days, err := bssfake.FocusMonth(month.String())
	require.NoError(t, err)
	pretax := map[string]*big.Rat{}
	for _, d := range days {
		e.API.SetInstanceDay(d.Date, d.Items)
		pretax[d.Date] = new(big.Rat)
		for _, it := range d.Items {
			pretax[d.Date].Add(pretax[d.Date], decimal(t, it.PretaxAmount))
		}
	}
	for _, d := range month.Next().Days() {
		e.API.SetInstanceDay(d.String(), nil)
		pretax[d.String()] = new(big.Rat)
	}
	cfg := e.Config(t, map[string]any{"bills": []string{"focus"}})
	r := e.Run(t, []string{"--config", cfg, "--from", month.First().String(), "--to", month.Next().Last().String()})
	require.Equal(t, 0, r.Code, r.Stderr)

	_, data := focusEvents(t, e)
	billed, effective, amortized := map[string]*big.Rat{}, new(big.Rat), 0
	totalBilled, subscription := new(big.Rat), new(big.Rat)
	for _, d := range data {
		day := d["x_BillingDate"].(string)
		if billed[day] == nil {
			billed[day] = new(big.Rat)
		}
		b, eff := decimal(t, d["BilledCost"]), decimal(t, d["EffectiveCost"])
		billed[day].Add(billed[day], b)
		totalBilled.Add(totalBilled, b)
		effective.Add(effective, eff)
		if d["x_Amortized"] == true {
			amortized++
		}
		if d["ResourceId"] == bssfake.FocusSubscription && d["ChargeCategory"] == "Usage" {
			subscription.Add(subscription, new(big.Rat).Sub(eff, b)) // its share of the day
		}
	}
	for day, want := range pretax {
		got := billed[day]
		if got == nil {
			got = new(big.Rat)
		}
		assert.Equal(t, want.FloatString(4), got.FloatString(4), "%s: BilledCost sums to PretaxAmount", day)
	}
	assert.Positive(t, amortized, "amortized rows on the covered days without a row")
	assert.Equal(t, decimal(t, bssfake.FocusSubscriptionCost).FloatString(2), subscription.FloatString(2),
		"the subscription's shares sum to its price to the cent")
	assert.Equal(t, totalBilled.FloatString(4), effective.FloatString(4), "over whole spreads, EffectiveCost sums to BilledCost")
}
