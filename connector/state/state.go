// Package state is the connector's durable memory, one bbolt file for every account of the
// process (DB), a bucket per account (Store): per billing day, every row delivered (by row
// identity, with a content hash, its event id and revision) and whether the day is
// complete. Writes are fsynced transactions, the writes of every account grouped (see
// committer), so a crash leaves the file as it was before or after each write, never
// half-way, and a write returns only once it is on disk.
//
// The file is trusted only after it was checked: Open reads it with plain reads before
// bbolt maps it (a truncated or damaged file would fault the process through the map),
// runs bbolt's consistency check, and every transaction runs guarded, so that a file
// damaged while open is an error, not a crash. Every problem of the file itself is one
// *Error: one line naming state_path and what to do.
package state

import (
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

var (
	bucketMeta = []byte("meta") // top level: the file's schema; in an account's bucket: its since
	bucketDays = []byte("days") // in an account's bucket: one sub-bucket per day
	keySince   = []byte("since")
	keyDayMeta = []byte("meta")   // in a day's bucket
	bucketRows = []byte("rows")   // in a day's bucket: row key (see rowKey) -> stored
	keyVersion = []byte("schema") // in the top-level meta
)

// schema is the file's layout: "2", a bucket per account. Schema "1" (releases before it)
// was one file per account with the account's buckets at the top level; releases that
// read "1" refuse a file of another schema.
const (
	schema       = "2"
	schemaLegacy = "1"
)

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

// DefaultAccount is the account of a config without accounts, whose state a file of an
// earlier release at state_path itself holds.
const DefaultAccount = "default"

// accountPrefix starts the name of an account's top-level bucket: "account:" and the
// account's name. Account names have no ":", and the prefix keeps an account named "meta"
// or "days" off the buckets of a schema 1 file and off the file's own "meta".
const accountPrefix = "account:"

func accountKey(name string) []byte { return []byte(accountPrefix + name) }

// Store is the state of one account: a view of its top-level bucket in the DB, which
// holds what the state file of one account held in earlier releases (the buckets meta,
// days, days.<bill>, months). Its methods are safe for concurrent use.
type Store struct {
	d    *DB
	name string
	key  []byte // accountKey(name)
	owns bool   // Close closes d (a Store of Open)
}

// Account is the Store of the account name.
func (d *DB) Account(name string) *Store { return &Store{d: d, name: name, key: accountKey(name)} }

// Open opens the state file at path, after checking it (see the package comment), and
// returns the Store of the account "default" (the one account of a config without
// accounts); closing it closes the file.
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
	d, err := OpenDB(path, readOnly, nil)
	if err != nil || d == nil {
		return nil, err
	}
	s := d.Account(DefaultAccount)
	s.owns = true
	return s, nil
}

// Close closes the file of a Store of Open; the Store of an account of a DB leaves the
// file to its owner (the Opener closes it when the application stops).
func (s *Store) Close() error {
	if !s.owns {
		return nil
	}
	return s.d.Close()
}

// DB is the file the Store is a view of.
func (s *Store) DB() *DB { return s.d }

// Verify: see DB.Verify.
func (s *Store) Verify() error { return s.d.Verify() }

// view runs a read transaction with the account's bucket; without one (an account
// that never wrote) fn does not run: the account's state is empty.
func (s *Store) view(fn func(root *bolt.Bucket) error) error {
	return s.d.view(func(tx *bolt.Tx) error {
		root := tx.Bucket(s.key)
		if root == nil {
			return nil
		}
		return fn(root)
	})
}

// viewReleased is view, the file's pages handed back to the page cache before fn (what
// the last commit read), after it (releaseMapped), and whenever fn calls release: for
// reads of a whole day.
func (s *Store) viewReleased(fn func(root *bolt.Bucket, release func()) error) error {
	return s.d.view(func(tx *bolt.Tx) error {
		releaseMapped(tx)
		defer releaseMapped(tx)
		root := tx.Bucket(s.key)
		if root == nil {
			return nil
		}
		return fn(root, func() { releaseMapped(tx) })
	})
}

// update runs fn with the account's bucket, created when missing, in a write transaction
// shared with other writes (see DB.update): fn may run more than once. rows is how many
// records it writes.
func (s *Store) update(rows int, fn func(root *bolt.Bucket) error) error {
	return s.d.update(rows, func(tx *bolt.Tx) error {
		root, err := s.root(tx)
		if err != nil {
			return err
		}
		return fn(root)
	})
}

// write runs fn with the account's bucket in a write transaction of its own (tests).
func (s *Store) write(fn func(root *bolt.Bucket) error) error {
	return s.d.write(func(tx *bolt.Tx) error {
		root, err := s.root(tx)
		if err != nil {
			return err
		}
		return fn(root)
	})
}

// root is the account's bucket, with its buckets meta and days, created when missing.
func (s *Store) root(tx *bolt.Tx) (*bolt.Bucket, error) {
	root := tx.Bucket(s.key)
	if root != nil && root.Bucket(bucketDays) != nil && root.Bucket(bucketMeta) != nil {
		return root, nil
	}
	root, err := tx.CreateBucketIfNotExists(s.key)
	if err != nil {
		return nil, err
	}
	for _, name := range [][]byte{bucketMeta, bucketDays} {
		if _, err := root.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// corrupt: a value in the file that does not decode.
func (s *Store) corrupt(format string, a ...any) *Error { return s.d.corrupt(format, a...) }

func (s *Store) decodeRow(day fmt.Stringer, identity string, v []byte) (stored, error) {
	r, err := unmarshalStored(v)
	if err != nil {
		return r, s.corrupt("row %s of %s does not decode: %s", quoteID(identity), day, shorten(err.Error()))
	}
	return r, nil
}

// Since is the first day the daemon is responsible for (catch-up never goes before it).
func (s *Store) Since() (calendar.Day, bool, error) {
	var d calendar.Day
	var ok bool
	err := s.view(func(root *bolt.Bucket) error {
		m := root.Bucket(bucketMeta)
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
	return s.update(1, func(root *bolt.Bucket) error {
		m := root.Bucket(bucketMeta)
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
	err := s.view(func(root *bolt.Bucket) error {
		b := dayBucket(root, day)
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

func dayBucket(root *bolt.Bucket, day calendar.Day) *bolt.Bucket {
	return kindDayBucket(root, bill.Account, day)
}

func kindDayBucket(root *bolt.Bucket, kind bill.Kind, day calendar.Day) *bolt.Bucket {
	db := root.Bucket(daysBucket(kind))
	if db == nil {
		return nil
	}
	return db.Bucket([]byte(day.String()))
}

func createKindDay(root *bolt.Bucket, kind bill.Kind, day calendar.Day) (*bolt.Bucket, error) {
	var days *bolt.Bucket
	if kind == bill.Account {
		if days = root.Bucket(bucketDays); days == nil {
			return nil, bolt.ErrIncompatibleValue
		}
	} else {
		var err error
		if days, err = root.CreateBucketIfNotExists(daysBucket(kind)); err != nil {
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
