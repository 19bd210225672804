package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// Pull is the bookkeeping of one pull of one bill's day, page by page: what the state knows
// of a page's rows (Known), the page's plan (Plan), the receiver's acknowledgements in
// batches (Ack), what a complete read no longer has and its retractions (Vanished,
// Retract), and how the pull ended (Finish or Fail). Each is one transaction; nothing
// of the day is held in memory.
//
// Every pull has a number, one more than the day's last. Plan marks each row of the pull
// with it, so that Finish can tell, in its own transaction, that every row this pull saw
// was delivered, without a list of them. A read-only Store (--dry-run) gives a Pull whose
// Known reads and whose writes fail.
type Pull struct {
	s        *Store
	kind     bill.Kind
	day      calendar.Day
	n        int
	readOnly bool // Known only (a dry run): the number is the next pull's, never recorded
}

// Known is what the state knows of one row identity.
type Known struct {
	Row
	Found    bool // the state has the row
	ThisPull bool // the row was planned by this pull already (the same identity twice in one bill)
}

// Ack is one acknowledged event: the row identity, and the event id acknowledged.
type Ack struct{ Identity, ID string }

// Pull starts a pull of the bill (bill.Account, bill.Instance) for the day. It only reads:
// the pull's number is recorded by its first write (Plan, Finish or Fail), in that
// write's transaction, so that starting a pull costs no write of its own. On a read-only
// Store it is ReadPull.
func (s *Store) Pull(kind bill.Kind, day calendar.Day) (*Pull, error) {
	if s.d.readOnly {
		return s.ReadPull(kind, day)
	}
	if err := s.Verify(); err != nil {
		return nil, err
	}
	info, err := s.KindDayInfo(kind, day)
	if err != nil {
		return nil, err
	}
	return &Pull{s: s, kind: kind, day: day, n: info.Pull + 1}, nil
}

// ReadPull is a pull that only reads (a dry run): Known works, the rest fails.
func (s *Store) ReadPull(kind bill.Kind, day calendar.Day) (*Pull, error) {
	info, err := s.KindDayInfo(kind, day)
	return &Pull{s: s, kind: kind, day: day, n: info.Pull + 1, readOnly: true}, err
}

var errReadPull = errors.New("state: a dry run's pull records nothing")

// begin is the day's record for a write of this pull: the first write records the pull
// (its number, its counts at zero); it refuses when another pull of the day began since.
func (p *Pull) begin(b *bolt.Bucket) (Day, error) {
	info, err := p.s.dayMeta(b, p.kind, p.day)
	if err != nil {
		return info, err
	}
	switch {
	case info.Pull == p.n:
		return info, nil
	case info.Pull == p.n-1:
		info.Pull = p.n
		info.Seen, info.Open = 0, 0
		return info, nil
	}
	return info, fmt.Errorf("another pull of it began since this one (pull %d, the state has %d)", p.n, info.Pull)
}

// Restart starts a new pull of the same day: the bill is read again from its start, and
// rows planned by the abandoned read are rows of an earlier pull.
func (p *Pull) Restart() error {
	if p.readOnly {
		p.n++
		return nil
	}
	info, err := p.s.KindDayInfo(p.kind, p.day)
	if err != nil {
		return err
	}
	if info.Pull == p.n { // this pull wrote something: the next one is a new number
		p.n++
	}
	return nil
}

// Known returns what the state knows of each identity, in order.
func (p *Pull) Known(identities []string) ([]Known, error) {
	out := make([]Known, len(identities))
	err := p.s.view(func(root *bolt.Bucket) error {
		b := kindDayBucket(root, p.kind, p.day)
		if b == nil || b.Bucket(bucketRows) == nil {
			return nil
		}
		rb := b.Bucket(bucketRows)
		for i, id := range identities {
			r, ok, err := p.s.getRow(rb, p.day, id)
			if err != nil {
				return err
			}
			out[i] = Known{Row: r, Found: ok, ThisPull: ok && r.Pull == p.n}
		}
		return nil
	})
	return out, err
}

// Plan records a page: every row the pull saw, each with the event it is delivered with
// (its hash, id and revision; Delivered when that event was acknowledged before). Ids and
// revisions are then fixed before anything is sent, so that a crash and a resend reuse
// them. A row not delivered makes the day not complete, in the same transaction.
func (p *Pull) Plan(rows map[string]Row) error {
	if p.readOnly {
		return errReadPull
	}
	if len(rows) == 0 {
		return nil
	}
	// Encoded before the transaction, by the caller: the one writer that every account
	// shares then only reads and puts.
	page, err := p.encode(rows)
	if err != nil {
		return err
	}
	return p.write(len(rows), "", func(b *bolt.Bucket, info *Day) error {
		rb := b.Bucket(bucketRows)
		for _, e := range page {
			oldPull, oldDelivered, found, err := p.s.planned(rb, p.day, e.identity, e.key)
			if err != nil {
				return err
			}
			if found && oldPull == p.n { // planned again by this pull (a read that went on)
				if !oldDelivered {
					info.Open--
				}
			} else {
				info.Seen++
			}
			if !e.delivered {
				info.Open++
				// Rows planned and not yet acknowledged: the day is no longer complete, in
				// the same transaction, so that a crash before the acknowledgements leaves
				// it due.
				info.Complete = false
			}
			if err := rb.Put(e.key, e.value); err != nil {
				return err
			}
		}
		return nil
	})
}

// encodedRow is a row of a page as Plan puts it.
type encodedRow struct {
	identity   string
	key, value []byte
	delivered  bool
}

// encode is the page's rows as this pull stores them, in key order.
func (p *Pull) encode(rows map[string]Row) ([]encodedRow, error) {
	out := make([]encodedRow, 0, len(rows))
	for _, k := range sortedKeys(rows) {
		r := rows[k]
		r.Pull = p.n
		key, v, err := encodeRow(k, r)
		if err != nil {
			return nil, err
		}
		out = append(out, encodedRow{identity: k, key: key, value: v, delivered: r.Delivered})
	}
	return out, nil
}

// Ack records acknowledged events. An acknowledgement of an event the row no longer plans
// (a read that started again planned a new revision since), or of a row never planned, is
// ignored: only the row's planned event makes it delivered. It may run beside the
// planner's Restart: it uses no field that Restart changes.
func (p *Pull) Ack(acks []Ack) error {
	if p.readOnly {
		return errReadPull
	}
	if len(acks) == 0 {
		return nil
	}
	return p.s.update(len(acks), func(root *bolt.Bucket) error {
		b, err := createKindDay(root, p.kind, p.day)
		if err != nil {
			return err
		}
		info, err := p.s.dayMeta(b, p.kind, p.day)
		if err != nil {
			return err
		}
		rb := b.Bucket(bucketRows)
		for _, a := range acks {
			r, ok, err := p.s.getRow(rb, p.day, a.Identity)
			if err != nil {
				return err
			}
			if !ok || r.ID != a.ID || r.Delivered {
				continue // never planned (not this pull's to record), or no longer the planned event
			}
			r.Delivered = true
			if r.Pull == info.Pull { // a row of the day's current pull: one fewer open
				info.Open--
			}
			if err := putRow(rb, a.Identity, r); err != nil {
				return err
			}
		}
		return putMeta(b, info)
	})
}

// Finish records the day complete: rows rows were read, every one planned by this pull
// and delivered. It checks exactly that, in the same transaction, from the counts that
// Plan and Ack keep in the day's record, and refuses otherwise.
func (p *Pull) Finish(rows int, now time.Time) error {
	// The counts Plan and Ack kept, in their transactions: no row is read here, so that a
	// day of a million rows is not read whole to finish it.
	return p.write(1, " cannot be complete", func(_ *bolt.Bucket, info *Day) error {
		switch {
		case info.Open > 0:
			return fmt.Errorf("state: %s cannot be complete: %d of its rows are not delivered", p.day, info.Open)
		case info.Seen != rows:
			return fmt.Errorf("state: %s cannot be complete: %d rows read, %d recorded by this pull", p.day, rows, info.Seen)
		}
		info.Complete, info.Rows, info.DonePull, info.LastError = true, rows, p.n, ""
		info.Attempts++
		info.UpdatedAt = now.UTC()
		return nil
	})
}

// Fail records a failed pull. With undelivered rows the day is not complete (the daemon
// retries it); a failed read leaves the day as complete as it was.
func (p *Pull) Fail(cause error, undelivered bool, rows int, now time.Time) error {
	return p.write(1, "", func(_ *bolt.Bucket, info *Day) error {
		info.Attempts++
		info.LastError = cause.Error()
		info.UpdatedAt = now.UTC()
		if undelivered {
			info.Complete, info.Rows = false, rows
		}
		return nil
	})
}

// write runs fn in one write transaction with the day's bucket and the pull's record
// (begun: see begin), and writes the record back. what follows the day in begin's error;
// rows is how many records fn writes. fn may run more than once (see DB.update).
func (p *Pull) write(rows int, what string, fn func(b *bolt.Bucket, info *Day) error) error {
	if p.readOnly {
		return errReadPull
	}
	return p.s.update(rows, func(root *bolt.Bucket) error {
		b, err := createKindDay(root, p.kind, p.day)
		if err != nil {
			return err
		}
		info, err := p.begin(b)
		if err != nil {
			return fmt.Errorf("state: %s%s: %w", p.kind.DayName(p.day), what, err)
		}
		if err := fn(b, &info); err != nil {
			return err
		}
		return putMeta(b, info)
	})
}

// KindDayInfo returns what the state knows of a bill's day.
func (s *Store) KindDayInfo(kind bill.Kind, day calendar.Day) (Day, error) {
	var d Day
	err := s.view(func(root *bolt.Bucket) error {
		b := kindDayBucket(root, kind, day)
		if b == nil {
			return nil
		}
		var err error
		d, err = s.dayMeta(b, kind, day)
		return err
	})
	return d, err
}

// Complete reports whether the day is complete in every one of the bills.
func (s *Store) Complete(day calendar.Day, kinds ...bill.Kind) (bool, error) {
	for _, k := range kinds {
		info, err := s.KindDayInfo(k, day)
		if err != nil || !info.Complete {
			return false, err
		}
	}
	return true, nil
}

func (s *Store) dayMeta(b *bolt.Bucket, kind bill.Kind, day calendar.Day) (Day, error) {
	var d Day
	if v := b.Get(keyDayMeta); v != nil {
		if err := json.Unmarshal(v, &d); err != nil {
			return d, s.corrupt("the record of %s does not decode: %s", kind.DayName(day), shorten(err.Error()))
		}
	}
	return d, nil
}

func putMeta(b *bolt.Bucket, d Day) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return b.Put(keyDayMeta, v)
}

// Days lists the days of the account bill the state knows, oldest first.
func (s *Store) Days() ([]calendar.Day, error) { return s.KindDays(bill.Account) }

// KindDays lists the days of a bill the state knows, oldest first.
func (s *Store) KindDays(kind bill.Kind) ([]calendar.Day, error) {
	var out []calendar.Day
	err := s.view(func(root *bolt.Bucket) error {
		db := root.Bucket(daysBucket(kind))
		if db == nil {
			return nil
		}
		return db.ForEach(func(k, _ []byte) error {
			d, err := calendar.Parse(string(k))
			if err != nil {
				return s.corrupt("day %q: %s", shorten(string(k)), err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// kinds lists the bills the account has days of.
func (s *Store) kinds() ([]bill.Kind, error) {
	out := []bill.Kind{bill.Account}
	err := s.view(func(root *bolt.Bucket) error {
		return root.ForEach(func(name, v []byte) error {
			if k, ok := strings.CutPrefix(string(name), "days."); ok && v == nil {
				out = append(out, bill.Kind(k))
			}
			return nil
		})
	})
	slices.Sort(out[1:])
	return out, err
}

// Check verifies the account's invariants: in every bill, every complete day has its rows
// delivered: those of the pull that completed it and of every pull since, at least as
// many as that pull read.
func (s *Store) Check() error {
	kinds, err := s.kinds()
	if err != nil {
		return err
	}
	for _, kind := range kinds {
		days, err := s.KindDays(kind)
		if err != nil {
			return err
		}
		for _, d := range days {
			if err := s.checkDay(kind, d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) checkDay(kind bill.Kind, d calendar.Day) error {
	return s.view(func(root *bolt.Bucket) error {
		b := kindDayBucket(root, kind, d)
		info, err := s.dayMeta(b, kind, d)
		if err != nil || !info.Complete {
			return err
		}
		n := 0
		rb := b.Bucket(bucketRows)
		if rb == nil {
			return nil
		}
		err = rb.ForEach(func(k, v []byte) error {
			r, err := s.decodeRow(d, string(k), v)
			if err != nil || r.Pull < info.DonePull {
				return err
			}
			n++
			if !r.Delivered {
				return fmt.Errorf("%s is complete but row %s is not delivered", kind.DayName(d), quoteID(identityOf(k, r)))
			}
			return nil
		})
		if err == nil && n < info.Rows {
			err = fmt.Errorf("%s is complete with %d rows but only %d are recorded", kind.DayName(d), info.Rows, n)
		}
		return err
	})
}
