// Package state is the connector's durable memory, one bbolt file: per billing day, every
// row delivered (by row identity, with a content hash, its event id and revision) and
// whether the day is complete. Every write is one fsynced transaction, so a crash leaves
// the file as it was before or after a write, never half-way.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
)

var (
	bucketMeta = []byte("meta") // top level: connector-wide values
	bucketDays = []byte("days") // top level: one sub-bucket per day
	keySince   = []byte("since")
	keyDayMeta = []byte("meta")   // in a day's bucket
	bucketRows = []byte("rows")   // in a day's bucket: identity -> Row
	keyVersion = []byte("schema") // in meta
)

const schema = "1"

// Row is what the state knows of one bill row.
type Row struct {
	Hash      string `json:"h"`   // content hash of the row as last planned
	ID        string `json:"id"`  // event id of that content
	Revision  int    `json:"rev"` // 1 for the first content, +1 per change
	Delivered bool   `json:"ok"`  // the receiver acknowledged ID
}

// Day is what the state knows of one billing day.
type Day struct {
	Complete  bool      `json:"complete"`  // every row of the last pull delivered
	Rows      int       `json:"rows"`      // rows in the last pull
	Attempts  int       `json:"attempts"`  // runs of this day
	LastError string    `json:"lastError"` // of the last failed run
	UpdatedAt time.Time `json:"updatedAt"`
}

// ErrLocked means another connector process has the state file open.
var ErrLocked = errors.New("the state file is in use by another connector process")

// Store is an open state file.
type Store struct {
	db *bolt.DB
}

// Open opens (creating it and its directory when needed) the state file at path. With
// readOnly, a missing file is not created: Open returns (nil, nil) and callers treat the
// state as empty.
func Open(path string, readOnly bool) (*Store, error) {
	if readOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state: create the directory of %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: readOnly})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("state: %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	s := &Store{db: db}
	if !readOnly {
		if err := db.Update(func(tx *bolt.Tx) error {
			m, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			if v := m.Get(keyVersion); v != nil && string(v) != schema {
				return fmt.Errorf("schema %q, this connector reads %q", v, schema)
			}
			if err := m.Put(keyVersion, []byte(schema)); err != nil {
				return err
			}
			_, err = tx.CreateBucketIfNotExists(bucketDays)
			return err
		}); err != nil {
			db.Close()
			return nil, fmt.Errorf("state: %s: %w", path, err)
		}
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Since is the first day the daemon is responsible for (catch-up never goes before it).
func (s *Store) Since() (billing.Day, bool, error) {
	var d billing.Day
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return nil
		}
		if v := m.Get(keySince); v != nil {
			var err error
			d, err = billing.ParseDay(string(v))
			ok = err == nil
			return err
		}
		return nil
	})
	return d, ok, err
}

// SetSince records the first day the daemon is responsible for.
func (s *Store) SetSince(d billing.Day) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySince, []byte(d.String()))
	})
}

// Rows returns what the state knows of a day's rows, by identity.
func (s *Store) Rows(day billing.Day) (map[string]Row, error) {
	out := map[string]Row{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := dayBucket(tx, day)
		if b == nil || b.Bucket(bucketRows) == nil {
			return nil
		}
		return b.Bucket(bucketRows).ForEach(func(k, v []byte) error {
			var r Row
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("row %q of %s: %w", k, day, err)
			}
			out[string(k)] = r
			return nil
		})
	})
	return out, err
}

// Plan records, before they are sent, the events about to be delivered: their ids and
// revisions are then fixed, so that a crash and a resend reuse them.
func (s *Store) Plan(day billing.Day, rows map[string]Row) error {
	if len(rows) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := createDay(tx, day)
		if err != nil {
			return err
		}
		rb := b.Bucket(bucketRows)
		for _, k := range sortedKeys(rows) {
			v, _ := json.Marshal(rows[k])
			if err := rb.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delivered marks the planned events of these identities as acknowledged.
func (s *Store) Delivered(day billing.Day, identities []string) error {
	if len(identities) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := createDay(tx, day)
		if err != nil {
			return err
		}
		rb := b.Bucket(bucketRows)
		for _, k := range identities {
			v := rb.Get([]byte(k))
			if v == nil {
				return fmt.Errorf("state: %s: row %q was delivered but never planned", day, k)
			}
			var r Row
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			r.Delivered = true
			nv, _ := json.Marshal(r)
			if err := rb.Put([]byte(k), nv); err != nil {
				return err
			}
		}
		return nil
	})
}

// DayInfo returns what the state knows of a day.
func (s *Store) DayInfo(day billing.Day) (Day, error) {
	var d Day
	err := s.db.View(func(tx *bolt.Tx) error {
		b := dayBucket(tx, day)
		if b == nil {
			return nil
		}
		if v := b.Get(keyDayMeta); v != nil {
			return json.Unmarshal(v, &d)
		}
		return nil
	})
	return d, err
}

// SetDayInfo records what a run of the day found. A day may only be recorded complete when
// every identity in present has a delivered row with the hash given: the check runs in the
// same transaction as the write.
func (s *Store) SetDayInfo(day billing.Day, info Day, present map[string]string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := createDay(tx, day)
		if err != nil {
			return err
		}
		if info.Complete {
			rb := b.Bucket(bucketRows)
			for k, hash := range present {
				var r Row
				v := rb.Get([]byte(k))
				if v == nil || json.Unmarshal(v, &r) != nil || !r.Delivered || r.Hash != hash {
					return fmt.Errorf("state: %s cannot be complete: row %q is not delivered", day, k)
				}
			}
		}
		v, _ := json.Marshal(info)
		return b.Put(keyDayMeta, v)
	})
}

// Days lists the days the state knows, oldest first.
func (s *Store) Days() ([]billing.Day, error) {
	var out []billing.Day
	err := s.db.View(func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketDays)
		if db == nil {
			return nil
		}
		return db.ForEach(func(k, _ []byte) error {
			d, err := billing.ParseDay(string(k))
			if err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// Check verifies the file's invariants: every complete day has only delivered rows.
func (s *Store) Check() error {
	days, err := s.Days()
	if err != nil {
		return err
	}
	for _, d := range days {
		info, err := s.DayInfo(d)
		if err != nil {
			return err
		}
		rows, err := s.Rows(d)
		if err != nil {
			return err
		}
		if !info.Complete {
			continue
		}
		if len(rows) < info.Rows {
			return fmt.Errorf("%s is complete with %d rows but only %d are recorded", d, info.Rows, len(rows))
		}
		for k, r := range rows {
			if !r.Delivered {
				return fmt.Errorf("%s is complete but row %q is not delivered", d, k)
			}
		}
	}
	return nil
}

func dayBucket(tx *bolt.Tx, day billing.Day) *bolt.Bucket {
	db := tx.Bucket(bucketDays)
	if db == nil {
		return nil
	}
	return db.Bucket([]byte(day.String()))
}

func createDay(tx *bolt.Tx, day billing.Day) (*bolt.Bucket, error) {
	b, err := tx.Bucket(bucketDays).CreateBucketIfNotExists([]byte(day.String()))
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
