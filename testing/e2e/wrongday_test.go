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
