package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// billingDates counts the events the sink holds by the BillingDate of their data.
func billingDates(t *testing.T, got []sink.Received) map[string]int {
	t.Helper()
	dates := map[string]int{}
	for _, r := range got {
		var d struct{ BillingDate string }
		require.NoError(t, json.Unmarshal(r.Event.Data(), &d))
		dates[d.BillingDate]++
	}
	return dates
}

// A cache or proxy in front of the API that ignores the query string answers every day of
// a range with the first day's bill. Only that day is delivered and done; the other days
// fail naming what came back (exit 1), and are read again, and delivered, by the next run.
func TestE2E_AnswerForAnotherDayIsNeverDeliveredAsThisDays(t *testing.T) {
	e := harness.New(t)
	days := []string{e.Day.AddDays(-2).String(), e.Day.AddDays(-1).String(), e.Day.String()}
	for i, d := range days {
		e.API.SetDay(d, bssfake.SampleDay(d, 5, uint64(i+1)))
		e.API.GenerateInstanceDay(d, 4, uint64(i+1))
	}
	e.API.AnswerEveryDayWith(days[0])
	args := []string{"--config", e.Config(t, bothBills), "--from", days[0], "--to", days[2]}

	r := e.Run(t, args)
	require.Equal(t, 1, r.Code, r.Stderr)
	assert.Equal(t, map[string]int{days[0]: 5 + 4}, billingDates(t, e.Sink.Events()), "only the day the answers hold")
	assert.Contains(t, r.Stderr, `item 1 is of the day \"`+days[0]+`\", not `+days[1])
	assert.Contains(t, r.Stderr, `item 1 is of the day \"`+days[0]+`\", not `+days[2])

	e.API.AnswerEveryDayWith("")
	e.Sink.Reset()
	r = e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	got := billingDates(t, e.Sink.Events())
	assert.Equal(t, 5+4, got[days[1]], "the failed days were not recorded as delivered")
	assert.Equal(t, 5+4, got[days[2]])
}

// Every digit an amount has in the API's answer reaches the receiver, through the billing
// client, the job, the state and the sender, in both content modes: never a float64 on the
// way (0.2 would have sent 0.1 and 123456789012345680 here).
func TestE2E_AmountsArriveWithEveryDigit(t *testing.T) {
	const pretax, payment = "0.1000000000000000055511151231257827", "123456789012345678.12345678"
	for _, mode := range []string{"binary", "structured"} {
		t.Run(mode, func(t *testing.T) {
			e := harness.New(t)
			e.API.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: `{"Success":true,"Code":"Success","RequestId":"R-1",` +
				`"Data":{"BillingCycle":"` + e.Day.Cycle() + `","TotalCount":1,"PageNum":1,"PageSize":300,"Items":{"Item":[{` +
				`"BillingDate":"` + e.Day.String() + `","OwnerID":"1","ProductCode":"ecs","Currency":"CNY","AdjustAmount":0,"CashAmount":"12.5",` +
				`"DeductedByCashCoupons":0,"DeductedByCoupons":0,"DeductedByPrepaidCard":0,"InvoiceDiscount":0,"OutstandingAmount":0,` +
				`"PretaxGrossAmount":1e-7,"PretaxAmount":` + pretax + `,"PaymentAmount":"` + payment + `"}]}}}`})
			r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"send_mode": mode}), "--once", "--date", e.Day.String()})
			require.Equal(t, 0, r.Code, r.Stderr)
			got := e.Sink.Events()
			require.Len(t, got, 1)
			var d map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(got[0].Event.Data(), &d))
			assert.Equal(t, pretax, string(d["PretaxAmount"]))
			assert.Equal(t, payment, string(d["PaymentAmount"]), "a numeric string arrives as that number")
			assert.Equal(t, "12.5", string(d["CashAmount"]))
			assert.Equal(t, "1e-7", string(d["PretaxGrossAmount"]))
		})
	}
}
