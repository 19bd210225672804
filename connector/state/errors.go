package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// Error is a problem with the state file itself (not with what it records): one line that
// names state_path as configured, says what is wrong and what to do. The CLI prints it
// alone. Every Open, New and Store method returns one (possibly wrapped) for such
// problems; errors.Is on it finds ErrLocked, ErrCorrupt, ErrReplaced or the OS error.
type Error struct {
	Path    string // state_path as configured
	Problem string // what is wrong, e.g. "not a state file (not a bbolt database)"
	Hint    string // what to do
	Err     error  // the cause, for errors.Is and errors.As; not printed
}

// Error is "state_path <Path>: <Problem>; <Hint>", always one line.
func (e *Error) Error() string {
	msg := "state_path " + e.Path + ": " + e.Problem
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return textsafe.Line(msg, textsafe.NoLimit)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// NeedsConfigFix is true: the state file or state_path must be fixed before the connector
// can go on (exit status 2).
func (e *Error) NeedsConfigFix() bool { return true }

var (
	// ErrLocked means another connector process has the state file open.
	ErrLocked = errors.New("the state file is in use by another connector process")
	// ErrCorrupt means the file is not a readable state file: not a bbolt database,
	// truncated, or damaged.
	ErrCorrupt = errors.New("the state file is damaged")
	// ErrReplaced means the file at state_path was deleted or replaced while this process
	// had it open: this process no longer owns what is at the path and must not write.
	ErrReplaced = errors.New("the state file was deleted or replaced")
)

// maxDetail bounds what a cause (a bbolt check message, a key) adds to the line.
const maxDetail = 200

// errLocked: another process holds the lock of state_path; holding says which lock. One
// line that says it once: which file, who holds it, what to do.
func errLocked(path, holding string, cause error) *Error {
	return &Error{
		Path:    path,
		Problem: "in use by another connector process (" + holding + ")",
		Hint:    "stop that process first (a --dry-run works beside it: it takes no lock), or give each connector its own state_path",
		Err:     fmt.Errorf("%w: %w", ErrLocked, cause),
	}
}

// errLockFile: the lock file of state_path cannot be opened or created.
func errLockFile(path, name string, err error) *Error {
	var errno syscall.Errno
	errors.As(err, &errno)
	_, serr := os.Lstat(name)
	missing := errors.Is(serr, fs.ErrNotExist)
	dir := filepath.Dir(name)
	switch {
	case (errors.Is(err, fs.ErrPermission) || errno == syscall.EPERM) && missing:
		return &Error{
			Path:    path,
			Problem: fmt.Sprintf("cannot create its lock file %s: the directory %s is not writable (as uid %d)", name, dir, os.Getuid()),
			Hint: fmt.Sprintf("let the user running the connector write %s (chown or chmod it), or create the lock file once (touch %s) and let that user write it, or choose another state_path",
				dir, shellQuote(name)),
			Err: err,
		}
	case errno == syscall.EROFS && missing:
		return &Error{
			Path:    path,
			Problem: fmt.Sprintf("cannot create its lock file %s: the directory %s is on a read-only file system", name, dir),
			Hint:    "mount it read-write or choose another state_path (the connector records every delivery there)",
			Err:     err,
		}
	case errno == syscall.EISDIR:
		return errLockNotRegular(path, name, fs.ModeDir)
	}
	return errOS(path, "open its lock file "+name, err)
}

// errLockNotRegular: something else than a file is where the lock file belongs.
func errLockNotRegular(path, name string, mode fs.FileMode) *Error {
	return &Error{
		Path:    path,
		Problem: fmt.Sprintf("its lock file %s is not a regular file (%s)", name, kindOf(mode)),
		Hint:    "remove it: the connector creates an empty file there to lock, and keeps it",
		Err:     fmt.Errorf("%s: not a regular file (%v)", name, mode),
	}
}

// errNotRegular: state_path names something else than a file: a named pipe would block or
// fail every read, a device would read as an empty state or never end.
func errNotRegular(path string, mode fs.FileMode) *Error {
	if mode.IsDir() {
		return isDir(path)
	}
	return &Error{
		Path:    path,
		Problem: "is not a regular file (" + kindOf(mode) + ")",
		Hint:    "point state_path at the connector's state file or at a path that does not exist yet, where the connector creates it",
		Err:     fmt.Errorf("%s: not a regular file (%v)", path, mode),
	}
}

// kindOf names what a file that is not a regular file is.
func kindOf(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeDevice != 0:
		return "a device"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a plain file"
}

// errCorrupt: the file cannot be used as it is; moving it aside starts a new state.
func errCorrupt(path, problem string, cause error) *Error {
	return &Error{Path: path, Problem: problem, Hint: moveAside(path), Err: join(ErrCorrupt, cause)}
}

// errNotState: the file is not a bbolt database at all.
func errNotState(path, problem string) *Error {
	return &Error{
		Path:    path,
		Problem: problem,
		Hint: "point state_path at the connector's state file or at a path that does not exist yet; if this was the state file, it is damaged: " +
			moveAside(path),
		Err: ErrCorrupt,
	}
}

// errReplaced: what is at the path is no longer the file this process opened.
func errReplaced(path, problem string, cause error) *Error {
	return &Error{
		Path:    path,
		Problem: problem,
		Hint:    "stop this connector and start it again: it then uses the file now at state_path (or a new one) and re-sends what that file does not record as delivered: the rows it records with their event ids, the others with new ids and higher (time-based) revisions",
		Err:     join(ErrReplaced, cause),
	}
}

// moveAside says how to start over from a damaged file, and what that costs: the new state
// knows no row, so every row pulled is sent again, as content never delivered (job's
// NextRevision): above every revision delivered before, under an id never used before.
func moveAside(path string) string {
	q := shellQuote(path)
	return fmt.Sprintf("stop the connector, move the file aside (mv %s %s) and start it again: it starts a new state, so every row of the days it still pulls is sent again, "+
		"with new ids and higher (time-based) revisions; receivers that upsert by subject keeping the highest revision stay correct, receivers that dedup by id see them as new events",
		q, shellQuote(path+".corrupt"))
}

// errOS turns an error of the file system into the one line, by what it means for the
// operator. op says what the connector was doing ("open it", "write it").
func errOS(path, op string, err error) *Error {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errors.Is(err, fs.ErrPermission) || errno == syscall.EPERM:
		return &Error{
			Path:    path,
			Problem: fmt.Sprintf("permission denied to %s (as uid %d)", op, os.Getuid()),
			Hint:    "let the user running the connector read and write the file and its directory (chown or chmod them), or choose another state_path",
			Err:     err,
		}
	case errno == syscall.ENOTDIR:
		problem := "a parent of it is not a directory"
		if f := fileInTheWay(path); f != "" {
			problem = f + " is a file, not a directory"
		}
		return &Error{Path: path, Problem: problem, Hint: "choose a state_path in a directory, or move that file away", Err: err}
	case errno == syscall.EISDIR:
		return isDir(path)
	case errno == syscall.EROFS:
		return &Error{Path: path, Problem: "on a read-only file system", Hint: "mount it read-write or choose another state_path (the connector records every delivery there)", Err: err}
	case errno == syscall.ENOSPC || errno == syscall.EDQUOT || errno == syscall.EFBIG:
		return &Error{Path: path, Problem: fmt.Sprintf("cannot %s: %s", op, errnoText(err)), Hint: "free space on the disk holding it (or raise the quota or file size limit), then start the connector again; the last delivery was not recorded and is re-sent with the same event ids", Err: err}
	case errno == syscall.ELOOP || errno == syscall.ENAMETOOLONG:
		return &Error{Path: path, Problem: fmt.Sprintf("cannot %s: %s", op, errnoText(err)), Hint: "choose another state_path", Err: err}
	}
	return &Error{
		Path:    path,
		Problem: fmt.Sprintf("cannot %s: %s", op, errnoText(err)),
		Hint:    "check the disk holding it (free space, kernel log), then start the connector again; what was not recorded is re-sent with the same event ids",
		Err:     err,
	}
}

// isDir: state_path names a directory.
func isDir(path string) *Error {
	return &Error{
		Path:    path,
		Problem: "is a directory",
		Hint:    "state_path names the state file itself, e.g. " + filepath.Join(path, "state.db"),
		Err:     syscall.EISDIR,
	}
}

// errnoText is the error without the path the os package puts in front of it.
func errnoText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return shorten(pe.Op + ": " + pe.Err.Error())
	}
	return shorten(err.Error())
}

// fileInTheWay finds the nearest ancestor of path that exists and is not a directory.
func fileInTheWay(path string) string {
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && !fi.IsDir() {
			return d
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

func join(kind, cause error) error {
	if cause == nil {
		return kind
	}
	return fmt.Errorf("%w: %w", kind, cause)
}

// shorten makes a detail from outside (a bbolt message, a stored key, an OS error) safe
// for the line and cuts it to maxDetail bytes.
func shorten(s string) string { return textsafe.Line(s, maxDetail) }

// shellQuote quotes a path for a command the operator copies, when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@%,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
