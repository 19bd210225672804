//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openNonblock makes an open of a named pipe return at once instead of waiting for the
// other end (a regular file ignores it; setBlocking clears it once the file is checked).
const openNonblock = syscall.O_NONBLOCK

// setBlocking clears O_NONBLOCK on a file checked to be regular.
func setBlocking(f *os.File) {
	syscall.SetNonblock(int(f.Fd()), false)
}

// lockAttempts bounds the locks lock takes of a lock file replaced under it.
const lockAttempts = 3

// fileLock is the lock that keeps a second connector off state_path while this process
// runs: an exclusive flock on the lock file, lockName(path), a file of its own beside the
// state file. Unlike bbolt's flock on the state file, it outlives the state file being
// deleted or replaced (a second process would create a new state file and lock that), and
// it is per state file: connectors with other state files in the same directory do not
// exclude each other. The lock file is created (0600, empty) when missing and never
// removed: removing it would let a second process lock a new one.
type fileLock struct {
	f    *os.File
	info os.FileInfo // of the locked file: verify compares
	name string
}

// lock takes the lock of state_path path, or fails at once (ErrLocked).
func lock(path string) (*fileLock, error) {
	name := lockName(path)
	for attempt := 1; ; attempt++ {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|openNonblock, 0o600)
		if err != nil {
			return nil, errLockFile(path, name, err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, errOS(path, "lock its lock file "+name, err)
		}
		if !info.Mode().IsRegular() {
			f.Close()
			return nil, errLockNotRegular(path, name, info.Mode())
		}
		setBlocking(f)
		if err := flock(f); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errLocked(path, "it holds the lock file "+name, err)
			}
			return nil, errOS(path, "lock its lock file "+name, err)
		}
		// A lock file removed or replaced between the open and the flock would leave this
		// process holding a lock that the next process does not take: lock the new one.
		l := &fileLock{f: f, info: info, name: name}
		if l.verify(path) == nil {
			return l, nil
		}
		f.Close()
		if attempt == lockAttempts {
			return nil, &Error{
				Path:    path,
				Problem: fmt.Sprintf("its lock file %s was deleted or replaced while it was being locked, %d times", name, attempt),
				Hint:    "let nothing remove or replace that file (the connector keeps it there, empty), then start the connector again",
				Err:     ErrReplaced,
			}
		}
	}
}

// verify returns an *Error (wrapping ErrReplaced) when the lock file at its path is no
// longer the one this process locked: another process could then lock the new one.
func (l *fileLock) verify(path string) *Error {
	if l == nil {
		return nil
	}
	fi, err := os.Stat(l.name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errReplaced(path, "its lock file "+l.name+" was deleted while the connector ran", err)
	case err != nil:
		return errOS(path, "check its lock file "+l.name, err)
	case !os.SameFile(fi, l.info):
		return errReplaced(path, "its lock file "+l.name+" was replaced by another file while the connector ran", nil)
	}
	return nil
}

// release releases the lock; the lock file stays.
func (l *fileLock) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// flock takes an exclusive lock on f without waiting. Closing f releases it.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}
