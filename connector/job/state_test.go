package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// recorder delivers everything except the ids in fail.
type recorder struct {
	calls [][]event.Event
	fail  map[string]bool
}

func (r *recorder) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	r.calls = append(r.calls, collect(events, result, func(evs []event.Event) map[string]error {
		out := map[string]error{}
		for _, e := range evs {
			if r.fail[e.ID()] {
				out[e.ID()] = errors.New("receiver down")
			}
		}
		return out
	}))
}

func (r *recorder) last() map[string]event.Event {
	m := map[string]event.Event{}
	for _, e := range r.calls[len(r.calls)-1] {
		m[rowOf(e).Identity()] = e
	}
	return m
}

func rowOf(e event.Event) billing.Row {
	var r billing.Row // the event's data is the row, with VanceSource and VanceType before it
	_ = json.Unmarshal(e.Data(), &r)
	return r
}

func rows3() []billing.Row {
	a, b, c := seedRow, seedRow, seedRow
	b.ProductCode, b.PipCode = "ecs", "ecs"
	c.ProductCode, c.PipCode = "oss", "oss"
	return []billing.Row{a, b, c}
}

func openState(t *testing.T) *state.Store {
	t.Helper()
	s, err := state.Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func revision(t *testing.T, e event.Event) int {
	t.Helper()
	v, ok := e.Extensions()[job.RevisionExtension]
	require.True(t, ok, "no revision extension")
	switch n := v.(type) {
	case int32:
		return int(n)
	case int:
		return n
	}
	t.Fatalf("revision %T %v", v, v)
	return 0
}

func TestRun_DaemonSendsOnlyNewAndChangedRows(t *testing.T) {
	st := openState(t)
	rec := &recorder{}
	rows := rows3()
	j := newJob(fetcher{rows: rows}, rec, st)

	rep, err := j.Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.New)
	first := rec.last()
	require.Len(t, first, 3)
	info, _ := st.DayInfo(day)
	assert.True(t, info.Complete)

	// Nothing changed: nothing is sent.
	rep, err = j.Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Unchanged)
	assert.Len(t, rec.calls, 1, "a day that sends nothing does not start a sender")

	// A late correction of one row: sent again, new id, same subject, a higher revision (the
	// pull's time; one more than the stored revision when that is as high, as here, where
	// every run starts in the same second).
	rows[1].PaymentAmount = "1.73"
	rep, err = newJob(fetcher{rows: rows}, rec, st).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Changed)
	assert.Equal(t, 2, rep.Unchanged)
	got := rec.last()
	require.Len(t, got, 1)
	for id, e := range got {
		assert.NotEqual(t, first[id].ID(), e.ID())
		assert.Equal(t, first[id].Subject(), e.Subject())
		assert.Equal(t, job.TimeRevision(pulled), revision(t, first[id]))
		assert.Equal(t, job.TimeRevision(pulled)+1, revision(t, e))
	}

	// Changed back: a higher revision still and yet another id (a receiver must not drop it
	// as a duplicate of the first).
	rows[1].PaymentAmount = "0.23"
	_, err = newJob(fetcher{rows: rows}, rec, st).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	for id, e := range rec.last() {
		assert.Equal(t, job.TimeRevision(pulled)+2, revision(t, e))
		assert.NotEqual(t, first[id].ID(), e.ID())
	}
	require.NoError(t, st.Check())
}

func TestRun_ExplicitRunsResendEverythingWithTheSameIDs(t *testing.T) {
	st := openState(t)
	rec := &recorder{}
	j := newJob(fetcher{rows: rows3()}, rec, st)
	_, err := j.Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	first := rec.last()
	rep, err := j.Run(context.Background(), day, job.Explicit)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Delivered)
	for id, e := range rec.last() {
		assert.Equal(t, first[id].ID(), e.ID())
	}
}

func TestRun_UndeliveredRowsAreRetriedWithTheSameIDsAndTheDayStaysIncomplete(t *testing.T) {
	st := openState(t)
	rec := &recorder{fail: map[string]bool{}}
	rows := rows3()
	// Fail the ecs row on the first run.
	ecs, err := job.EventOf(rows[1], job.TimeRevision(pulled), pulled)
	require.NoError(t, err)
	rec.fail[ecs.ID()] = true
	j := newJob(fetcher{rows: rows}, rec, st)
	rep, err := j.Run(context.Background(), day, job.Incremental)
	require.ErrorIs(t, err, job.ErrUndelivered)
	assert.Equal(t, 2, rep.Delivered)
	info, _ := st.DayInfo(day)
	assert.False(t, info.Complete)
	assert.Contains(t, info.LastError, "not delivered")
	require.NoError(t, st.Check())

	delete(rec.fail, ecs.ID())
	rep, err = j.Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	require.Len(t, rec.calls[1], 1, "only the undelivered row is sent again")
	assert.Equal(t, ecs.ID(), rec.calls[1][0].ID())
	info, _ = st.DayInfo(day)
	assert.True(t, info.Complete)
	assert.Equal(t, 2, info.Attempts)
}

// A crash after the plan was written and before deliveries were recorded: the next run
// sends the planned rows with the planned ids and revisions.
func TestRun_AfterACrashPlannedRowsKeepTheirIDs(t *testing.T) {
	st := openState(t)
	rows := rows3()
	rec := &recorder{}
	_, err := newJob(fetcher{rows: rows}, rec, st).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	rows[2].CashAmount = "9"
	crashed := &crashingPublisher{}
	_, err = newJob(fetcher{rows: rows}, crashed, st).Run(context.Background(), day, job.Incremental)
	require.Error(t, err)
	planned, err := st.Rows(day)
	require.NoError(t, err)
	want := planned[rows[2].Identity()]
	assert.Equal(t, job.TimeRevision(pulled)+1, want.Revision)
	assert.False(t, want.Delivered)

	_, err = newJob(fetcher{rows: rows}, rec, st).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	got := rec.last()
	require.Len(t, got, 1)
	assert.Equal(t, want.ID, got[rows[2].Identity()].ID())
}

// crashingPublisher "dies" before any acknowledgement.
type crashingPublisher struct{}

func (crashingPublisher) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	collect(events, result, func(evs []event.Event) map[string]error {
		out := map[string]error{}
		for _, e := range evs {
			out[e.ID()] = context.Canceled
		}
		return out
	})
}

func TestDryRun_CountsWithoutSendingOrWriting(t *testing.T) {
	st := openState(t)
	rec := &recorder{}
	rep, err := newJob(fetcher{rows: rows3()}, rec, st).DryRun(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.New)
	assert.Empty(t, rec.calls)
	days, err := st.Days()
	require.NoError(t, err)
	assert.Empty(t, days)
}
