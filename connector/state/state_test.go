package state

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
)

var day = billing.Day{Year: 2026, Month: 11, Day: 3}

func TestStore_PlanDeliverCompleteSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	require.NoError(t, s.SetSince(day))
	require.NoError(t, s.Plan(day, map[string]Row{"a": {Hash: "h1", ID: "id-a", Revision: 1}, "b": {Hash: "h2", ID: "id-b", Revision: 1}}))
	require.NoError(t, s.Delivered(day, []string{"a"}))

	// Not every row delivered: the day cannot be recorded complete.
	err = s.SetDayInfo(day, Day{Complete: true, Rows: 2}, map[string]string{"a": "h1", "b": "h2"})
	require.ErrorContains(t, err, `row "b" is not delivered`)
	// Delivered, but with other content than the last pull: not complete either.
	require.NoError(t, s.Delivered(day, []string{"b"}))
	require.Error(t, s.SetDayInfo(day, Day{Complete: true, Rows: 2}, map[string]string{"a": "h1", "b": "h3"}))
	require.NoError(t, s.SetDayInfo(day, Day{Complete: true, Rows: 2, Attempts: 1}, map[string]string{"a": "h1", "b": "h2"}))
	require.NoError(t, s.Close())

	s, err = Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	since, ok, err := s.Since()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, day, since)
	info, err := s.DayInfo(day)
	require.NoError(t, err)
	assert.True(t, info.Complete)
	rows, err := s.Rows(day)
	require.NoError(t, err)
	assert.Equal(t, Row{Hash: "h1", ID: "id-a", Revision: 1, Delivered: true}, rows["a"])
	days, err := s.Days()
	require.NoError(t, err)
	assert.Equal(t, []billing.Day{day}, days)
	require.NoError(t, s.Check())
}

func TestStore_DeliveredWithoutPlanIsAnError(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorContains(t, s.Delivered(day, []string{"ghost"}), "never planned")
}

func TestStore_SecondProcessIsToldTheFileIsInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	_, err = Open(path, false)
	require.ErrorIs(t, err, ErrLocked)
}

func TestStore_ReadOnlyWithoutAFileIsEmpty(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "missing.db"), true)
	require.NoError(t, err)
	assert.Nil(t, s)
}

func TestStore_CheckFindsAnInconsistentDay(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Plan(day, map[string]Row{"a": {Hash: "h", ID: "x", Revision: 1}}))
	// Written complete without the check (as a buggy writer would): Check notices.
	require.NoError(t, s.SetDayInfo(day, Day{Complete: true, Rows: 1}, nil))
	require.ErrorContains(t, s.Check(), "not delivered")
}
