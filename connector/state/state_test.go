package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

var day = calendar.Day{Year: 2026, Month: 11, Day: 3}

func TestStore_PlanDeliverCompleteSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	require.NoError(t, s.SetSince(day))
	rows := map[string]Row{"a": {Hash: "h1", ID: "id-a", Revision: 1}, "b": {Hash: "h2", ID: "id-b", Revision: 1}}
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(rows))
	require.NoError(t, p.Ack(ackedAs(rows, "a")))

	// Not every row delivered: the day cannot be recorded complete.
	require.ErrorContains(t, p.Finish(2, now), "1 of its rows are not delivered")
	// An acknowledgement of another event than the one planned (other content): not complete either.
	require.NoError(t, p.Ack([]Ack{{Identity: "b", ID: "id-b-other-content"}}))
	require.Error(t, p.Finish(2, now))
	require.NoError(t, p.Ack(ackedAs(rows, "b")))
	require.NoError(t, p.Finish(2, now))
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
	assert.Equal(t, 1, info.Attempts)
	got, err := s.Rows(day)
	require.NoError(t, err)
	assert.Equal(t, Row{Hash: "h1", ID: "id-a", Revision: 1, Delivered: true, Pull: 1}, got["a"])
	days, err := s.Days()
	require.NoError(t, err)
	assert.Equal(t, []calendar.Day{day}, days)
	require.NoError(t, s.Check())
}

func TestPull_AckOfARowNeverPlannedRecordsNothing(t *testing.T) {
	s := open(t)
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Ack(acks("ghost")))
	rows, err := s.Rows(day)
	require.NoError(t, err)
	assert.Empty(t, rows, "an acknowledgement is not a plan")
	require.NoError(t, p.Finish(0, now))
}

func TestStore_ReadOnlyWithoutAFileIsEmpty(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "missing.db"), true)
	require.NoError(t, err)
	assert.Nil(t, s)

	// Nor with an empty one (created, never written): neither is created or written.
	path := filepath.Join(t.TempDir(), "empty.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	s, err = Open(path, true)
	require.NoError(t, err)
	assert.Nil(t, s)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Zero(t, fi.Size())
}

func TestStore_CheckFindsAnInconsistentDay(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, planDay(s, day, map[string]Row{"a": {Hash: "h", ID: "x", Revision: 1}}))
	// Written complete without the check (as a buggy writer would): Check notices.
	writeComplete(t, s, day, 1)
	require.ErrorContains(t, s.Check(), "not delivered")
}

func TestStore_LongIdentityIsKeptUnderItsHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	huge := `["2026-11-03","` + strings.Repeat("x", 1<<20) + `"]` // a 1 MB string field in the identity
	atLimit := strings.Repeat("y", MaxKeyLen)
	overLimit := strings.Repeat("y", MaxKeyLen+1)
	rows := map[string]Row{
		huge:      {Hash: "h1", ID: "id-huge", Revision: 1},
		atLimit:   {Hash: "h2", ID: "id-at", Revision: 1},
		overLimit: {Hash: "h3", ID: "id-over", Revision: 2},
		"short":   {Hash: "h4", ID: "id-short", Revision: 1},
	}
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(rows))
	require.NoError(t, p.Ack(ackedAs(rows, huge, atLimit, overLimit, "short")))
	require.NoError(t, p.Finish(4, now))
	require.NoError(t, s.Close())

	for _, readOnly := range []bool{false, true} {
		s, err = Open(path, readOnly)
		require.NoError(t, err)
		got, err := s.Rows(day)
		require.NoError(t, err)
		require.Len(t, got, 4)
		assert.Equal(t, Row{Hash: "h1", ID: "id-huge", Revision: 1, Delivered: true, Pull: 1}, got[huge], "the identity comes back whole")
		assert.Equal(t, Row{Hash: "h3", ID: "id-over", Revision: 2, Delivered: true, Pull: 1}, got[overLimit])
		assert.True(t, got[atLimit].Delivered)
		require.NoError(t, s.Check())
		require.NoError(t, s.Close())
	}

	// In the file, only the short identities are keys; the others are hashes.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		return kindDayBucket(tx.Bucket(accountKey(DefaultAccount)), "account", day).Bucket(bucketRows).ForEach(func(k, _ []byte) error {
			assert.LessOrEqual(t, len(k), MaxKeyLen)
			return nil
		})
	}))
}

func TestStore_IdentitiesThatLookHashedOrAreEmptyKeepTheirOwnRows(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	defer s.Close()
	long := strings.Repeat("z", 1000)
	k, hashed := rowKey(long)
	require.True(t, hashed)
	rows := map[string]Row{
		long:      {Hash: "long", ID: "1", Revision: 1},
		string(k): {Hash: "looks hashed", ID: "2", Revision: 1}, // the very key of long
		"":        {Hash: "empty", ID: "3", Revision: 1},        // bbolt refuses empty keys
	}
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(rows))
	require.NoError(t, p.Ack(ackedAs(rows, "")))
	got, err := s.Rows(day)
	require.NoError(t, err)
	assert.Equal(t, map[string]Row{
		long:      {Hash: "long", ID: "1", Revision: 1, Pull: 1},
		string(k): {Hash: "looks hashed", ID: "2", Revision: 1, Pull: 1},
		"":        {Hash: "empty", ID: "3", Revision: 1, Delivered: true, Pull: 1},
	}, got)
}

func TestStore_MessagesCutLongIdentitiesShort(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	defer s.Close()
	huge := strings.Repeat("q", 1<<20)
	require.NoError(t, planDay(s, day, map[string]Row{huge: {Hash: "h", ID: "x", Revision: 1}}))
	writeComplete(t, s, day, 1) // a buggy writer: Check names the row
	err = s.Check()
	require.ErrorContains(t, err, `row "`+strings.Repeat("q", 64)+`"... (1048576 bytes) is not delivered`)
	assert.Less(t, len(err.Error()), 200)
}

func TestStore_ValueThatDoesNotDecodeIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(map[string]Row{"a": {Hash: "h", ID: "x", Revision: 1}}))
	require.NoError(t, s.write(func(root *bolt.Bucket) error {
		b := kindDayBucket(root, "account", day)
		if err := b.Bucket(bucketRows).Put([]byte("a"), []byte("{not json")); err != nil {
			return err
		}
		return b.Put(keyDayMeta, []byte("[]"))
	}))
	for _, err := range []error{
		func() error { _, err := s.Rows(day); return err }(),
		func() error { _, err := s.DayInfo(day); return err }(),
		func() error { _, err := s.Pull("account", day); return err }(),
		func() error { _, err := p.Known([]string{"a"}); return err }(),
		p.Ack([]Ack{{Identity: "a", ID: "x"}}),
	} {
		require.ErrorIs(t, err, ErrCorrupt)
		assert.True(t, strings.HasPrefix(err.Error(), "state_path "+path+": corrupted: "), err.Error())
	}
	// A pull's writes say which day they were writing first.
	for _, err := range []error{
		p.Plan(map[string]Row{"a": {Hash: "h2", ID: "y", Revision: 2}}),
		p.Finish(1, now),
	} {
		require.ErrorIs(t, err, ErrCorrupt)
		assert.Contains(t, err.Error(), ": state_path "+path+": corrupted: ")
	}
}

// A plan on a complete day (a correction about to be sent) makes the day not complete in
// the same transaction: a crash before the acknowledgement leaves it due, not done.
func TestStore_PlanOnACompleteDayMakesItDueAgain(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	defer st.Close()
	day := calendar.Day{Year: 2026, Month: 10, Day: 1}
	rows := map[string]Row{"r1": {Hash: "h1", ID: "id1", Revision: 1}}
	p, err := st.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(rows))
	require.NoError(t, p.Ack(ackedAs(rows, "r1")))
	require.NoError(t, p.Finish(1, now))
	require.NoError(t, st.Check())

	require.NoError(t, planDay(st, day, map[string]Row{"r1": {Hash: "h2", ID: "id2", Revision: 2}}))
	info, err := st.DayInfo(day)
	require.NoError(t, err)
	assert.False(t, info.Complete, "a planned, unacknowledged correction: the day is due again")
	assert.Equal(t, 1, info.Rows)
	require.NoError(t, st.Check(), "the file stays consistent at every step")
}

// writeComplete records the day complete with rows rows, checking nothing: what a buggy
// writer would leave.
func writeComplete(t *testing.T, s *Store, d calendar.Day, rows int) {
	t.Helper()
	require.NoError(t, s.write(func(root *bolt.Bucket) error {
		return putMeta(kindDayBucket(root, "account", d), Day{Complete: true, Rows: rows})
	}))
}
