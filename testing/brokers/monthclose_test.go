package brokers_test

import (
	"strconv"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/reconcile"
	"github.com/cloudbill/alicloud-billing-source/testing/brokers"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// Issue 18, "Done when", through JetStream: a month (two months back: its bill is final)
// delivered day by day into a stream; its final bill revised on two days (5 rows changed,
// 3 vanished, 2 billed late); --close-month into the stream. The stream's last message for
// each row's subject is the row's latest revision (a retraction for the rows gone), the
// last messages sum to the final bill, and the stream holds one month_closed message, its
// last, reconciled. A second close adds nothing to the stream (the same ids: duplicates).
func TestNATS_AfterAMonthCloseTheLastMessageOfEachSubjectIsItsLatestRevision(t *testing.T) {
	e := harness.New(t)
	m := calendar.MonthOf(calendar.Of(e.Clock.Now().UTC())).Prev().Prev()
	days := []calendar.Day{m.First(), m.First().AddDays(14), m.Last()}
	for i, d := range days {
		e.API.SetDay(d.String(), bssfake.SampleDay(d.String(), 20, uint64(60+i)))
	}
	n := startNATS(t, brokers.NATSOptions{})
	cfg := natsConfig(t, e, n, nil, map[string]any{"api_qps": 100})
	r := e.Run(t, []string{"--config", cfg, "--from", m.First().String(), "--to", m.Last().String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	delivered, _ := streamEvents(t, n)
	require.Len(t, delivered, 60)

	gone := map[string]bool{}
	for i, d := range days[1:] {
		day := d.String()
		e.API.Revise(day, func(rows []bssfake.Item) []bssfake.Item {
			for j := range 5 {
				rows[j].PretaxAmount, rows[j].PaymentAmount = "2.5", "2.5"
			}
			for _, it := range rows[5:8] {
				gone[job.Subject(it, it.Identity())] = true
			}
			rows = append(rows[:5], rows[8:]...)
			late := bssfake.SampleDay(day, 22, uint64(70+i))[20:]
			for j := range late {
				late[j].OwnerID = "99999999999999" + strconv.Itoa(j)
			}
			return append(rows, late...)
		})
	}
	args := []string{"--config", cfg, "--close-month", m.String()}
	r = e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "month_closed sent")

	events, _ := streamEvents(t, n) // in stream order
	require.Len(t, events, 60+2*(5+3+2)+1, "the month's rows, then 10 revisions, 6 retractions, 4 late rows, and the month")
	closing := events[len(events)-1]
	require.Equal(t, reconcile.EventType, closing.Type(), "the month's event is the stream's last")
	assert.Equal(t, "default/"+m.String(), closing.Subject())
	assert.Contains(t, string(closing.Data()), `"reconciled":true`)
	rows := events[:len(events)-1]
	last := map[string]event.Event{}
	for _, ev := range rows {
		require.NotEqual(t, reconcile.EventType, ev.Type(), "one month_closed message")
		last[ev.Subject()] = ev
	}
	require.Len(t, last, 60+2*2, "the month's rows and the late ones")
	latest := harness.Latest(t, rows)
	var datas [][]byte
	for subject, ev := range last {
		assert.Equal(t, latest[subject].ID(), ev.ID(), "the last message of %s is its latest revision", subject)
		assert.Equal(t, gone[subject], harness.Retracted(t, ev), subject)
		datas = append(datas, ev.Data())
	}
	var final []bssfake.Item
	for _, d := range days {
		final = append(final, e.API.Day(d.String())...)
	}
	assert.Equal(t, harness.ItemSums(t, final), harness.AmountSums(t, datas...), "the last messages sum to the final bill")

	r = e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	again, _ := streamEvents(t, n)
	assert.Len(t, again, len(events), "a second close: the same month_closed id, a duplicate the stream drops")
}
