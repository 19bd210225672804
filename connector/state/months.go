package state

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// bucketMonths is the top-level bucket of the months' closes: YYYY-MM -> Month.
var bucketMonths = []byte("months")

// Month is what the state knows of a month's close: its month_closed event as last planned
// (the id and revision are fixed before it is sent, so that a close resumed after a crash
// sends the same event), and whether it was acknowledged. A month is closed once its event
// was; daily runs leave the days of a closed month alone.
type Month struct {
	Hash       string    `json:"h"`   // content hash of the event's data
	ID         string    `json:"id"`  // event id of that content
	Revision   int       `json:"rev"` // of that content (job.NextRevision)
	Closed     bool      `json:"ok"`  // the receiver acknowledged ID: the month is closed
	Reconciled bool      `json:"reconciled"`
	ClosedAt   time.Time `json:"closedAt,omitzero"`
}

// Month returns what the state knows of a month's close; ok is false when it knows nothing.
func (s *Store) Month(m calendar.Month) (rec Month, ok bool, err error) {
	err = s.view(func(root *bolt.Bucket) error {
		b := root.Bucket(bucketMonths)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(m.String()))
		if v == nil {
			return nil
		}
		ok = true
		if err := json.Unmarshal(v, &rec); err != nil {
			return s.corrupt("the record of the month %s does not decode: %s", m, shorten(err.Error()))
		}
		return nil
	})
	return rec, ok, err
}

// MonthClosed reports whether the month's close was delivered.
func (s *Store) MonthClosed(m calendar.Month) (bool, error) {
	rec, _, err := s.Month(m)
	return rec.Closed, err
}

// PlanMonth records the month's event before it is sent: its hash, id and revision. A
// month planned again with another event is not closed until that one is acknowledged.
func (s *Store) PlanMonth(m calendar.Month, rec Month) error {
	rec.Closed, rec.ClosedAt = false, time.Time{}
	return s.putMonth(m, func(old Month, found bool) (Month, error) {
		if found && old.ID == rec.ID && old.Closed {
			return old, nil // the same event, delivered before: still closed
		}
		return rec, nil
	})
}

// CloseMonth records the month's event id as acknowledged at when: the month is closed.
// An id the month no longer plans is refused.
func (s *Store) CloseMonth(m calendar.Month, id string, when time.Time) error {
	return s.putMonth(m, func(old Month, found bool) (Month, error) {
		if !found || old.ID != id {
			return old, fmt.Errorf("state: the month %s does not plan the event %s", m, id)
		}
		old.Closed, old.ClosedAt = true, when.UTC()
		return old, nil
	})
}

// putMonth changes a month's record in one transaction.
func (s *Store) putMonth(m calendar.Month, change func(old Month, found bool) (Month, error)) error {
	return s.update(1, func(root *bolt.Bucket) error {
		b, err := root.CreateBucketIfNotExists(bucketMonths)
		if err != nil {
			return err
		}
		var old Month
		v := b.Get([]byte(m.String()))
		if v != nil {
			if err := json.Unmarshal(v, &old); err != nil {
				return s.corrupt("the record of the month %s does not decode: %s", m, shorten(err.Error()))
			}
		}
		rec, err := change(old, v != nil)
		if err != nil {
			return err
		}
		out, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(m.String()), out)
	})
}

// LastClosedMonth is the latest month whose close was delivered; ok is false when none was.
func (s *Store) LastClosedMonth() (last calendar.Month, ok bool, err error) {
	err = s.view(func(root *bolt.Bucket) error {
		b := root.Bucket(bucketMonths)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec Month
			if err := json.Unmarshal(v, &rec); err != nil {
				return s.corrupt("the record of the month %s does not decode: %s", shorten(string(k)), shorten(err.Error()))
			}
			m, err := calendar.ParseMonth(string(k))
			if err != nil {
				return s.corrupt("month %q: %s", shorten(string(k)), err)
			}
			if rec.Closed && (!ok || last.Before(m)) {
				last, ok = m, true
			}
			return nil
		})
	})
	return last, ok, err
}
