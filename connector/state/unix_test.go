//go:build linux || darwin

package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Cases that depend on how Linux and macOS map, limit and permit files.

func init() {
	children["truncated-while-open"] = childTruncatedWhileOpen
	children["file-size-limit"] = childFileSizeLimit
	children["unprivileged"] = childUnprivileged
}

func TestStore_FileTruncatedWhileOpenIsAnErrorNotACrash(t *testing.T) {
	path := realDB(t)
	res := runChild(t, "truncated-while-open", map[string]string{childPathEnv: path}, nil)
	require.Equal(t, 0, res.code, "the process crashed: %s", res.crashed())
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Len(t, lines, 2, res.stdout)
	for _, l := range lines {
		assert.Contains(t, l, `"state":true`)
		assert.Contains(t, l, "state_path "+path+": ")
	}
	assert.Contains(t, lines[0], "unreadable: a memory fault")
	assert.Contains(t, lines[1], "unreadable: a memory fault", "a store found damaged stays so")
}

func TestStore_DiskWriteErrorIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	res := runChild(t, "file-size-limit", map[string]string{childPathEnv: path}, nil)
	require.Equal(t, 0, res.code, "the process crashed: %s %s", res.crashed(), res.stdout)
	assert.Contains(t, res.stdout, `"state":true`)
	assert.Contains(t, res.stdout, "state_path "+path+": cannot write it: ")
	assert.Contains(t, res.stdout, "file too large")
	assert.Contains(t, res.stdout, "check the disk holding it")
}

func TestOpen_ParentThatIsAFileIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	for _, path := range []string{filepath.Join(file, "state.db"), filepath.Join(file, "sub", "state.db")} {
		_, err := Open(path, false)
		var se *Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, file+" is a file, not a directory", se.Problem)
		assert.True(t, strings.HasPrefix(err.Error(), "state_path "+path+": "), err.Error())
	}
}

func TestOpen_NoPermissionIsAnError(t *testing.T) {
	// The child runs as nobody when the tests run as root (root may open anything).
	top := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(top), 0o755))
	require.NoError(t, os.Chmod(top, 0o755))
	mk := func(name string, mode os.FileMode) string {
		d := filepath.Join(top, name)
		require.NoError(t, os.Mkdir(d, 0o755))
		t.Cleanup(func() { os.Chmod(d, 0o755) })
		return d
	}
	unwritableDir := mk("unwritable", 0)
	require.NoError(t, os.Chmod(unwritableDir, 0o555))
	unreadableDir := mk("unreadable", 0)
	require.NoError(t, os.Chmod(unreadableDir, 0o111))
	fileDir := mk("file", 0)
	require.NoError(t, os.Chmod(fileDir, 0o777))
	unreadableFile := filepath.Join(fileDir, "state.db")
	require.NoError(t, os.WriteFile(unreadableFile, nil, 0o000))
	// A state file the user may write, in a directory it may not: the lock file cannot be
	// created there, unless it was created beforehand.
	noLockDir := mk("nolock", 0)
	noLockFile := filepath.Join(noLockDir, "state.db")
	require.NoError(t, os.WriteFile(noLockFile, nil, 0o666))
	require.NoError(t, os.Chmod(noLockFile, 0o666)) // whatever the umask
	require.NoError(t, os.Chmod(noLockDir, 0o555))
	lockDir := mk("lock", 0)
	lockFile := filepath.Join(lockDir, "state.db")
	require.NoError(t, os.WriteFile(lockFile, nil, 0o666))
	require.NoError(t, os.WriteFile(lockFile+".lock", nil, 0o666))
	require.NoError(t, os.Chmod(lockFile, 0o666))
	require.NoError(t, os.Chmod(lockFile+".lock", 0o666))
	require.NoError(t, os.Chmod(lockDir, 0o555))
	unwritableLockDir := mk("unwritablelock", 0)
	require.NoError(t, os.Chmod(unwritableLockDir, 0o777))
	unwritableLock := filepath.Join(unwritableLockDir, "state.db")
	require.NoError(t, os.WriteFile(unwritableLock+".lock", nil, 0o600))

	cannotCreate := func(dir string) []string {
		lf := filepath.Join(dir, "state.db.lock")
		return []string{
			"state_path " + filepath.Join(dir, "state.db") + ": cannot create its lock file " + lf + ": the directory " + dir + " is not writable (as uid ",
			"; let the user running the connector write " + dir + " (chown or chmod it), or create the lock file once (touch " + lf + ") and let that user write it, or choose another state_path",
		}
	}
	readWrite := "let the user running the connector read and write"
	for _, c := range []struct {
		path string
		says []string
	}{
		{filepath.Join(unwritableDir, "state.db"), cannotCreate(unwritableDir)},
		{filepath.Join(unreadableDir, "state.db"), cannotCreate(unreadableDir)},
		{noLockFile, cannotCreate(noLockDir)},
		{unreadableFile, []string{"state_path " + unreadableFile + ": permission denied to open it (as uid ", readWrite}},
		{unwritableLock, []string{"state_path " + unwritableLock + ": permission denied to open its lock file " + unwritableLock + ".lock (as uid ", readWrite}},
		{lockFile, []string{`"msg":"no error"`}},
	} {
		res := runChild(t, "unprivileged", map[string]string{childPathEnv: c.path}, nil)
		if res.code == 4 {
			t.Skip("cannot drop root:", res.stdout)
		}
		require.Equal(t, 0, res.code, res.crashed())
		if c.path != lockFile {
			assert.Contains(t, res.stdout, `"state":true`, c.path)
		}
		for _, say := range c.says {
			assert.Contains(t, res.stdout, say, c.path)
		}
	}
}

// childTruncatedWhileOpen cuts the file under an open Store, then reads and writes.
func childTruncatedWhileOpen() int {
	path := os.Getenv(childPathEnv)
	s, err := Open(path, false)
	if err != nil {
		fmt.Println("open:", err)
		return 3
	}
	defer s.Close()
	if err := os.Truncate(path, 2*4096); err != nil {
		fmt.Println("truncate:", err)
		return 3
	}
	_, err = s.Rows(day)
	emit(reportOf(0, "rows", errOr(err)))
	err = s.SetSince(day)
	emit(reportOf(0, "set since", errOr(err)))
	return 0
}

// childFileSizeLimit writes under a file size limit that the next write exceeds.
func childFileSizeLimit() int {
	path := os.Getenv(childPathEnv)
	s, err := Open(path, false)
	if err != nil {
		fmt.Println("open:", err)
		return 3
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err == nil {
		err = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(fi.Size()), Max: uint64(fi.Size())})
	}
	if err != nil {
		fmt.Println("limit:", err)
		return 3
	}
	rows := map[string]Row{}
	for i := range 2000 {
		rows[fmt.Sprintf("row-%05d", i)] = Row{Hash: strings.Repeat("h", 64), ID: "id", Revision: 1}
	}
	emit(reportOf(0, "plan", errOr(planDay(s, day, rows))))
	return 0
}

// childUnprivileged drops root (to nobody) and opens the state file.
func childUnprivileged() int {
	if os.Getuid() == 0 {
		if err := syscall.Setgid(65534); err != nil {
			fmt.Println("setgid:", err)
			return 4
		}
		if err := syscall.Setuid(65534); err != nil {
			fmt.Println("setuid:", err)
			return 4
		}
	}
	_, err := Open(os.Getenv(childPathEnv), false)
	emit(reportOf(0, "open", errOr(err)))
	return 0
}
