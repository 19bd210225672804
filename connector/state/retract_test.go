package state

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// delivered plans and acknowledges rows as a pull does, and finishes it.
func delivered(t *testing.T, s *Store, ids ...string) {
	t.Helper()
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(planned(ids...)))
	require.NoError(t, p.Ack(acks(ids...)))
	require.NoError(t, p.Finish(len(ids), now))
}

func goneIDs(gone []Gone) []string {
	out := []string{}
	for _, g := range gone {
		out = append(out, g.Identity)
	}
	return out
}

// A complete read that no longer has a delivered row: the row is gone, its retraction is
// recorded before it is sent, the day waits for its acknowledgement, and once acknowledged
// it is never gone again.
func TestPull_ARowTheReadNoLongerHasIsRetractedOnce(t *testing.T) {
	s := open(t)
	delivered(t, s, "a", "b", "c")

	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(map[string]Row{"a": {Hash: "h-a", ID: "ev-a", Revision: 1, Delivered: true}}))
	gone, live, err := p.Vanished()
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "c"}, goneIDs(gone))
	assert.Equal(t, 3, live)
	assert.Equal(t, Row{Hash: "h-b", ID: "ev-b", Revision: 1, Delivered: true, Pull: 1}, gone[0].Row, "what the state knows of it")

	require.NoError(t, p.Retract(map[string]Row{"b": {Hash: "z-b", ID: "rt-b", Revision: 2}, "c": {Hash: "z-c", ID: "rt-c", Revision: 2}}))
	ok, _ := s.Complete(day, "account")
	assert.False(t, ok, "a crash now leaves the day due")
	require.ErrorContains(t, p.Finish(1, now), "2 of its rows are not delivered")
	require.NoError(t, p.Ack([]Ack{{Identity: "b", ID: "rt-b"}}))

	// Crash: the next pull finds c's retraction not acknowledged, with its id, and b done.
	p2, _ := s.Pull("account", day)
	require.NoError(t, p2.Plan(map[string]Row{"a": {Hash: "h-a", ID: "ev-a", Revision: 1, Delivered: true}}))
	gone, live, err = p2.Vanished()
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, goneIDs(gone))
	assert.Equal(t, Row{Hash: "z-c", ID: "rt-c", Revision: 2, Pull: 2, Retracted: true}, gone[0].Row)
	assert.Equal(t, 1, live, "retracted rows are not live")
	require.NoError(t, p2.Retract(map[string]Row{"c": gone[0].Row}))
	require.NoError(t, p2.Ack([]Ack{{Identity: "c", ID: "rt-c"}}))
	require.NoError(t, p2.Finish(1, now))
	require.NoError(t, s.Check())

	p3, _ := s.Pull("account", day)
	require.NoError(t, p3.Plan(map[string]Row{"a": {Hash: "h-a", ID: "ev-a", Revision: 1, Delivered: true}}))
	gone, _, err = p3.Vanished()
	require.NoError(t, err)
	assert.Empty(t, gone, "retracted and acknowledged: never again")
	n, err := p3.Live()
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// b comes back: planned as any row, no longer retracted.
	require.NoError(t, p3.Plan(map[string]Row{"b": {Hash: "h-b2", ID: "ev-b2", Revision: 3}}))
	rows, err := s.Rows(day)
	require.NoError(t, err)
	assert.False(t, rows["b"].Retracted)
	assert.True(t, rows["c"].Retracted)
}

// Only rows gone may be retracted: a row this pull read, or one the state never had, is
// refused, and nothing of the batch is written.
func TestPull_RetractRefusesRowsThisPullReadOrNeverHad(t *testing.T) {
	s := open(t)
	delivered(t, s, "a", "b")
	p, _ := s.Pull("account", day)
	require.NoError(t, p.Plan(map[string]Row{"a": {Hash: "h-a", ID: "ev-a", Revision: 1, Delivered: true}}))
	require.ErrorContains(t, p.Retract(map[string]Row{"a": {ID: "rt-a", Revision: 2}}), "this pull read it")
	require.ErrorContains(t, p.Retract(map[string]Row{"b": {ID: "rt-b", Revision: 2}, "x": {ID: "rt-x"}}), "the state does not have it")
	rows, err := s.Rows(day)
	require.NoError(t, err)
	assert.False(t, rows["b"].Retracted, "the batch was not written")
	ro, err := s.ReadPull("account", day)
	require.NoError(t, err)
	assert.Error(t, ro.Retract(map[string]Row{"b": {ID: "rt-b"}}), "a dry run writes nothing")
}
