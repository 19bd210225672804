//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() { children["hold"] = childHold }

// childHold opens the state writable, says so, and holds it until stdin closes.
func childHold() int {
	s, err := Open(os.Getenv(childPathEnv), false)
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin)
	s.Close()
	return 0
}

// requireLocked asserts the one line of a second connector on path.
func requireLocked(t *testing.T, path string, err error) {
	t.Helper()
	require.ErrorIs(t, err, ErrLocked)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, path, se.Path)
	assert.Contains(t, err.Error(), "state_path "+path+": in use by another connector process")
	// Said once: the path and "another connector process" each appear once, and the line
	// says what to do.
	assert.Equal(t, 1, strings.Count(err.Error(), "another connector process"), err.Error())
	assert.Equal(t, 1, strings.Count(err.Error(), "state_path "+path), err.Error())
	assert.Contains(t, err.Error(), "stop that process first")
	assert.NotContains(t, err.Error(), "\n")
	assert.NotContains(t, err.Error(), "another state file", "other state files do not take this one's lock")
	assert.NotContains(t, err.Error(), "own directory")
}

func TestStore_OtherStateFilesInTheSameDirectoryCanBeOpenAtOnce(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(filepath.Join(dir, "a.db"), false)
	require.NoError(t, err)
	defer a.Close()
	b, err := openAtOnce(t, filepath.Join(dir, "b.db"))
	require.NoError(t, err, "another state file in the same directory")
	defer b.Close()
	require.NoError(t, a.SetSince(day))
	require.NoError(t, b.SetSince(day.AddDays(1)))
	_, err = openAtOnce(t, filepath.Join(dir, "a.db"))
	requireLocked(t, filepath.Join(dir, "a.db"), err)
}

func TestStore_LockFileIsBesideTheStateFileAndStays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	fi, err := os.Stat(path + ".lock")
	require.NoError(t, err, "the lock file is path+.lock")
	assert.True(t, fi.Mode().IsRegular())
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Zero(t, fi.Size())
	require.NoError(t, os.Remove(path))
	require.NoError(t, s.Close())
	_, err = os.Stat(path + ".lock")
	require.NoError(t, err, "Close leaves the lock file")

	// A failed Open leaves it too, and a read-only one creates none.
	require.NoError(t, os.WriteFile(path, []byte("not a state file"), 0o600))
	_, err = Open(path, false)
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = os.Stat(path + ".lock")
	require.NoError(t, err)
	other := filepath.Join(t.TempDir(), "state.db")
	require.NoError(t, os.WriteFile(other, []byte("not a state file"), 0o600))
	_, err = Open(other, true)
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = os.Stat(other + ".lock")
	assert.True(t, errors.Is(err, os.ErrNotExist), "a dry run takes no lock")
}

func TestStore_SecondProcessIsToldTheFileIsInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	_, err = openAtOnce(t, path)
	requireLocked(t, path, err)
}

func TestStore_LockSurvivesTheFileBeingDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, os.Remove(path))
	_, err = openAtOnce(t, path)
	requireLocked(t, path, err)
	_, err = os.Stat(path)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the second Open created no file")
}

func TestStore_LockSurvivesTheFileBeingReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other"), nil, 0o600))
	require.NoError(t, os.Rename(filepath.Join(dir, "other"), path))
	_, err = openAtOnce(t, path)
	requireLocked(t, path, err)
}

func TestStore_LockHoldsAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	stdin, hold := io.Pipe()
	done := make(chan childResult, 1)
	out, w := io.Pipe()
	go func() {
		res, err := startChildTo(t, "hold", map[string]string{childPathEnv: path}, stdin, w)
		w.Close()
		if err != nil {
			res.stderr = err.Error()
		}
		done <- res
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "open\n", line, "the child opened the state")
	go io.Copy(io.Discard, out)

	require.NoError(t, os.Remove(path))
	_, err = openAtOnce(t, path)
	requireLocked(t, path, err)
	other, err := openAtOnce(t, filepath.Join(filepath.Dir(path), "other.db"))
	require.NoError(t, err, "another state file in the same directory, while the child holds its own")
	require.NoError(t, other.Close())

	hold.Close() // the child closes the store and exits
	res := <-done
	require.Equal(t, 0, res.code, res.crashed())
	s, err := Open(path, false)
	require.NoError(t, err, "the lock goes with the process")
	require.NoError(t, s.Close())
}

func TestStore_CloseReleasesTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice")
	s, err = openAtOnce(t, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestStore_FailedOpenReleasesTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	require.NoError(t, os.WriteFile(path, []byte("not a state file"), 0o600))
	_, err := Open(path, false)
	require.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, os.Remove(path))
	s, err := openAtOnce(t, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestLock_TakesAndReleasesTheLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	l, err := lock(path)
	require.NoError(t, err)
	_, err = lock(path)
	requireLocked(t, path, err)
	assert.Contains(t, err.Error(), "(it holds the lock file "+path+".lock)")
	require.NoError(t, l.release())
	l, err = lock(path)
	require.NoError(t, err)
	require.NoError(t, l.release())
}

func TestStore_WritesFailOnceTheLockFileIsDeletedOrReplaced(t *testing.T) {
	for name, change := range map[string]func(t *testing.T, lockFile string){
		"deleted": func(t *testing.T, lockFile string) { require.NoError(t, os.Remove(lockFile)) },
		"replaced": func(t *testing.T, lockFile string) {
			require.NoError(t, os.WriteFile(lockFile+".new", nil, 0o600))
			require.NoError(t, os.Rename(lockFile+".new", lockFile))
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			s, err := Open(path, false)
			require.NoError(t, err)
			defer s.Close()
			change(t, path+".lock")
			// A second connector could now lock a new lock file: this one must stop writing.
			err = s.SetSince(day)
			require.ErrorIs(t, err, ErrReplaced)
			var se *Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "its lock file "+path+".lock was "+map[string]string{"deleted": "deleted", "replaced": "replaced by another file"}[name]+" while the connector ran", se.Problem)
			assert.Contains(t, err.Error(), "stop this connector and start it again")
			require.ErrorIs(t, s.Verify(), ErrReplaced)
		})
	}
}

func TestLock_LockFileThatIsNotAFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	require.NoError(t, os.Mkdir(path+".lock", 0o700))
	_, err := Open(path, false)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "state_path "+path+": its lock file "+path+".lock is not a regular file (a directory); remove it: the connector creates an empty file there to lock, and keeps it", err.Error())
	_, err = os.Stat(path)
	assert.True(t, errors.Is(err, os.ErrNotExist), "no state file was created")
}

func TestStore_WritesFailOnceTheFileIsDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Verify())
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, os.Remove(path))

	_, pullErr := s.Pull("account", day)
	for _, err := range []error{
		s.Verify(),
		s.SetSince(day),
		pullErr,
		p.Plan(map[string]Row{"a": {Hash: "h", ID: "x", Revision: 1}}),
		p.Ack([]Ack{{Identity: "a", ID: "x"}}),
		p.Fail(errors.New("receiver down"), true, 1, now),
		p.Finish(0, now),
	} {
		require.ErrorIs(t, err, ErrReplaced)
		assert.Equal(t, "state_path "+path+": was deleted while the connector ran; stop this connector and start it again: it then uses the file now at state_path (or a new one) and re-sends what that file does not record as delivered: the rows it records with their event ids, the others with new ids and higher (time-based) revisions", err.Error())
	}
	_, err = os.Stat(path)
	assert.True(t, errors.Is(err, os.ErrNotExist), "nothing recreated it")
}

func TestStore_WritesFailOnceTheFileIsReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(map[string]Row{"a": {Hash: "h", ID: "x", Revision: 1}}))

	// A backup restored over the running daemon's file.
	backup := filepath.Join(dir, "backup.db")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(backup, b, 0o600))
	require.NoError(t, os.Rename(backup, path))

	err = p.Ack([]Ack{{Identity: "a", ID: "x"}})
	require.ErrorIs(t, err, ErrReplaced)
	assert.Contains(t, err.Error(), "state_path "+path+": was replaced by another file while the connector ran; stop this connector")
	require.ErrorIs(t, s.SetSince(day), ErrReplaced)
	// Reads go on from the file this process has open.
	rows, err := s.Rows(day)
	require.NoError(t, err)
	assert.False(t, rows["a"].Delivered)
}

func TestStore_ReadOnlyWorksWhileTheDaemonRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	daemon, err := Open(path, false)
	require.NoError(t, err)
	defer daemon.Close()
	p, err := daemon.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(map[string]Row{"a": {Hash: "h", ID: "x", Revision: 1}}))

	dry, err := Open(path, true)
	require.NoError(t, err)
	defer dry.Close()
	rows, err := dry.Rows(day)
	require.NoError(t, err)
	assert.Equal(t, map[string]Row{"a": {Hash: "h", ID: "x", Revision: 1, Pull: 1}}, rows)

	// The daemon goes on writing; the dry run keeps what it read at open.
	require.NoError(t, p.Ack([]Ack{{Identity: "a", ID: "x"}}))
	rows, err = dry.Rows(day)
	require.NoError(t, err)
	assert.False(t, rows["a"].Delivered)
	assert.Error(t, dry.SetSince(day), "a dry run writes nothing")
}

func TestStore_ReadOnlyDoesNotKeepTheDaemonFromStarting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	require.NoError(t, s.SetSince(day))
	require.NoError(t, s.Close())

	dry, err := Open(path, true)
	require.NoError(t, err)
	defer dry.Close()
	daemon, err := openAtOnce(t, path)
	require.NoError(t, err)
	defer daemon.Close()
	require.NoError(t, daemon.SetSince(day.AddDays(1)))
	since, _, err := dry.Since()
	require.NoError(t, err)
	assert.Equal(t, day, since)
}

func TestStore_ReadOnlyCopyIsRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	dry, err := Open(path, true)
	require.NoError(t, err)
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "the copy is unlinked once open")
	require.NoError(t, dry.Close())
}

func TestStore_ReadOnlyWithoutAWritableTempDirSaysSo(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = Open(path, true)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.True(t, strings.HasPrefix(err.Error(), "state_path "+path+": cannot copy it for a read-only run: "), err.Error())
	assert.Contains(t, err.Error(), "set TMPDIR to a writable directory")
}

func TestStore_ReadOnlyCopyIsConsistentWhileTheDaemonWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	daemon, err := Open(path, false)
	require.NoError(t, err)
	defer daemon.Close()
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		// Days of rows, each commit freeing and reusing pages of the ones before.
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			rows := map[string]Row{}
			for j := range 200 {
				rows[fmt.Sprintf("row-%d-%d", i%7, j)] = Row{Hash: fmt.Sprintf("%064d", i), ID: fmt.Sprint(i), Revision: i}
			}
			if err := planDay(daemon, day.AddDays(i%7), rows); err != nil {
				done <- err
				return
			}
		}
	}()
	opened := 0
	for range 30 {
		dry, err := Open(path, true)
		if err != nil {
			assert.Contains(t, err.Error(), "changed more than once while it was being read")
			continue
		}
		opened++
		require.NoError(t, dry.Check())
		for d := range 7 {
			rows, err := dry.Rows(day.AddDays(d))
			require.NoError(t, err)
			hashes := map[string]bool{}
			for _, r := range rows {
				hashes[r.Hash] = true
			}
			assert.LessOrEqual(t, len(hashes), 1, "one commit's rows, not a mix")
		}
		require.NoError(t, dry.Close())
	}
	close(stop)
	require.NoError(t, <-done)
	assert.Positive(t, opened)
	t.Logf("%d of 30 read-only opens while writing", opened)
}

func TestStore_ReadOnlyCopiesAgainWhenCommitsLandDuringTheCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	daemon, err := Open(path, false)
	require.NoError(t, err)
	defer daemon.Close()
	require.NoError(t, planDay(daemon, day, map[string]Row{"a": {Hash: "1", ID: "x", Revision: 1}}))

	// Two commits after the copy: the second may reuse pages the copy's meta reaches.
	copies := 0
	copied = func() {
		copies++
		if copies == 1 {
			require.NoError(t, planDay(daemon, day, map[string]Row{"a": {Hash: "2", ID: "x", Revision: 2}}))
			require.NoError(t, planDay(daemon, day, map[string]Row{"a": {Hash: "3", ID: "x", Revision: 3}}))
		}
	}
	t.Cleanup(func() { copied = func() {} })
	dry, err := Open(path, true)
	require.NoError(t, err)
	defer dry.Close()
	assert.Equal(t, 2, copies, "copied again")
	rows, err := dry.Rows(day)
	require.NoError(t, err)
	assert.Equal(t, "3", rows["a"].Hash)

	// One commit after the copy leaves the copy as it was: it is kept.
	copies = 0
	copied = func() {
		copies++
		if copies == 1 {
			require.NoError(t, planDay(daemon, day, map[string]Row{"a": {Hash: "4", ID: "x", Revision: 4}}))
		}
	}
	dry2, err := Open(path, true)
	require.NoError(t, err)
	defer dry2.Close()
	assert.Equal(t, 1, copies)
	rows, err = dry2.Rows(day)
	require.NoError(t, err)
	assert.Equal(t, "3", rows["a"].Hash)
}

func TestLock_LockFileOnAReadOnlyFileSystemSaysSo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	err := errLockFile(path, path+".lock", &os.PathError{Op: "open", Path: path + ".lock", Err: syscall.EROFS})
	assert.Equal(t, "state_path "+path+": cannot create its lock file "+path+".lock: the directory "+dir+" is on a read-only file system; mount it read-write or choose another state_path (the connector records every delivery there)", err.Error())
	require.ErrorIs(t, err, syscall.EROFS)
}

// A read-only open (--dry-run, --import-state) of a file with no valid meta page (here a
// sparse gigabyte of zeros) refuses it before copying anything: the copy would be the
// whole file, in TMPDIR.
func TestStore_ReadOnlyRefusesAFileWithNoMetaBeforeCopyingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1<<30))
	require.NoError(t, f.Close())
	copies := 0
	copied = func() { copies++ }
	t.Cleanup(func() { copied = func() {} })
	_, err = Open(path, true)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "state_path "+path+": not a state file")
	assert.Zero(t, copies, "nothing copied")
}
