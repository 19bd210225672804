package state

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// A month's event is planned before it is sent (a crash resends it as planned), and the
// month is closed only once that very event is acknowledged; the record survives a reopen
// and a read-only copy sees it.
func TestStore_MonthPlannedThenClosedSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	may, june := calendar.Month{Year: 2026, Month: time.May}, calendar.Month{Year: 2026, Month: time.June}
	_, ok, err := s.Month(may)
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = s.LastClosedMonth()
	require.NoError(t, err)
	assert.False(t, ok)

	require.NoError(t, s.PlanMonth(may, Month{Hash: "h1", ID: "id-1", Revision: 7, Reconciled: true}))
	closed, err := s.MonthClosed(may)
	require.NoError(t, err)
	assert.False(t, closed, "planned, not delivered")
	require.ErrorContains(t, s.CloseMonth(may, "id-other", now), "does not plan the event id-other")
	require.NoError(t, s.CloseMonth(may, "id-1", now))
	// Planned again with the same event: still closed. With another: open until it is acknowledged.
	require.NoError(t, s.PlanMonth(may, Month{Hash: "h1", ID: "id-1", Revision: 7}))
	closed, err = s.MonthClosed(may)
	require.NoError(t, err)
	assert.True(t, closed)
	require.NoError(t, s.PlanMonth(june, Month{Hash: "h2", ID: "id-2", Revision: 8}))
	require.NoError(t, s.Close())

	ro, err := Open(path, true)
	require.NoError(t, err)
	defer ro.Close()
	rec, ok, err := ro.Month(may)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Month{Hash: "h1", ID: "id-1", Revision: 7, Closed: true, Reconciled: true, ClosedAt: now.UTC()}, rec)
	last, ok, err := ro.LastClosedMonth()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, may, last, "June is planned, not closed")
	require.Error(t, ro.PlanMonth(june, Month{}), "a dry run writes nothing")
}
