package state

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// testdata/release1 holds state files written by the release before the shared file
// (schema 1, one file per account: state.db for the account "default", state.payer.db and
// state.shop.db beside it), made with that release's Open, Pull, Plan, Ack, Finish, Fail,
// Retract, PlanMonth and CloseMonth; want.json is what that release read of each
// (dumpAccount).
const release1 = "testdata/release1"

var release1Accounts = []string{DefaultAccount, "payer", "shop"}

// release1Dir copies the fixtures into a new directory and returns state_path there and
// the accounts' legacy files.
func release1Dir(t *testing.T) (string, []Legacy) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"state.db", "state.payer.db", "state.shop.db"} {
		b, err := os.ReadFile(filepath.Join(release1, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o600))
	}
	path := filepath.Join(dir, "state.db")
	return path, []Legacy{{Account: "payer", Path: filepath.Join(dir, "state.payer.db")}, {Account: "shop", Path: filepath.Join(dir, "state.shop.db")}}
}

// requireRelease1State checks that every account of d reads exactly what release 1 read.
func requireRelease1State(t *testing.T, d *DB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(release1, "want.json"))
	require.NoError(t, err)
	got := map[string]any{}
	for _, name := range release1Accounts {
		s := d.Account(name)
		dump, err := dumpAccount(s)
		require.NoError(t, err)
		got[name] = dump
		require.NoError(t, s.Check(), name)
	}
	out, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(out), "every account reads what release 1 wrote")
}

// topLevel lists the top-level buckets of the file at path and its schema.
func topLevel(t *testing.T, path string) (names []string, schema string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		schema = string(tx.Bucket(bucketMeta).Get(keyVersion))
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	}))
	return names, schema
}

func logTo(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func TestMigrate_Release1FileAtStatePathIsConvertedInPlace(t *testing.T) {
	path, _ := release1Dir(t)
	var log bytes.Buffer
	d, err := OpenDB(path, false, logTo(&log))
	require.NoError(t, err)
	requireRelease1StateOf(t, d, DefaultAccount)
	require.NoError(t, d.Close())
	names, schema := topLevel(t, path)
	assert.Equal(t, []string{"account:default", "meta"}, names, "the account's buckets moved into its own")
	assert.Equal(t, "2", schema, "release 1 refuses a file whose schema is not \"1\"")
	assert.Equal(t, 1, strings.Count(log.String(), "converted a state file of an earlier release"), log.String())

	// Open is the account "default" of the file, as before; converted once.
	s, err := Open(path, false)
	require.NoError(t, err)
	p, err := s.Pull("account", calendar.Day{Year: 2026, Month: 11, Day: 1})
	require.NoError(t, err)
	require.NoError(t, p.Ack([]Ack{{Identity: "row-a3", ID: "ev-a3"}}))
	require.NoError(t, s.Close())
	d, err = OpenDB(path, false, logTo(&log))
	require.NoError(t, err)
	defer d.Close()
	rows, err := d.Account(DefaultAccount).Rows(calendar.Day{Year: 2026, Month: 11, Day: 1})
	require.NoError(t, err)
	assert.True(t, rows["row-a3"].Delivered)
	assert.Len(t, rows, 5)
	assert.Equal(t, 1, strings.Count(log.String(), "converted"), "a file of schema 2 is not converted again")
}

// requireRelease1StateOf is requireRelease1State for one account.
func requireRelease1StateOf(t *testing.T, d *DB, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(release1, "want.json"))
	require.NoError(t, err)
	var want map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &want))
	dump, err := dumpAccount(d.Account(name))
	require.NoError(t, err)
	out, err := json.Marshal(dump)
	require.NoError(t, err)
	assert.JSONEq(t, string(want[name]), string(out), name)
}

func TestMigrate_Release1AccountFilesAreImportedOnceAndRenamedAside(t *testing.T) {
	path, legacy := release1Dir(t)
	var log bytes.Buffer
	d, err := OpenDB(path, false, logTo(&log), legacy...)
	require.NoError(t, err)
	requireRelease1State(t, d)
	require.NoError(t, d.Close())
	for _, l := range legacy {
		assert.NoFileExists(t, l.Path)
		assert.FileExists(t, l.Path+".imported", "kept for a downgrade by hand")
		assert.Equal(t, 1, strings.Count(log.String(), `"account":"`+l.Account+`","from":"`+l.Path+`","into":"`+path+`"`), log.String())
	}
	assert.Equal(t, 2, strings.Count(log.String(), `"msg":"state: imported an earlier release's state file of an account"`))
	names, _ := topLevel(t, path)
	assert.Equal(t, []string{"account:default", "account:payer", "account:shop", "meta"}, names)

	// The next start imports nothing, and what was written since stays.
	log.Reset()
	d, err = OpenDB(path, false, logTo(&log), legacy...)
	require.NoError(t, err)
	require.NoError(t, d.Account("payer").SetSince(calendar.Day{Year: 2026, Month: 9, Day: 1}))
	require.NoError(t, d.Close())
	d, err = OpenDB(path, false, logTo(&log), legacy...)
	require.NoError(t, err)
	since, _, err := d.Account("payer").Since()
	require.NoError(t, err)
	assert.Equal(t, "2026-09-01", since.String())
	require.NoError(t, d.Close())
	assert.Empty(t, log.String())

	// The imported file renamed back by hand (a downgrade) and written by release 1 since,
	// beside a state that has the account: refused, one line that says what to do.
	require.NoError(t, os.Rename(legacy[0].Path+".imported", legacy[0].Path))
	old, err := bolt.Open(legacy[0].Path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, old.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySince, []byte("2026-08-01")) }))
	require.NoError(t, old.Close())
	_, err = OpenDB(path, false, nil, legacy...)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, `state_path `+path+`: it has state of account "payer", and that account's state file of an earlier release, `+legacy[0].Path+`, is there too; rename `+legacy[0].Path+` to state.payer.db.imported to keep the state that state_path has (the connector imports such a file once, on the first start of this release)`, err.Error())
}

func TestMigrate_AnAccountFileInUseByAnOlderReleaseIsRefused(t *testing.T) {
	path, legacy := release1Dir(t)
	l, err := lock(legacy[1].Path) // what release 1 holds while it runs
	require.NoError(t, err)
	defer l.release()
	_, err = OpenDB(path, false, nil, legacy...)
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), "state_path "+legacy[1].Path+": in use by another connector process")
	assert.FileExists(t, legacy[1].Path)
	// Nothing half-done: payer, imported before shop was refused, is not imported again.
	l.release()
	var log bytes.Buffer
	d, err := OpenDB(path, false, logTo(&log), legacy...)
	require.NoError(t, err)
	defer d.Close()
	requireRelease1State(t, d)
	assert.Equal(t, 1, strings.Count(log.String(), "imported an earlier release's state file"), log.String())
}

func TestMigrate_ADryRunReadsTheOldFilesAndChangesNothing(t *testing.T) {
	path, legacy := release1Dir(t)
	before := map[string][]byte{}
	entries := func() []string {
		es, err := os.ReadDir(filepath.Dir(path))
		require.NoError(t, err)
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
			b, err := os.ReadFile(filepath.Join(filepath.Dir(path), e.Name()))
			require.NoError(t, err)
			if old, ok := before[e.Name()]; ok {
				assert.Equal(t, old, b, e.Name())
			}
			before[e.Name()] = b
		}
		return names
	}
	names := entries()
	var log bytes.Buffer
	d, err := OpenDB(path, true, logTo(&log), legacy...)
	require.NoError(t, err)
	requireRelease1State(t, d)
	require.Error(t, d.Account("payer").SetSince(calendar.Day{Year: 2026, Month: 1, Day: 1}))
	require.NoError(t, d.Close())
	assert.Equal(t, names, entries(), "no file created, renamed or changed")
	assert.Equal(t, 2, strings.Count(log.String(), "a dry run imports nothing"), log.String())
	assert.Equal(t, 1, strings.Count(log.String(), "a dry run converts nothing"), log.String())
	assert.NotContains(t, log.String(), "converted")

	// Only account files, no state_path yet: read all the same.
	require.NoError(t, os.Remove(path))
	d, err = OpenDB(path, true, nil, legacy...)
	require.NoError(t, err)
	defer d.Close()
	requireRelease1StateOf(t, d, "shop")
	assert.NoFileExists(t, path)
}

// A migration killed at each of its steps (SIGKILL inside the conversion's transaction,
// inside an import's, between an import's commit and its rename) is done by the next
// start: every row once, as release 1 had it.
func TestMigrate_KilledMidMigrationIsMigratedAgain(t *testing.T) {
	for _, step := range []string{"convert", "import", "imported"} {
		t.Run(step, func(t *testing.T) {
			path, legacy := release1Dir(t)
			res := runChild(t, "migrate", map[string]string{childPathEnv: path, "STATE_TEST_KILL_AT": step}, nil)
			require.Equal(t, -1, res.code, "killed: %s", res.crashed())
			var log bytes.Buffer
			d, err := OpenDB(path, false, logTo(&log), legacy...)
			require.NoError(t, err)
			defer d.Close()
			requireRelease1State(t, d)
			for _, l := range legacy {
				assert.NoFileExists(t, l.Path)
				assert.FileExists(t, l.Path+".imported")
			}
			if step == "imported" { // payer's import committed before the kill: only renamed now
				assert.Contains(t, log.String(), `"msg":"state: renamed an earlier release's state file imported before","account":"payer"`)
				assert.Contains(t, log.String(), `"msg":"state: imported an earlier release's state file of an account","account":"shop"`)
			}
		})
	}
}

func init() { children["migrate"] = childMigrate }

// childMigrate opens state_path with release 1's account files beside it and kills
// itself at the step STATE_TEST_KILL_AT of the migration.
func childMigrate() int {
	path := os.Getenv(childPathEnv)
	at := os.Getenv("STATE_TEST_KILL_AT")
	migrated = func(step string) {
		if step == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	dir := filepath.Dir(path)
	_, err := OpenDB(path, false, nil, Legacy{"payer", filepath.Join(dir, "state.payer.db")}, Legacy{"shop", filepath.Join(dir, "state.shop.db")})
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 1
	}
	return 0
}

// dumpAccount is everything the Store tells of an account through its methods: what a
// migration must keep, compared as JSON.
func dumpAccount(s *Store) (map[string]any, error) {
	out := map[string]any{}
	since, ok, err := s.Since()
	if err != nil {
		return nil, err
	}
	if ok {
		out["since"] = since.String()
	}
	kinds, err := s.kinds()
	if err != nil {
		return nil, err
	}
	for _, k := range kinds {
		days, err := s.KindDays(k)
		if err != nil {
			return nil, err
		}
		for _, d := range days {
			info, err := s.KindDayInfo(k, d)
			if err != nil {
				return nil, err
			}
			p, err := s.ReadPull(k, d)
			if err != nil {
				return nil, err
			}
			rows := map[string]Row{}
			if err := p.scan(func(id string, r Row) { rows[id] = r }); err != nil {
				return nil, err
			}
			out[string(k)+"/"+d.String()] = map[string]any{"info": info, "rows": rows}
		}
	}
	for _, m := range []calendar.Month{{Year: 2026, Month: 9}, {Year: 2026, Month: 10}} {
		rec, ok, err := s.Month(m)
		if err != nil {
			return nil, err
		}
		if ok {
			out["month/"+m.String()] = rec
		}
	}
	return out, nil
}
