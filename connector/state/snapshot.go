package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// snapshotAttempts bounds the copies a read-only Open makes of a file being written.
const snapshotAttempts = 5

// copied runs after each copy; tests commit there to land writes during a copy.
var copied = func() {}

// openSnapshot opens a read-only DB on a copy of the file (see Open); without a file (or
// with an empty one) it leaves the DB unopened: empty, unless there are legacy files to
// read, which it then imports into a new, empty copy. A running daemon may commit while
// the copy is made: bbolt never overwrites, in the commit after the one a meta names, the
// pages that meta reaches, so the copy is consistent when at most one commit landed after
// the meta it holds. Otherwise it copies again. The copy is the process's own: the
// conversion of a file of an earlier release and the imports (see migrate.go) write it,
// never the file at state_path.
func (d *DB) openSnapshot() error {
	path := d.path
	// A named pipe would block the open, /dev/zero would be copied forever.
	if err := notRegularAt(path); err != nil {
		return err
	}
	src, info, err := openRegular(path, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return d.openEmptyCopy()
	}
	if err != nil {
		return err
	}
	defer src.Close()
	if info.Size() == 0 {
		return d.openEmptyCopy() // created and not yet written: as empty as a missing file
	}
	return d.openCopy(info, func(tmp *os.File) error { return copyConsistent(tmp, src, info.Size(), path) })
}

// openEmptyCopy opens a new, empty copy when there are legacy files or other processes'
// state files (--import-state) to read into it.
func (d *DB) openEmptyCopy() error {
	if !d.anyLegacy() && len(d.handover) == 0 {
		return nil
	}
	return d.openCopy(nil, func(*os.File) error { return nil })
}

// openCopy makes a temporary file, fills it (fill), and opens bbolt on it; info is the
// state file's (nil: none).
func (d *DB) openCopy(info os.FileInfo, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp("", "alicloud-billing-state-*.db")
	if err != nil {
		return errTemp(d.path, err)
	}
	name := tmp.Name()
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	db, err := openBolt(d.path, tmp, false)
	if err != nil {
		return err
	}
	keep = true
	os.Remove(name) // the map and the descriptor keep the copy; nothing is left behind
	d.db, d.file, d.info, d.temp = db, tmp, info, name
	return nil
}

// copyErr is a failed copy: reading the state file, or writing the copy.
type copyErr struct {
	read bool
	err  error
}

func (c *copyErr) withPath(path string) error {
	if c.read {
		return errOS(path, "read it", c.err)
	}
	return errTemp(path, c.err)
}

// copyFile copies src, to its current end, over dst.
func copyFile(dst, src *os.File) (int64, *copyErr) {
	if err := dst.Truncate(0); err != nil {
		return 0, &copyErr{err: err}
	}
	if _, err := dst.Seek(0, io.SeekStart); err != nil {
		return 0, &copyErr{err: err}
	}
	buf := make([]byte, 1<<20)
	var n int64
	for {
		r, rerr := src.ReadAt(buf, n)
		if r > 0 {
			if _, err := dst.Write(buf[:r]); err != nil {
				return n, &copyErr{err: err}
			}
			n += int64(r)
		}
		if errors.Is(rerr, io.EOF) {
			return n, nil
		}
		if rerr != nil {
			return n, &copyErr{read: true, err: rerr}
		}
	}
}

func errTemp(path string, err error) *Error {
	return &Error{
		Path:    path,
		Problem: "cannot copy it for a read-only run: " + errnoText(err),
		Hint:    "set TMPDIR to a writable directory with room for a copy of it",
		Err:     err,
	}
}

// copyConsistent copies the state file src (size bytes) to tmp until a copy is one the
// writer did not change while it was read (at most snapshotAttempts times).
func copyConsistent(tmp, src *os.File, size int64, path string) error {
	// No valid meta page: not a state file, or both its metas damaged, which no writer
	// leaves. Refused before it is copied: a sparse file of zeros may be terabytes.
	if lastTxid(src, size) == 0 {
		if _, err := inspect(src, size, path); err != nil {
			return err
		}
	}
	for attempt := 1; ; attempt++ {
		before := lastTxid(src, size)
		n, err := copyFile(tmp, src)
		if err != nil {
			return err.withPath(path)
		}
		lay, verr := inspect(tmp, n, path)
		copied()
		after := lastTxid(src, n)
		if verr == nil && after <= lay.txid+1 {
			return nil
		}
		if verr != nil && after == before {
			return verr // damaged, not moving
		}
		if attempt == snapshotAttempts {
			return &Error{Path: path, Problem: fmt.Sprintf("changed more than once while it was being read, %d times", attempt), Hint: "run again"}
		}
	}
}
