package brokers_test

import (
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/testing/brokers"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// Issue 18 through JetStream: a day delivered, 3 of its 20 rows gone, the day again. The
// second run's re-sends of the rows are duplicates the stream drops (the same ids); the
// retractions are new messages; so the stream's last message for each row's subject is
// its latest revision, and the last messages sum to the bill as it stands.
func TestNATS_AfterRetractionsTheLastMessageOfEachSubjectIsItsLatestRevision(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleDay(e.Day.String(), 20, 18)
	e.API.SetDay(e.Day.String(), items)
	n := startNATS(t, brokers.NATSOptions{})
	args := []string{"--config", natsConfig(t, e, n, nil, nil), "--once", "--date", e.Day.String()}
	r := e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)

	gone := map[string]bool{}
	var kept []bssfake.Item
	for i, it := range items {
		if i == 3 || i == 8 || i == 15 {
			gone[job.Subject(it, it.Identity())] = true
		} else {
			kept = append(kept, it)
		}
	}
	e.API.SetDay(e.Day.String(), kept)
	r = e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `"retracted":3`)

	events, _ := streamEvents(t, n) // in stream order
	require.Equal(t, 23, len(events), "the 20 rows once, then 3 retractions")
	last := map[string]event.Event{}
	for _, ev := range events {
		last[ev.Subject()] = ev
	}
	require.Len(t, last, 20)
	latest := harness.Latest(t, events)
	for subject, ev := range last {
		assert.Equal(t, latest[subject].ID(), ev.ID(), "the last message of %s is its latest revision", subject)
		assert.Equal(t, gone[subject], harness.Retracted(t, ev), subject)
	}
	var datas [][]byte
	for _, ev := range last {
		datas = append(datas, ev.Data())
	}
	assert.Equal(t, harness.ItemSums(t, e.API.Day(e.Day.String())), harness.AmountSums(t, datas...))
}
