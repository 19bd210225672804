package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var now = time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC)

func planned(ids ...string) map[string]Row {
	m := map[string]Row{}
	for _, id := range ids {
		m[id] = Row{Hash: "h-" + id, ID: "ev-" + id, Revision: 1}
	}
	return m
}

// planDay records rows of the day as a new pull of the job does before it sends them.
func planDay(s *Store, d calendar.Day, rows map[string]Row) error {
	p, err := s.Pull("account", d)
	if err != nil {
		return err
	}
	return p.Plan(rows)
}

// ackedAs acknowledges the identities with the events rows plans for them.
func ackedAs(rows map[string]Row, ids ...string) []Ack {
	out := make([]Ack, len(ids))
	for i, id := range ids {
		out[i] = Ack{Identity: id, ID: rows[id].ID}
	}
	return out
}

func acks(ids ...string) []Ack {
	out := make([]Ack, len(ids))
	for i, id := range ids {
		out[i] = Ack{Identity: id, ID: "ev-" + id}
	}
	return out
}

func TestPull_PagesPlannedAndAckedMakeTheDayComplete(t *testing.T) {
	s := open(t)
	p, err := s.Pull("instance", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(planned("a", "b")))
	require.NoError(t, p.Plan(planned("c")))
	require.NoError(t, p.Ack(acks("a", "b")))
	err = p.Finish(3, now)
	require.ErrorContains(t, err, "1 of its rows are not delivered")
	require.NoError(t, p.Ack(acks("c")))
	require.ErrorContains(t, p.Finish(4, now), "4 rows read, 3 recorded by this pull")
	require.NoError(t, p.Finish(3, now))
	ok, err := s.Complete(day, "instance")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = s.Complete(day, "account", "instance")
	require.NoError(t, err)
	assert.False(t, ok, "the account bill of the day was never pulled")
	require.NoError(t, s.Check())
	days, err := s.Days()
	require.NoError(t, err)
	assert.Empty(t, days, "the instance bill's days are not the account bill's")
}

func TestPull_TheNextPullCountsOnlyTheRowsItSaw(t *testing.T) {
	s := open(t)
	p, _ := s.Pull("account", day)
	require.NoError(t, p.Plan(planned("a", "b", "gone")))
	require.NoError(t, p.Ack(acks("a", "b")))
	require.NoError(t, p.Fail(errors.New("receiver down"), true, 3, now))

	// The next pull no longer has "gone" (never delivered): a and b complete the day.
	p2, err := s.Pull("account", day)
	require.NoError(t, err)
	known, err := p2.Known([]string{"a", "gone", "new"})
	require.NoError(t, err)
	assert.True(t, known[0].Found && known[0].Delivered && !known[0].ThisPull)
	assert.True(t, known[1].Found && !known[1].Delivered)
	assert.False(t, known[2].Found)
	rows := planned("a", "b")
	for k, r := range rows {
		r.Delivered = true
		rows[k] = r
	}
	require.NoError(t, p2.Plan(rows))
	known, _ = p2.Known([]string{"a"})
	assert.True(t, known[0].ThisPull, "a row planned by this pull is marked with it")
	require.NoError(t, p2.Finish(2, now))
	require.NoError(t, s.Check())
	info, err := s.KindDayInfo("account", day)
	require.NoError(t, err)
	assert.Equal(t, Day{Complete: true, Rows: 2, Attempts: 2, UpdatedAt: now, Pull: 2, DonePull: 2, Seen: 2}, info)
}

func TestPull_PlanningAnUndeliveredRowMakesACompleteDayDueAgain(t *testing.T) {
	s := open(t)
	p, _ := s.Pull("account", day)
	require.NoError(t, p.Plan(planned("a")))
	require.NoError(t, p.Ack(acks("a")))
	require.NoError(t, p.Finish(1, now))
	p2, _ := s.Pull("account", day)
	changed := Row{Hash: "h2", ID: "ev-a2", Revision: 2}
	require.NoError(t, p2.Plan(map[string]Row{"a": changed}))
	ok, err := s.Complete(day, "account")
	require.NoError(t, err)
	assert.False(t, ok, "a crash now must leave the day due")
}

func TestPull_AnAckOfAnEventNoLongerPlannedIsIgnored(t *testing.T) {
	s := open(t)
	p, _ := s.Pull("account", day)
	require.NoError(t, p.Plan(planned("a")))
	// The read started again and planned a new revision before the first event's ack came.
	require.NoError(t, p.Restart())
	require.NoError(t, p.Plan(map[string]Row{"a": {Hash: "h2", ID: "ev-a2", Revision: 2}}))
	require.NoError(t, p.Ack(acks("a"))) // ev-a: the old event
	require.ErrorContains(t, p.Finish(1, now), "not delivered")
	require.NoError(t, p.Ack([]Ack{{Identity: "a", ID: "ev-a2"}}))
	require.NoError(t, p.Finish(1, now))
	require.NoError(t, p.Ack(acks("never")), "an ack of a row never planned is ignored, with the batch's others kept")
}

func TestPull_AFailedReadLeavesACompleteDayComplete(t *testing.T) {
	s := open(t)
	p, _ := s.Pull("account", day)
	require.NoError(t, p.Plan(planned("a")))
	require.NoError(t, p.Ack(acks("a")))
	require.NoError(t, p.Finish(1, now))
	p2, _ := s.Pull("account", day)
	require.NoError(t, p2.Fail(errors.New("API down"), false, 0, now))
	ok, _ := s.Complete(day, "account")
	assert.True(t, ok)
	info, _ := s.KindDayInfo("account", day)
	assert.Equal(t, "API down", info.LastError)
	assert.Equal(t, 2, info.Attempts)
	require.NoError(t, s.Check())
}

func TestPull_ReadPullWritesNothing(t *testing.T) {
	s := open(t)
	p, err := s.ReadPull("instance", day)
	require.NoError(t, err)
	for _, err := range []error{p.Plan(planned("a")), p.Ack(acks("a")), p.Finish(0, now), p.Fail(errors.New("x"), true, 0, now)} {
		assert.Error(t, err)
	}
	require.NoError(t, p.Restart())
	days, err := s.KindDays("instance")
	require.NoError(t, err)
	assert.Empty(t, days)
}

// A day of many pages is kept on disk, not in memory: Finish checks 30,000 rows in one
// transaction.
func TestPull_ALargeDayPageByPage(t *testing.T) {
	s := open(t)
	p, _ := s.Pull("instance", day)
	for page := 0; page < 100; page++ {
		ids := make([]string, 300)
		for i := range ids {
			ids[i] = fmt.Sprintf("row-%05d", page*300+i)
		}
		require.NoError(t, p.Plan(planned(ids...)))
		require.NoError(t, p.Ack(acks(ids...)))
	}
	require.NoError(t, p.Finish(30000, now))
	require.NoError(t, s.Check())
}

// The counts Finish trusts stay right when a row is planned twice by one pull, and when an
// event of an earlier pull is acknowledged late.
func TestPull_CountsOfRowsPlannedTwiceAndLateAcks(t *testing.T) {
	s := open(t)
	p1, _ := s.Pull("account", day)
	require.NoError(t, p1.Plan(planned("old")))
	p2, _ := s.Pull("account", day)
	require.NoError(t, p2.Plan(planned("a", "b")))
	require.NoError(t, p2.Plan(planned("a"))) // again, still not delivered
	require.NoError(t, p2.Ack(acks("old")))   // p1's event, acknowledged late: not this pull's
	require.ErrorContains(t, p2.Finish(2, now), "2 of its rows are not delivered")
	require.NoError(t, p2.Ack(acks("a", "b", "a")))
	require.ErrorContains(t, p2.Finish(3, now), "3 rows read, 2 recorded")
	require.NoError(t, p2.Finish(2, now))
	require.ErrorContains(t, p1.Finish(1, now), "another pull of it began since this one")
	require.NoError(t, s.Check())
}
