package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Gone is a row of a day that the state knows and a complete read of the bill no longer
// has.
type Gone struct {
	Identity string
	Row
}

// Vanished is what this pull's read no longer has of the day: gone are the rows the state
// knows that this pull did not plan, except those retracted and acknowledged (a
// retraction not acknowledged yet is among them, Retracted, to be sent again with its
// id), in the file's order; live is how many rows the state knows that are not retracted,
// those of this pull included. Only a read of every page of the bill may ask: a row a
// partial read did not reach is not gone. A dry run's pull plans nothing: use Live.
func (p *Pull) Vanished() (gone []Gone, live int, err error) {
	err = p.scan(func(identity string, r Row) {
		if !r.Retracted {
			live++
		}
		if r.Pull == p.n || r.Retracted && r.Delivered {
			return
		}
		gone = append(gone, Gone{Identity: identity, Row: r})
	})
	return gone, live, err
}

// Live is how many rows the state knows of the day that are not retracted.
func (p *Pull) Live() (int, error) {
	live := 0
	err := p.scan(func(_ string, r Row) {
		if !r.Retracted {
			live++
		}
	})
	return live, err
}

// scanRelease is how many rows scan reads between two hand-backs of the file's pages. The
// kernel maps each page read with its neighbours (fault-around: 64 KB), and a day's pages
// are spread over the file, so the resident part grows many times faster than the pages
// read: 4,096 rows between hand-backs held 25 MB of a 32 MB file (release_linux_test.go).
const scanRelease = 256

// scan calls fn with every row the state knows of the day, in the file's order. It reads
// every page of the day: they are handed back to the page cache as it goes (every
// scanRelease rows, and at its start and end: releaseMapped; the read transaction keeps
// bbolt from mapping the file again meanwhile), or a day of 200,000 rows would hold the
// day's part of the file in the resident set (130 MB).
func (p *Pull) scan(fn func(identity string, r Row)) error {
	return p.s.viewReleased(func(root *bolt.Bucket, release func()) error {
		b := kindDayBucket(root, p.kind, p.day)
		if b == nil || b.Bucket(bucketRows) == nil {
			return nil
		}
		n := 0
		return b.Bucket(bucketRows).ForEach(func(k, v []byte) error {
			r, err := p.s.decodeRow(p.day, string(k), v)
			if err != nil {
				return err
			}
			fn(identityOf(k, r), r.Row)
			if n++; n%scanRelease == 0 {
				release()
			}
			return nil
		})
	})
}

// Retract records the retractions of rows this pull found gone (Vanished), by identity:
// each row with its retraction's event (Hash, ID, Revision), marked Retracted and this
// pull's, before the event is sent, so that a crash and a resend reuse its id. The day is
// not complete until they are acknowledged (Ack); they are not rows read (Finish counts
// those). A row the state does not have, or that this pull planned, is refused.
func (p *Pull) Retract(rows map[string]Row) error {
	if len(rows) == 0 && !p.readOnly {
		return nil
	}
	return p.write(len(rows), "", func(b *bolt.Bucket, info *Day) error {
		rb := b.Bucket(bucketRows)
		for _, k := range sortedKeys(rows) {
			old, found, err := p.s.getRow(rb, p.day, k)
			switch {
			case err != nil:
				return err
			case !found:
				return fmt.Errorf("state: %s: row %s cannot be retracted: the state does not have it", p.kind.DayName(p.day), quoteID(k))
			case old.Pull == p.n && !old.Retracted:
				return fmt.Errorf("state: %s: row %s cannot be retracted: this pull read it", p.kind.DayName(p.day), quoteID(k))
			case old.Pull == p.n && !old.Delivered: // retracted again by this pull
				info.Open--
			}
			r := rows[k]
			r.Pull, r.Retracted = p.n, true
			if !r.Delivered {
				info.Open++
				info.Complete = false // as Plan: a crash before the acknowledgements leaves the day due
			}
			if err := putRow(rb, k, r); err != nil {
				return err
			}
		}
		return nil
	})
}
