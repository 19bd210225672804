package state

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// DB is the one state file of a process: every account's state, each in a top-level
// bucket of its own (see Store), and the file's schema in the top-level bucket "meta".
// Its writes go through one committer that groups the writes of every account into
// shared transactions (see committer). Its methods are safe for concurrent use.
type DB struct {
	path     string      // state_path as configured
	db       *bolt.DB    // nil until opened
	file     *os.File    // the descriptor bbolt reads and writes (for a read-only DB, the copy's)
	info     os.FileInfo // of the file at path when opened: Verify compares
	readOnly bool
	temp     string    // read-only: the copy, removed
	lock     *fileLock // writable DBs: held until Close

	log    *slog.Logger // says what the migration did; nil: says nothing
	legacy []Legacy     // files of earlier releases to import at open (see migrate.go)
	// handover: the state files of other processes (--import-state) whose accounts that
	// this one runs (names) it takes, at open (see handover.go)
	handover []string
	names    []string
	c        *committer // writable DBs, once opened

	broken atomic.Pointer[Error] // set when a guarded transaction found the file damaged

	closeOnce sync.Once
	closeErr  error
}

// Legacy is the state file of one account written by an earlier release (one file per
// account: state.<name>.db beside state_path), imported into the DB when it opens.
type Legacy struct {
	Account string
	Path    string
}

// OpenDB opens the state file at path, after checking it (see Open), converts a file of
// an earlier release in place and imports the legacy files (see migrate.go). Problems of
// the file itself are an *Error. With readOnly and nothing to read it returns (nil, nil).
func OpenDB(path string, readOnly bool, log *slog.Logger, legacy ...Legacy) (*DB, error) {
	d := &DB{path: path, readOnly: readOnly, log: log, legacy: legacy}
	if err := d.open(); err != nil || d.db == nil {
		return nil, err
	}
	return d, nil
}

// open opens the file of an unopened DB; a read-only DB without a file stays unopened
// (and empty).
func (d *DB) open() error {
	var err error
	if d.readOnly {
		err = d.openSnapshot()
	} else {
		err = d.openWritable()
	}
	if err != nil || d.db == nil {
		return err
	}
	if err := d.init(); err != nil {
		d.db.Close()
		d.db = nil
		d.lock.release()
		d.lock = nil
		return err
	}
	if !d.readOnly {
		d.c = newCommitter(d)
	}
	return nil
}

func (d *DB) openWritable() (err error) {
	path := d.path
	// Before anything is created or locked beside it (no /dev/null.lock).
	if err := notRegularAt(path); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return errOS(path, "create its directory", err)
	}
	l, err := lock(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			l.release()
		}
	}()
	f, info, err := openRegular(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return err
	}
	if info.Size() > 0 { // an empty file is a new one: bbolt writes its first pages
		if _, err := inspect(f, info.Size(), path); err != nil {
			f.Close()
			return err
		}
	}
	db, err := openBolt(path, f, false)
	if err != nil {
		return err
	}
	d.db, d.file, d.info, d.lock = db, f, info, l
	return nil
}

// notRegularAt refuses what is at path when it is there and not a regular file (symbolic
// links followed), before anything opens it: opening a named pipe for reading waits for a
// writer. Other errors are left to the open that follows.
func notRegularAt(path string) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return errNotRegular(path, fi.Mode())
	}
	return nil
}

// openRegular opens path with flag, without waiting (what is at path may have changed
// since notRegularAt), and refuses what it opened unless it is a regular file. Its errors
// are *Error; a missing file is one that wraps fs.ErrNotExist.
func openRegular(path string, flag int) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, flag|openNonblock, 0o600)
	if err != nil {
		if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
			return nil, nil, errNotRegular(path, fi.Mode()) // a socket: ENXIO
		}
		return nil, nil, errOS(path, "open it", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, errOS(path, "open it", err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotRegular(path, info.Mode())
	}
	setBlocking(f)
	return f, info, nil
}

// openBolt opens bbolt on f, an inspected file (or a new, empty one); bbolt owns f then.
func openBolt(path string, f *os.File, readOnly bool) (*bolt.DB, error) {
	var db *bolt.DB
	_, err := guarded(path, f, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:  fileLockWait,
			ReadOnly: readOnly,
			OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil },
		})
		return err
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolt.ErrTimeout):
		err = errLocked(path, "it holds the state file's own lock", err)
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch):
		err = errCorrupt(path, "corrupted: "+shorten(err.Error()), err)
	default:
		var se *Error
		if !errors.As(err, &se) {
			err = errOS(path, "open it", err)
		}
	}
	f.Close() // bbolt closed it, unless it panicked
	return nil, err
}

// check runs bbolt's own consistency check.
func (d *DB) check() error {
	var problems []string
	if err := d.view(func(tx *bolt.Tx) error {
		defer releaseMapped(tx) // it read every page of the file
		for e := range tx.Check() {
			problems = append(problems, e.Error())
		}
		return nil
	}); err != nil {
		return err
	}
	if len(problems) > 0 {
		more := ""
		if len(problems) > 1 {
			more = fmt.Sprintf(" (and %d more problems)", len(problems)-1)
		}
		return errCorrupt(d.path, "corrupted: "+shorten(problems[0])+more, errors.New(problems[0]))
	}
	return nil
}

// init checks the file (bbolt's check, its schema), converts a file of schema 1 in place
// and imports the legacy files (see migrate.go).
func (d *DB) init() error {
	if err := d.check(); err != nil {
		return err
	}
	if err := d.convert(); err != nil {
		return err
	}
	if err := d.importAll(); err != nil {
		return err
	}
	return d.takeStates()
}

// Close closes the file and releases the lock, after the writes queued were committed.
func (d *DB) Close() error {
	if d == nil {
		return nil
	}
	d.closeOnce.Do(func() {
		if d.db == nil {
			return // never opened
		}
		d.c.stop()
		d.closeErr = d.db.Close()
		if d.temp != "" {
			os.Remove(d.temp)
		}
		d.closeErr = errors.Join(d.closeErr, d.lock.release())
	})
	return d.closeErr
}

// Commits is how many write transactions the DB committed (each one fsync of the file's
// data and one of its meta page).
func (d *DB) Commits() uint64 {
	if d == nil || d.c == nil {
		return 0
	}
	return d.c.commits.Load()
}

// Verify returns an *Error (wrapping ErrReplaced) when the file at state_path is no
// longer the file this DB has open: deleted, or another file moved over it; or when
// its lock file is no longer the one this DB locked. A process in that state must not
// go on: what it writes lands in a file nobody will read, while another connector may
// already use the path. Every batch of writes calls it first.
func (d *DB) Verify() error {
	fi, err := os.Stat(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errReplaced(d.path, "was deleted while the connector ran", err)
	case err != nil:
		return errOS(d.path, "check it", err)
	case !os.SameFile(fi, d.info):
		return errReplaced(d.path, "was replaced by another file while the connector ran", nil)
	}
	if e := d.lock.verify(d.path); e != nil {
		return e
	}
	return nil
}

// errNotOpen: a Store of an Opener used before the application started.
var errNotOpen = errors.New("state: the state file is not open yet")

// view runs a read transaction, guarded.
func (d *DB) view(fn func(*bolt.Tx) error) error {
	if e := d.broken.Load(); e != nil {
		return e
	}
	if d.db == nil {
		if d.readOnly {
			return nil // no file: the state is empty
		}
		return errNotOpen
	}
	return d.guard(func() error { return d.db.View(fn) })
}

// update runs fn in a write transaction shared with the other writes queued meanwhile
// (see committer), after checking the file is still the one at state_path; it returns
// once the transaction is on disk. rows is how many records fn writes (for the size of a
// batch). fn may run more than once: it must change nothing but the transaction.
func (d *DB) update(rows int, fn func(*bolt.Tx) error) error {
	if d.readOnly {
		return errors.New("state: opened read-only (a dry run writes no state)")
	}
	if e := d.broken.Load(); e != nil {
		return e
	}
	if d.db == nil {
		return errNotOpen
	}
	return d.c.do(rows, fn)
}

// write runs a write transaction of its own, guarded. What fn returns comes back as it
// is; a failed commit (the disk) is an *Error.
func (d *DB) write(fn func(*bolt.Tx) error) error {
	var fnErr error
	err := d.guard(func() error {
		return d.db.Update(func(tx *bolt.Tx) error {
			releaseMapped(tx)       // what earlier transactions read
			defer releaseMapped(tx) // what this one read (a batch of many accounts' writes reads much of the file)
			fnErr = fn(tx)
			return fnErr
		})
	})
	var se *Error
	switch {
	case errors.Is(fnErr, bolt.ErrIncompatibleValue):
		return d.corrupt("a bucket of it is a plain value")
	case err == nil || fnErr != nil || errors.As(err, &se):
		return err
	case errors.Is(err, bolt.ErrDatabaseNotOpen):
		return fmt.Errorf("state: %w", err)
	}
	return errOS(d.path, "write it", err)
}

func (d *DB) guard(op func() error) error {
	broken, err := guarded(d.path, d.file, op)
	if broken {
		var se *Error
		if errors.As(err, &se) {
			d.broken.CompareAndSwap(nil, se)
		}
	}
	return err
}

// corrupt: a value in the file that does not decode.
func (d *DB) corrupt(format string, a ...any) *Error {
	return errCorrupt(d.path, "corrupted: "+fmt.Sprintf(format, a...), nil)
}
