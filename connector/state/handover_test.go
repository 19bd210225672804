package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

var handoverDay = calendar.Day{Year: 2026, Month: 11, Day: 10}

// deliverOne records that the account delivered one row on handoverDay under id.
func deliverOne(t *testing.T, s *Store, identity, id string) {
	t.Helper()
	require.NoError(t, s.SetSince(handoverDay))
	p, err := s.Pull(bill.Account, handoverDay)
	require.NoError(t, err)
	require.NoError(t, p.Plan(map[string]Row{identity: {Hash: "h-" + id, ID: id, Revision: 218000000}}))
	require.NoError(t, p.Ack([]Ack{{Identity: identity, ID: id}}))
	require.NoError(t, p.Finish(1, time.Date(2026, 11, 11, 3, 0, 0, 0, time.UTC)))
}

// fileWith writes a state file at path where each account delivered one row, its id
// "id-" and the account's name.
func fileWith(t *testing.T, path string, accounts ...string) {
	t.Helper()
	d, err := OpenDB(path, false, nil)
	require.NoError(t, err)
	for _, a := range accounts {
		deliverOne(t, d.Account(a), `["`+a+`-row"]`, "id-"+a)
	}
	require.NoError(t, d.Close())
}

// rowID is the id the state has for the account's row (deliverOne's) on handoverDay.
func rowID(t *testing.T, d *DB, account string) string {
	t.Helper()
	rows, err := d.Account(account).Rows(handoverDay)
	require.NoError(t, err)
	return rows[`["`+account+`-row"]`].ID
}

// openNamed opens the state file at path for the accounts names, taking from the files.
func openNamed(t *testing.T, path string, readOnly bool, names []string, from ...string) (*DB, error) {
	t.Helper()
	d := &DB{path: path, readOnly: readOnly, handover: from, names: names}
	if err := d.open(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { d.Close() })
	return d, nil
}

func dumped(t *testing.T, s *Store) any {
	t.Helper()
	d, err := dumpAccount(s)
	require.NoError(t, err)
	return d
}

// The old owner's file (shard 2) has the accounts a and b; the new owner's knows b
// already and c nowhere: it takes a, exactly as it was (the same ids and revisions), keeps
// its own b, and c starts empty. The old owner's file is read while its process holds it
// and is left as it was; a start with the same flag again takes nothing.
func TestTakeState_TakesTheAccountsItDoesNotKnowFromAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	old, mine := filepath.Join(dir, "shard2", "state.db"), filepath.Join(dir, "shard0", "state.db")
	od, err := OpenDB(old, false, nil)
	require.NoError(t, err)
	defer od.Close()
	deliverOne(t, od.Account("a"), `["a-row"]`, "id-a")
	deliverOne(t, od.Account("b"), `["b-row"]`, "id-b-old")
	md, err := OpenDB(mine, false, nil)
	require.NoError(t, err)
	deliverOne(t, md.Account("b"), `["b-row"]`, "id-b-mine")
	require.NoError(t, md.Close())
	before, err := os.ReadFile(old)
	require.NoError(t, err)

	d, err := openNamed(t, mine, false, []string{"a", "b", "c"}, old) // while od holds old
	require.NoError(t, err)
	assert.Equal(t, dumped(t, od.Account("a")), dumped(t, d.Account("a")), "a as its old owner had it")
	rows, err := d.Account("a").Rows(handoverDay)
	require.NoError(t, err)
	assert.Equal(t, "id-a", rows[`["a-row"]`].ID)
	assert.True(t, rows[`["a-row"]`].Delivered)
	rows, err = d.Account("b").Rows(handoverDay)
	require.NoError(t, err)
	assert.Equal(t, "id-b-mine", rows[`["b-row"]`].ID, "b known here: kept")
	_, known, err := d.Account("c").Since()
	require.NoError(t, err)
	assert.False(t, known, "c is in neither file")
	after, err := os.ReadFile(old)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the old owner's file is only read")

	// The old owner writes more of a after the copy; a start with the flag again takes nothing.
	deliverOne(t, od.Account("a"), `["a-row-2"]`, "id-a-2")
	require.NoError(t, d.Close())
	d2, err := openNamed(t, mine, false, []string{"a", "b", "c"}, old)
	require.NoError(t, err)
	rows, err = d2.Account("a").Rows(handoverDay)
	require.NoError(t, err)
	assert.NotContains(t, rows, `["a-row-2"]`, "a is known here now: not taken again")
}

// A dry run takes into its own copy only: the file at state_path does not change.
func TestTakeState_ADryRunTakesIntoItsCopyOnly(t *testing.T) {
	dir := t.TempDir()
	old, mine := filepath.Join(dir, "old.db"), filepath.Join(dir, "mine.db")
	fileWith(t, old, "a")
	fileWith(t, mine, "z")

	d, err := openNamed(t, mine, true, []string{"a"}, old)
	require.NoError(t, err)
	assert.Equal(t, "id-a", rowID(t, d, "a"), "the dry run reads a as taken")
	require.NoError(t, d.Close())
	w, err := openNamed(t, mine, false, []string{"a"})
	require.NoError(t, err)
	_, known, err := w.Account("a").Since()
	require.NoError(t, err)
	assert.False(t, known, "state_path itself did not take a")
}

// What cannot be taken stops the start with one line naming both files.
func TestTakeState_RefusesWhatIsNotAnotherStateFile(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "mine.db")
	fileWith(t, mine) // a state file of no account
	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, []byte("not a bbolt file, not at all, and long enough to be read as one"), 0o600))
	emptyFile := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(emptyFile, nil, 0o600))
	for _, tc := range []struct{ from, want string }{
		{filepath.Join(dir, "missing.db"), "--import-state " + filepath.Join(dir, "missing.db") + ": no such file"},
		{mine, "--import-state " + mine + " is this state file itself"},
		{garbage, "--import-state " + garbage + ": "},
		{emptyFile, "--import-state " + emptyFile + ": no state file there"},
	} {
		_, err := openNamed(t, mine, false, []string{"a"}, tc.from)
		var se *Error
		require.ErrorAs(t, err, &se, tc.from)
		assert.Contains(t, err.Error(), "state_path "+mine+": "+tc.want)
		assert.True(t, se.NeedsConfigFix())
	}
}

// openLogged is openNamed with the DB's log written to buf.
func openLogged(t *testing.T, path string, readOnly bool, names []string, buf *bytes.Buffer, from ...string) (*DB, error) {
	t.Helper()
	d := &DB{path: path, readOnly: readOnly, handover: from, names: names, log: logTo(buf)}
	if err := d.open(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { d.Close() })
	return d, nil
}

// A start with the new layout before the old owner's file was there (the flag added on a
// later start): accounts.TakeOver recorded the moved account's first day, and its first
// pull failed to read; nothing of it was sent from this file, so the old owner's state
// replaces that. An account this file ran (a row delivered) is kept; the log says which
// and why.
func TestTakeState_ReplacesAnAccountThisFileKnowsOnlyTheFirstDayOf(t *testing.T) {
	dir := t.TempDir()
	old, mine := filepath.Join(dir, "old.db"), filepath.Join(dir, "mine.db")
	od, err := OpenDB(old, false, nil)
	require.NoError(t, err)
	deliverOne(t, od.Account("a"), `["a-row"]`, "id-a")
	deliverOne(t, od.Account("b"), `["b-row"]`, "id-b-old")
	require.NoError(t, od.Close())
	md, err := OpenDB(mine, false, nil)
	require.NoError(t, err)
	takenDay := handoverDay.AddDays(3)
	require.NoError(t, md.Account("a").SetSince(takenDay))
	p, err := md.Account("a").Pull(bill.Account, takenDay)
	require.NoError(t, err)
	require.NoError(t, p.Fail(errors.New("throttled"), false, 0, time.Date(2026, 11, 14, 3, 0, 0, 0, time.UTC)))
	deliverOne(t, md.Account("b"), `["b-row"]`, "id-b-mine")
	require.NoError(t, md.Close())

	var buf bytes.Buffer
	d, err := openLogged(t, mine, false, []string{"a", "b", "c"}, &buf, old)
	require.NoError(t, err)
	since, ok, err := d.Account("a").Since()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, handoverDay, since, "a's first day its old owner's, not the take-over's")
	rows, err := d.Account("a").Rows(handoverDay)
	require.NoError(t, err)
	assert.Equal(t, "id-a", rows[`["a-row"]`].ID)
	rows, err = d.Account("b").Rows(handoverDay)
	require.NoError(t, err)
	assert.Equal(t, "id-b-mine", rows[`["b-row"]`].ID, "b ran here: kept")
	assert.Contains(t, buf.String(), `"took":1,"accounts":["a"],"replaced_takeover":["a"],"kept_ran_here":["b"],"not_in_file":["c"]`)
}

// A dry run of a process whose state_path has no file yet (a shard added) still reads
// the accounts it would take.
func TestTakeState_ADryRunWithoutAStateFileTakesToo(t *testing.T) {
	dir := t.TempDir()
	old, mine := filepath.Join(dir, "old.db"), filepath.Join(dir, "new", "mine.db")
	fileWith(t, old, "a")

	d, err := openNamed(t, mine, true, []string{"a"}, old)
	require.NoError(t, err)
	assert.Equal(t, "id-a", rowID(t, d, "a"), "the dry run reads a as taken")
	_, err = os.Stat(mine)
	assert.ErrorIs(t, err, fs.ErrNotExist, "a dry run creates nothing at state_path")
}

// The log line of a fleet's move (10,000 accounts) names the first ones and counts them.
func TestTakeState_TheLogNamesAFewOfManyAccounts(t *testing.T) {
	dir := t.TempDir()
	old, mine := filepath.Join(dir, "old.db"), filepath.Join(dir, "mine.db")
	od, err := OpenDB(old, false, nil)
	require.NoError(t, err)
	var names []string
	require.NoError(t, od.write(func(tx *bolt.Tx) error {
		for i := range 10000 {
			names = append(names, fmt.Sprintf("acct-%05d", i))
			root, err := tx.CreateBucket(accountKey(names[i]))
			if err == nil {
				var m *bolt.Bucket
				if m, err = root.CreateBucket(bucketMeta); err == nil {
					err = m.Put(keySince, []byte(handoverDay.String()))
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, od.Close())

	var buf bytes.Buffer
	_, err = openLogged(t, mine, false, names, &buf, old)
	require.NoError(t, err)
	line := buf.String()
	assert.Less(t, len(line), 2000, "one short line")
	assert.Contains(t, line, `"took":10000,"accounts":["acct-00000",`)
	assert.Contains(t, line, `"acct-00019","and 9980 more"]`)
}

// What is not another process's state file of this release stops the start with one
// line, and the file is neither changed nor locked: an earlier release's file (one
// account's, without its name: it would take nothing), a newer schema, a damaged file, a
// named pipe, a device, state_path's lock file.
func TestTakeState_RefusesAnotherKindOfFile(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "mine.db")
	fileWith(t, mine) // a state file of no account
	newer := filepath.Join(dir, "newer.db")
	bd, err := bolt.Open(newer, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bd.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keyVersion, []byte("3"))
	}))
	require.NoError(t, bd.Close())
	damaged := filepath.Join(dir, "damaged.db")
	b, err := os.ReadFile(mine)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(damaged, b[:len(b)/2], 0o600))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	lockLink := filepath.Join(dir, "lock-link.db")
	require.NoError(t, os.Symlink(lockName(mine), lockLink))
	r1, _ := release1Dir(t)
	release1 := filepath.Dir(r1)
	for from, want := range map[string]string{
		filepath.Join(release1, "state.payer.db"): `a state file of an earlier release (schema "1"`,
		filepath.Join(release1, "state.db"):       `a state file of an earlier release (schema "1"`,
		newer:                                     `schema "3", this connector reads schema "2"`,
		damaged:                                   "truncated",
		fifo:                                      "not a regular file",
		"/dev/zero":                               "not a regular file",
		lockLink:                                  "no state file there",
	} {
		var before []byte
		if from != fifo && from != "/dev/zero" {
			before, _ = os.ReadFile(from)
		}
		_, err := openNamed(t, mine, false, []string{"default", "payer"}, from)
		var se *Error
		require.ErrorAs(t, err, &se, from)
		assert.Contains(t, err.Error(), "state_path "+mine+": --import-state "+from+": ", from)
		assert.Contains(t, err.Error(), want, from)
		assert.NotContains(t, err.Error(), "\n")
		if before != nil {
			after, err := os.ReadFile(from)
			require.NoError(t, err)
			assert.Equal(t, before, after, "%s only read", from)
		}
		_, err = os.Stat(from + ".lock")
		assert.ErrorIs(t, err, fs.ErrNotExist, "no lock beside %s", from)
	}
}
