package job

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Retractions. A row delivered before that a complete read of its day's bill (every page,
// the counts consistent: readAll without error) no longer has is retracted: an event of
// the row's type and subject, the next revision, the extension retracted = true, and as
// data the row with every amount 0 (bill.Retraction), so that a receiver that keeps each
// subject's highest revision sums the bill as it now stands. The retraction is planned in
// the state before it is sent (its id fixed: a crash resends it as it was), sent and
// acknowledged like any event, and never sent again once acknowledged. A row that comes
// back is changed content: a new, higher revision.
//
// A read that would retract more than retract_max_fraction of the rows the state knows of
// the day, or every one of them, may be the API answering in part: the bill is read once
// more from its start, as a new pull (moves of this read again count from 0 against
// MaxReReads: a bill is read at most 2×(1+MaxReReads) times in a run). The rows are
// retracted when the second read no longer has the same rows, or when what it no longer
// has is within the fraction (a read a fraction would not have doubted); otherwise the day
// fails naming both counts, nothing is retracted, and the day is not complete (the daemon
// reads it again on its backoff).

// errReadsDisagree: the read that confirms many retractions does not. The day is not
// complete then: the daemon reads it again (see billDay.finish).
var errReadsDisagree = errors.New("two reads of the bill disagree on the rows it no longer has")

// retractBatch is the most retractions planned in one state transaction.
const retractBatch = ackBatch

// vanished is what a complete read no longer has of the day (state.Pull.Vanished).
type vanished struct {
	gone  []state.Gone // rows to retract, and retractions not acknowledged yet
	fresh int          // of gone, the rows not retracted yet
	live  int          // rows the state knows that are not retracted
}

func (b *billDay) vanished() (vanished, error) {
	gone, live, err := b.pull.Vanished()
	if err != nil {
		return vanished{}, fmt.Errorf("read the state of %s: %w", b.name(), err)
	}
	v := vanished{gone: gone, live: live}
	for _, g := range gone {
		if !g.Retracted {
			v.fresh++
		}
	}
	return v, nil
}

// doubtful: the read would retract more than maxFraction of the live rows, or all of them.
func (v vanished) doubtful(maxFraction float64) bool {
	return v.fresh > 0 && (float64(v.fresh) > maxFraction*float64(v.live) || v.fresh == v.live)
}

// freshIDs are the identities of the rows to retract, sorted.
func (v vanished) freshIDs() []string {
	ids := make([]string, 0, v.fresh)
	for _, g := range v.gone {
		if !g.Retracted {
			ids = append(ids, g.Identity)
		}
	}
	slices.Sort(ids)
	return ids
}

// retract plans the retractions of the rows gone in the state, a batch at a time, and
// queues them as the pages' events are.
func (b *billDay) retract(ctx context.Context, gone []state.Gone) error {
	if len(gone) > 0 {
		b.j.log.Info("retracting rows the "+string(b.kind)+" bill no longer has",
			"bill", string(b.kind), "day", b.day.String(), "rows", len(gone))
	}
	for len(gone) > 0 {
		n := min(len(gone), retractBatch)
		plan := make(map[string]state.Row, n)
		send, ids := make([]event.Event, 0, n), make([]string, 0, n)
		for _, g := range gone[:n] {
			if b.focus != nil {
				b.focus.tombstone(g.Identity)
			}
			e, r, err := b.retraction(b.kind, g)
			delete(b.tombstones, g.Identity) // made: a day of many retractions holds none
			if err != nil {
				return fmt.Errorf("retract a row of %s: %w", b.name(), err)
			}
			plan[g.Identity] = r
			send, ids = append(send, e), append(ids, g.Identity)
		}
		if err := b.pull.Retract(plan); err != nil {
			return fmt.Errorf("record the retractions of %s: %w", b.name(), err)
		}
		if err := b.admit(ctx, send); err != nil {
			return err
		}
		if err := b.queue(ctx, send, ids, true); err != nil {
			return err
		}
		gone = gone[n:]
	}
	return nil
}

// retraction is the event that retracts a row of the bill kind gone from the read, and
// what the state records of it: a row not retracted yet gets the next revision; a
// retraction not acknowledged yet keeps its revision, and so its id, when it is made the
// same (its hash the state's); otherwise the next revision. It is pure.
func (c classifier) retraction(kind bill.Kind, g state.Gone) (event.Event, state.Row, error) {
	r, ok := c.tombstones[g.Identity]
	var err error
	if !ok || kind != bill.Focus {
		r, err = bill.Retraction(kind, g.Identity)
	}
	if err != nil {
		return event.Event{}, state.Row{}, err
	}
	body, hash, err := Body(r)
	if err != nil {
		return event.Event{}, state.Row{}, err
	}
	// A retraction not acknowledged yet keeps its revision only with the content it was
	// planned with: one made otherwise this time (a FOCUS retraction made whole, or not, by
	// what this read holds) is other content of the subject, a higher revision.
	rev := g.Revision
	if !g.Retracted || !validRevision(rev) || g.Hash != hash {
		rev = NextRevision(g.Revision, c.pulled)
	}
	e := newEvent(c.account, r, g.Identity, body, rev, c.pulled)
	e.SetExtension(RetractedExtension, true)
	return e, state.Row{Hash: hash, ID: e.ID(), Revision: rev}, nil
}
