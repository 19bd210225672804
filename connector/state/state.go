// Package state is the connector's durable memory, one bbolt file: per billing day, every
// row delivered (by row identity, with a content hash, its event id and revision) and
// whether the day is complete. Every write is one fsynced transaction, so a crash leaves
// the file as it was before or after a write, never half-way.
//
// The file is trusted only after it was checked: Open reads it with plain reads before
// bbolt maps it (a truncated or damaged file would fault the process through the map),
// runs bbolt's consistency check, and every transaction runs guarded, so that a file
// damaged while open is an error, not a crash. Every problem of the file itself is one
// *Error: one line naming state_path and what to do.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

var (
	bucketMeta = []byte("meta") // top level: connector-wide values
	bucketDays = []byte("days") // top level: one sub-bucket per day
	keySince   = []byte("since")
	keyDayMeta = []byte("meta")   // in a day's bucket
	bucketRows = []byte("rows")   // in a day's bucket: row key (see rowKey) -> stored
	keyVersion = []byte("schema") // in meta
)

const schema = "1"

// fileLockWait bounds the wait for bbolt's own lock on the file. The lock file's lock is
// taken first and fails at once; bbolt's lock only stops a process that does not take it
// (an older connector, or the same file reached through another path).
const fileLockWait = 100 * time.Millisecond

// lockName is the lock file of the state file at path (see fileLock): beside it, named
// after it, so that it stays when the state file is deleted or replaced.
func lockName(path string) string { return path + ".lock" }

// Row is what the state knows of one bill row.
type Row struct {
	Hash      string `json:"h"`           // content hash of the row as last planned
	ID        string `json:"id"`          // event id of that content
	Revision  int    `json:"rev"`         // of that content (job.NextRevision: time-based; 1, 2, ... in files of earlier releases)
	Delivered bool   `json:"ok"`          // the receiver acknowledged ID
	Pull      int    `json:"p,omitempty"` // the last pull of the day that saw the row (see Pull)
	// Retracted: the row is no longer in the bill; ID is the event that retracted it (its
	// data the row with every amount 0), Hash and Revision that event's (see Pull.Retract).
	Retracted bool `json:"r,omitempty"`
}

// Day is what the state knows of one billing day.
type Day struct {
	Complete  bool      `json:"complete"`  // every row of the last pull delivered
	Rows      int       `json:"rows"`      // rows in the last pull
	Attempts  int       `json:"attempts"`  // runs of this day
	LastError string    `json:"lastError"` // of the last failed run
	UpdatedAt time.Time `json:"updatedAt"`
	Pull      int       `json:"pull,omitempty"`     // pulls of this day started (see Store.Pull)
	DonePull  int       `json:"donePull,omitempty"` // the pull that made it complete
	Seen      int       `json:"seen,omitempty"`     // rows planned by pull Pull
	Open      int       `json:"open,omitempty"`     // of those, not delivered yet
}

// Store is an open state file. Its methods are safe for concurrent use.
type Store struct {
	path     string      // state_path as configured
	db       *bolt.DB    // nil until opened (New opens it at start)
	file     *os.File    // the descriptor bbolt reads and writes (for a read-only Store, the copy's)
	info     os.FileInfo // of the file at path when opened: Verify compares
	readOnly bool
	temp     string    // read-only: the copy, removed
	lock     *fileLock // writable Stores: held until Close

	broken atomic.Pointer[Error] // set when a guarded transaction found the file damaged

	closeOnce sync.Once
	closeErr  error
}

// Open opens the state file at path, after checking it (see the package comment).
//
// Writable (the daemon, --once, --from/--to), it creates the file and its directory when
// needed, and takes an exclusive lock that fails at once (ErrLocked) while another
// connector has the path open, even if the file was deleted or replaced since: the lock is
// on a lock file beside it, path+".lock", created when missing and never removed, besides
// bbolt's own lock on the file. Other state files in the same directory have locks of
// their own. An empty file is a new state.
//
// Either way, something at path that is not a regular file (a named pipe, a socket, a
// device; a symbolic link to a regular file is fine) is refused before it is read.
//
// With readOnly (--dry-run), a missing or empty file is not created: Open returns
// (nil, nil) and callers treat the state as empty. Otherwise Open reads a consistent copy
// of the file made at open (in TMPDIR, removed at once) and takes no lock: a dry run works
// while a daemon runs, never stops one from starting or writing, and does not see writes
// made after it opened.
//
// Problems of the file itself are an *Error.
func Open(path string, readOnly bool) (*Store, error) {
	s := &Store{path: path, readOnly: readOnly}
	if err := s.open(); err != nil || s.db == nil {
		return nil, err
	}
	return s, nil
}

// open opens the file of an unopened Store; a read-only Store without a file stays
// unopened (and empty).
func (s *Store) open() error {
	if s.readOnly {
		return s.openSnapshot()
	}
	return s.openWritable()
}

func (s *Store) openWritable() (err error) {
	path := s.path
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
	s.db, s.file, s.info = db, f, info
	if err := s.init(); err != nil {
		s.db.Close()
		s.db = nil
		return err
	}
	s.lock = l
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

// init checks the file with bbolt's own check and its schema, and creates the buckets.
func (s *Store) init() error {
	var problems []string
	if err := s.view(func(tx *bolt.Tx) error {
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
		return errCorrupt(s.path, "corrupted: "+shorten(problems[0])+more, errors.New(problems[0]))
	}
	checkSchema := func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			if v := m.Get(keyVersion); v != nil && string(v) != schema {
				return &Error{
					Path:    s.path,
					Problem: fmt.Sprintf("schema %q, this connector reads schema %q", shorten(string(v)), schema),
					Hint:    "run the connector version that wrote it, or " + moveAside(s.path),
				}
			}
		}
		return nil
	}
	if s.readOnly {
		return s.view(checkSchema)
	}
	return s.write(func(tx *bolt.Tx) error {
		if err := checkSchema(tx); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := m.Put(keyVersion, []byte(schema)); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketDays)
		return err
	})
}

// Close closes the file and releases the lock.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.db == nil {
			return // never opened
		}
		s.closeErr = s.db.Close()
		if s.temp != "" {
			os.Remove(s.temp)
		}
		s.closeErr = errors.Join(s.closeErr, s.lock.release())
	})
	return s.closeErr
}

// Verify returns an *Error (wrapping ErrReplaced) when the file at state_path is no
// longer the file this Store has open: deleted, or another file moved over it; or when
// its lock file is no longer the one this Store locked. A process in that state must not
// go on: what it writes lands in a file nobody will read, while another connector may
// already use the path. Every write calls it first.
func (s *Store) Verify() error {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errReplaced(s.path, "was deleted while the connector ran", err)
	case err != nil:
		return errOS(s.path, "check it", err)
	case !os.SameFile(fi, s.info):
		return errReplaced(s.path, "was replaced by another file while the connector ran", nil)
	}
	if e := s.lock.verify(s.path); e != nil {
		return e
	}
	return nil
}

// errNotOpen: a Store of New used before the application started.
var errNotOpen = errors.New("state: the state file is not open yet")

// view runs a read transaction, guarded.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	if e := s.broken.Load(); e != nil {
		return e
	}
	if s.db == nil {
		if s.readOnly {
			return nil // no file: the state is empty
		}
		return errNotOpen
	}
	return s.guard(func() error { return s.db.View(fn) })
}

// update runs a write transaction, guarded, after checking the file is still the one at
// state_path.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	if s.readOnly {
		return errors.New("state: opened read-only (a dry run writes no state)")
	}
	if e := s.broken.Load(); e != nil {
		return e
	}
	if s.db == nil {
		return errNotOpen
	}
	if err := s.Verify(); err != nil {
		return err
	}
	return s.write(fn)
}

// write runs a write transaction, guarded. What fn returns comes back as it is; a failed
// commit (the disk) is an *Error.
func (s *Store) write(fn func(*bolt.Tx) error) error {
	var fnErr error
	err := s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			releaseMapped(tx) // what earlier transactions read
			fnErr = fn(tx)
			return fnErr
		})
	})
	var se *Error
	switch {
	case errors.Is(fnErr, bolt.ErrIncompatibleValue):
		return s.corrupt("a bucket of it is a plain value")
	case err == nil || fnErr != nil || errors.As(err, &se):
		return err
	case errors.Is(err, bolt.ErrDatabaseNotOpen):
		return fmt.Errorf("state: %w", err)
	}
	return errOS(s.path, "write it", err)
}

func (s *Store) guard(op func() error) error {
	broken, err := guarded(s.path, s.file, op)
	if broken {
		var se *Error
		if errors.As(err, &se) {
			s.broken.CompareAndSwap(nil, se)
		}
	}
	return err
}

// corrupt: a value in the file that does not decode.
func (s *Store) corrupt(format string, a ...any) *Error {
	return errCorrupt(s.path, "corrupted: "+fmt.Sprintf(format, a...), nil)
}

func (s *Store) decodeRow(day fmt.Stringer, identity string, v []byte) (stored, error) {
	var r stored
	if err := json.Unmarshal(v, &r); err != nil {
		return r, s.corrupt("row %s of %s does not decode: %s", quoteID(identity), day, shorten(err.Error()))
	}
	return r, nil
}

// Since is the first day the daemon is responsible for (catch-up never goes before it).
func (s *Store) Since() (calendar.Day, bool, error) {
	var d calendar.Day
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return nil
		}
		if v := m.Get(keySince); v != nil {
			var err error
			if d, err = calendar.Parse(string(v)); err != nil {
				return s.corrupt("since %q: %s", shorten(string(v)), err)
			}
			ok = true
		}
		return nil
	})
	return d, ok, err
}

// SetSince records the first day the daemon is responsible for.
func (s *Store) SetSince(d calendar.Day) error {
	return s.update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return bolt.ErrIncompatibleValue
		}
		return m.Put(keySince, []byte(d.String()))
	})
}

// Rows returns what the state knows of a day's rows, by identity (as given to Plan,
// whatever its length).
func (s *Store) Rows(day calendar.Day) (map[string]Row, error) {
	out := map[string]Row{}
	err := s.view(func(tx *bolt.Tx) error {
		b := dayBucket(tx, day)
		if b == nil || b.Bucket(bucketRows) == nil {
			return nil
		}
		return b.Bucket(bucketRows).ForEach(func(k, v []byte) error {
			r, err := s.decodeRow(day, string(k), v)
			if err != nil {
				return err
			}
			out[identityOf(k, r)] = r.Row
			return nil
		})
	})
	return out, err
}

// DayInfo returns what the state knows of a day.
func (s *Store) DayInfo(day calendar.Day) (Day, error) { return s.KindDayInfo(bill.Account, day) }

// daysBucket names the top-level bucket of a bill's days: the account bill's is "days"
// (as schema 1 has always had it), another bill's "days." and its name.
func daysBucket(kind bill.Kind) []byte {
	if kind == bill.Account {
		return bucketDays
	}
	return []byte("days." + string(kind))
}

func dayBucket(tx *bolt.Tx, day calendar.Day) *bolt.Bucket {
	return kindDayBucket(tx, bill.Account, day)
}

func kindDayBucket(tx *bolt.Tx, kind bill.Kind, day calendar.Day) *bolt.Bucket {
	db := tx.Bucket(daysBucket(kind))
	if db == nil {
		return nil
	}
	return db.Bucket([]byte(day.String()))
}

func createKindDay(tx *bolt.Tx, kind bill.Kind, day calendar.Day) (*bolt.Bucket, error) {
	var days *bolt.Bucket
	if kind == bill.Account {
		if days = tx.Bucket(bucketDays); days == nil {
			return nil, bolt.ErrIncompatibleValue
		}
	} else {
		var err error
		if days, err = tx.CreateBucketIfNotExists(daysBucket(kind)); err != nil {
			return nil, err
		}
	}
	b, err := days.CreateBucketIfNotExists([]byte(day.String()))
	if err != nil {
		return nil, err
	}
	if _, err := b.CreateBucketIfNotExists(bucketRows); err != nil {
		return nil, err
	}
	return b, nil
}

func sortedKeys(m map[string]Row) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}
