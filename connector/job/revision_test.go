package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

func TestTimeRevision_IsSecondsSince2020WithinAnInt32(t *testing.T) {
	epoch := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, 5, job.TimeRevision(epoch.Add(5*time.Second+900*time.Millisecond)))
	assert.Equal(t, int(pulled.Unix()-epoch.Unix()), job.TimeRevision(pulled))
	assert.Equal(t, job.TimeRevision(pulled), job.TimeRevision(pulled.In(time.FixedZone("CST", 8*3600))), "the zone does not count")
	// A clock before the epoch or past 2088: clamped, never a panic or a value an event cannot carry.
	assert.Equal(t, 1, job.TimeRevision(epoch))
	assert.Equal(t, 1, job.TimeRevision(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, 1, job.TimeRevision(time.Time{}))
	last := epoch.Add(math.MaxInt32 * time.Second)
	assert.Equal(t, "2088-01-19T03:14:07Z", last.Format(time.RFC3339))
	assert.Equal(t, math.MaxInt32, job.TimeRevision(last))
	assert.Equal(t, math.MaxInt32, job.TimeRevision(last.Add(time.Second)))
	assert.Equal(t, math.MaxInt32, job.TimeRevision(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)))

	assert.Equal(t, job.TimeRevision(pulled), job.NextRevision(0, pulled), "a new row")
	assert.Equal(t, job.TimeRevision(pulled), job.NextRevision(2, pulled), "a row of an old state")
	assert.Equal(t, job.TimeRevision(pulled)+1, job.NextRevision(job.TimeRevision(pulled), pulled), "a second change in one second")
	assert.Equal(t, 1, job.NextRevision(0, epoch.Add(-time.Hour)))
	assert.Equal(t, 8, job.NextRevision(7, epoch.Add(-time.Hour)), "a clock before 2020 still counts up")
	assert.Equal(t, math.MaxInt32, job.NextRevision(math.MaxInt32, pulled))
	assert.Equal(t, math.MaxInt32, job.NextRevision(math.MaxInt, pulled), "no overflow")
	assert.Equal(t, job.TimeRevision(pulled), job.NextRevision(math.MinInt, pulled), "no overflow")
}

// highest is what a receiver that upserts by subject and keeps the highest revision holds.
func highest(t *testing.T, evs []event.Event) map[string]event.Event {
	t.Helper()
	m := map[string]event.Event{}
	for _, e := range evs {
		if old, ok := m[e.Subject()]; !ok || revision(t, e) > revision(t, old) {
			m[e.Subject()] = e
		}
	}
	return m
}

func amount(t *testing.T, e event.Event) string {
	t.Helper()
	var d struct{ PaymentAmount json.Number }
	dec := json.NewDecoder(bytes.NewReader(e.Data()))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&d))
	return d.PaymentAmount.String()
}

func withAmount(a bill.Amount) billing.Row {
	r := seedRow
	r.PaymentAmount = a
	return r
}

// Issue 22: 1.5, 2.5 and 3.5 on three pulls, the state file lost (moved aside), then 4.5:
// the receiver keeping the highest revision holds 4.5 (it was sent as revision 1 under 3).
func TestRun_ContentAfterTheStateIsLostHasTheHighestRevision(t *testing.T) {
	fc := clockwork.NewFakeClockAt(pulled)
	p := &publisher{}
	st := openState(t)
	for _, a := range []bill.Amount{"1.5", "2.5", "3.5"} {
		_, err := newJobAt(fetcher{rows: []billing.Row{withAmount(a)}}, p, st, fc).Run(context.Background(), day, job.Incremental)
		require.NoError(t, err)
		fc.Advance(24 * time.Hour)
	}
	_, err := newJobAt(fetcher{rows: []billing.Row{withAmount("4.5")}}, p, openState(t), fc).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)

	require.Len(t, p.got, 4)
	for i := 1; i < len(p.got); i++ {
		assert.Greater(t, revision(t, p.got[i]), revision(t, p.got[i-1]), "each content a higher revision")
	}
	kept := highest(t, p.got)
	require.Len(t, kept, 1)
	assert.Equal(t, "4.5", amount(t, kept[p.got[0].Subject()]))
}

// A, then B, then the state is lost and the row is A again: A's event is a new one, never
// seen before (a receiver that drops ids it has seen must not drop it), above B.
func TestRun_OldContentAfterTheStateIsLostGetsANewID(t *testing.T) {
	fc := clockwork.NewFakeClockAt(pulled)
	p := &publisher{}
	st := openState(t)
	for _, a := range []bill.Amount{"1.5", "2.5"} {
		_, err := newJobAt(fetcher{rows: []billing.Row{withAmount(a)}}, p, st, fc).Run(context.Background(), day, job.Incremental)
		require.NoError(t, err)
		fc.Advance(time.Hour)
	}
	_, err := newJobAt(fetcher{rows: []billing.Row{withAmount("1.5")}}, p, openState(t), fc).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	require.Len(t, p.got, 3)
	a, b, again := p.got[0], p.got[1], p.got[2]
	assert.Equal(t, string(a.Data()), string(again.Data()))
	assert.NotEqual(t, a.ID(), again.ID())
	assert.NotEqual(t, b.ID(), again.ID())
	assert.Greater(t, revision(t, again), revision(t, b))
}

// Unchanged content keeps the revision and id of the pull that first planned it, when the
// day is run again explicitly later.
func TestRun_UnchangedContentKeepsItsRevisionAndIDOnALaterRun(t *testing.T) {
	fc := clockwork.NewFakeClockAt(pulled)
	rec := &recorder{}
	st := openState(t)
	_, err := newJobAt(fetcher{rows: rows3()}, rec, st, fc).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	first := rec.last()
	fc.Advance(48 * time.Hour)
	rep, err := newJobAt(fetcher{rows: rows3()}, rec, st, fc).Run(context.Background(), day, job.Explicit)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Unchanged)
	again := rec.last()
	require.Len(t, again, 3)
	for id, e := range again {
		assert.Equal(t, first[id].ID(), e.ID())
		assert.Equal(t, job.TimeRevision(pulled), revision(t, e), "the first pull's time")
		assert.Equal(t, fc.Now(), e.Time(), "the time is this pull's")
	}
}

// oldState records rows as the last release did: delivered, with revisions counted from 1
// and the ids of those revisions.
func oldState(t *testing.T, revisions map[string]int, rows ...billing.Row) *state.Store {
	t.Helper()
	st := openState(t)
	p, err := st.Pull("account", day)
	require.NoError(t, err)
	plan := map[string]state.Row{}
	var acks []state.Ack
	for _, r := range rows {
		body, hash, err := job.Body(r)
		require.NoError(t, err)
		id := r.Identity()
		plan[id] = state.Row{Hash: hash, ID: job.EventID(id, body, revisions[r.ProductCode]), Revision: revisions[r.ProductCode]}
		acks = append(acks, state.Ack{Identity: id, ID: plan[id].ID})
	}
	require.NoError(t, p.Plan(plan))
	require.NoError(t, p.Ack(acks))
	require.NoError(t, p.Finish(len(rows), pulled))
	return st
}

// A state the last release wrote (revisions 1 and 2): the ids of unchanged rows stay, and
// a change goes on above 2.
func TestRun_AnOldStateKeepsItsIDsAndGoesOnAboveItsRevisions(t *testing.T) {
	rows := rows3() // disk, ecs, oss
	revs := map[string]int{"disk": 1, "ecs": 2, "oss": 2}
	st := oldState(t, revs, rows...)
	old, err := st.Rows(day)
	require.NoError(t, err)
	rows[2].PaymentAmount = "1.23"
	rec := &recorder{}
	rep, err := newJob(fetcher{rows: rows}, rec, st).Run(context.Background(), day, job.Explicit)
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 1}, [2]int{rep.Unchanged, rep.Changed})
	got := rec.last()
	for _, r := range rows[:2] {
		e := got[r.Identity()]
		assert.Equal(t, old[r.Identity()].ID, e.ID(), "%s keeps its id", r.ProductCode)
		assert.Equal(t, revs[r.ProductCode], revision(t, e))
	}
	changed := got[rows[2].Identity()]
	assert.Equal(t, job.TimeRevision(pulled), revision(t, changed))
	assert.Greater(t, revision(t, changed), 2)
	assert.NotEqual(t, old[rows[2].Identity()].ID, changed.ID())
}

// A state whose revision no event can carry (a damaged file) plans the row again, with a
// revision that one can.
func TestRun_AStoredRevisionOutOfRangeIsPlannedAgain(t *testing.T) {
	for bad, want := range map[int]int{0: job.TimeRevision(pulled), -3: job.TimeRevision(pulled),
		math.MaxInt32 + 1: job.MaxRevision, math.MaxInt: job.MaxRevision} {
		st := oldState(t, map[string]int{"disk": bad}, seedRow)
		p := &publisher{}
		rep, err := newJob(fetcher{rows: []billing.Row{seedRow}}, p, st).Run(context.Background(), day, job.Incremental)
		require.NoError(t, err, "%d", bad)
		assert.Equal(t, 1, rep.Changed, "%d", bad)
		require.Len(t, p.got, 1)
		assert.Equal(t, want, revision(t, p.got[0]), "%d", bad)
		require.NoError(t, p.got[0].Validate())
	}
}

// movingBill serves read 1 = [[x]] and says the bill moved under it, then read 2 = [[x], [y]]
// on the next Stream call (the bill read again), and moves the clock on before each page.
type movingBill struct {
	fc    *clockwork.FakeClock
	calls atomic.Int32
}

func (m *movingBill) Stream(_ context.Context, _ bill.Kind, _ calendar.Day, fn func(bill.Page) error) error {
	read := []bill.Page{{Rows: []bill.Row{row("x")}, Number: 1, Total: 2}}
	first := m.calls.Add(1) == 1
	if !first {
		read = append(read, bill.Page{Rows: []bill.Row{row("y")}, Number: 2, Total: 2})
	}
	for _, p := range read {
		m.fc.Advance(time.Hour)
		if err := fn(p); err != nil {
			return err
		}
	}
	if first {
		return &bill.MovedError{Page: 2, What: "the bill changed while paging: TotalCount 2 on page 1, 3 on page 2"}
	}
	return nil
}

// One pull is one time: every row of it, on any page of any read, gets the revision of the
// time the pull started, however long it takes.
func TestRun_OnePullOneRevisionTimeOverItsReads(t *testing.T) {
	fc := clockwork.NewFakeClockAt(pulled)
	p := &publisher{}
	st := openState(t)
	_, err := newJobAt(&movingBill{fc: fc}, p, st, fc).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	require.Len(t, p.got, 2, "x once, y once")
	for _, e := range p.got {
		assert.Equal(t, job.TimeRevision(pulled), revision(t, e))
		assert.Equal(t, pulled, e.Time())
	}
	rows, err := st.Rows(day)
	require.NoError(t, err)
	for _, r := range rows {
		assert.Equal(t, job.TimeRevision(pulled), r.Revision)
	}
}
