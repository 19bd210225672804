package faults

import (
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// retractionIDs are the ids of the retractions the sink holds, by subject.
func retractionIDs(t *testing.T, e *harness.Env) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range e.Sink.Events() {
		if harness.Retracted(t, r.Event) {
			if out[r.Event.Subject()] == nil {
				out[r.Event.Subject()] = map[string]bool{}
			}
			out[r.Event.Subject()][r.Event.ID()] = true
		}
	}
	return out
}

// Issue 18: kill -9 while the retractions of 100 vanished rows are sent, then the same run
// again: every row gone is retracted, each by one event id (the crash's retractions are
// sent again as they were), and a run after that retracts nothing more. The receiver's
// sums at each subject's highest revision are the bill's.
func TestFaults_KilledWhileRetractingAndRestarted(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleDay(e.Day.String(), 600, 31)
	e.API.SetDay(e.Day.String(), items)
	args := []string{"--config", e.Config(t, map[string]any{"send_concurrency": 4}), "--once", "--date", e.Day.String()}
	require.Equal(t, 0, e.Run(t, args).Code)

	var kept []bssfake.Item
	gone := map[string]bool{}
	for i, it := range items {
		if i%6 == 0 {
			gone[job.Subject(it, it.Identity())] = true
		} else {
			kept = append(kept, it)
		}
	}
	e.API.SetDay(e.Day.String(), kept)
	e.Sink.SetDelay(10 * time.Millisecond) // 70 retractions left take about 175 ms: killed among them
	p := e.StartProc(t, args...)
	e.Changed.Wait(t, "30 retractions", p.Out, func() bool { return p.Exited() || len(retractionIDs(t, e)) >= 30 })
	require.False(t, p.Exited(), "the connector ended before the kill:\n%s", harness.Tail(p.Out.String(), 3000))
	p.Kill(t, e)
	require.Less(t, len(retractionIDs(t, e)), len(gone), "killed before every retraction")

	p = e.StartProc(t, args...)
	require.Equal(t, 0, p.Wait(t, e), harness.Tail(p.Out.String(), 3000))
	ids := retractionIDs(t, e)
	assert.Len(t, ids, len(gone), "every row gone is retracted")
	for subject, set := range ids {
		assert.True(t, gone[subject], "a retraction of a row gone: %s", subject)
		assert.Len(t, set, 1, "one retraction id for %s", subject)
	}
	events := e.Sink.Events()
	evs := make([]event.Event, 0, len(events))
	for _, r := range events {
		evs = append(evs, r.Event)
	}
	assert.Equal(t, harness.ItemSums(t, kept), harness.LatestSums(t, evs))

	n := len(events)
	r := e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `"retracted":0`)
	assert.Len(t, e.Sink.Events(), n+len(kept), "the rows again (an explicit run), no retraction")
	checkState(t, e, []calendar.Day{e.Day})
}
