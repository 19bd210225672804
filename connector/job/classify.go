package job

import (
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// classifier decides the pages of one bill's day: what the decision depends on besides
// the rows and what the state knows of them, the same for every page of the day.
type classifier struct {
	account string    // whose rows: the events' account
	resend  Resend    // whether rows delivered before, unchanged, are sent again
	pulled  time.Time // when the pull started: every event's time, and the revision of new content
	// tombstones are the retractions of the FOCUS bill's rows that focusDay could make
	// whole, by identity (see focusDay.tombstone).
	tombstones map[string]bill.Row
}

// decision is what classify decides of one page.
type decision struct {
	plan   map[string]state.Row // by row identity: what the state records (Pull.Plan)
	send   []event.Event        // the events to send, in the page's order
	sendOf []string             // the row identity of each event of send
	counts counts
}

// counts are the rows of a page by what classify decided of them.
type counts struct{ new, changed, unchanged, pending int }

// classify decides a page: its rows, their identities (ids, from identities) and what the
// state knows of each (known, in the same order, from Pull.Known). Each row is
//   - new: the state does not know it. It gets NextRevision(0, pulled) and is sent;
//   - changed: the state has other content for it (another hash), a revision no event
//     can carry, or its retraction (a row that comes back). It gets NextRevision of the
//     state's revision and is sent;
//   - pending: planned before with this content, not acknowledged. It keeps its revision
//     and id, and is sent;
//   - unchanged: delivered before with this content. It keeps its revision and id, and is
//     sent only when resend is Explicit.
//
// A row that an earlier page of this pull planned (Known.ThisPull) is the bill moving
// under the read: the error is a *bill.MovedError, and nothing of the page is decided.
// classify is pure: it reads no clock, no state, and writes nothing.
func (c classifier) classify(page int, rows []bill.Row, ids []string, known []state.Known) (decision, error) {
	for i, k := range known {
		if k.ThisPull {
			return decision{}, &bill.MovedError{Page: page,
				What: fmt.Sprintf("a row came again on a later page: row %.120s came again on page %d", ids[i], page)}
		}
	}
	d := decision{plan: make(map[string]state.Row, len(rows)),
		send: make([]event.Event, 0, len(rows)), sendOf: make([]string, 0, len(rows))}
	for i, row := range rows {
		e, planned, send, err := c.row(row, ids[i], known[i], &d.counts)
		if err != nil {
			return decision{}, err
		}
		d.plan[ids[i]] = planned
		if send {
			d.send, d.sendOf = append(d.send, e), append(d.sendOf, ids[i])
		}
	}
	return d, nil
}

// row decides one row (see classify), counted in n: its event, what the state records of
// it, and whether the event is sent.
func (c classifier) row(row bill.Row, identity string, k state.Known, n *counts) (event.Event, state.Row, bool, error) {
	body, hash, err := Body(row)
	if err != nil {
		return event.Event{}, state.Row{}, false, err
	}
	same := k.Found && !k.Retracted && k.Hash == hash && validRevision(k.Revision)
	rev, send := k.Revision, true
	switch {
	case same && !k.Delivered:
		n.pending++
	case same:
		n.unchanged++
		send = c.resend == Explicit
	case k.Found:
		rev = NextRevision(k.Revision, c.pulled)
		n.changed++
	default:
		rev = NextRevision(0, c.pulled)
		n.new++
	}
	e := newEvent(c.account, row, identity, body, rev, c.pulled)
	return e, state.Row{Hash: hash, ID: e.ID(), Revision: rev, Delivered: same && k.Delivered}, send, nil
}

// identities are the rows' identities. Two rows of one page with the same identity (the
// API should never send that) are told apart by their occurrence, "#2" and on, so that
// neither overwrites the other.
func identities(rows []bill.Row) []string {
	ids := make([]string, len(rows))
	seen := make(map[string]int, len(rows))
	for i, row := range rows {
		base := row.Identity()
		n := seen[base] + 1
		seen[base] = n
		ids[i] = base
		if n > 1 {
			ids[i] = fmt.Sprintf("%s#%d", base, n)
		}
	}
	return ids
}
