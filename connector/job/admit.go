package job

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// Admission. A bill's day takes room in the process's budget (Job.budget) before it asks
// the API for a page: PageRows events (or the rows the bill's TotalCount says are left),
// and what they are guessed to weigh. The page carries its room to the planner, which
// shrinks it to the events the page sends and their size; each event gives its room back
// when the sender answers it. So the rows read, the events built, queued and in flight of
// every account are within the budget, and the accounts that wait for room are served in
// turn. A page that comes without room (the API served more than its TotalCount said)
// takes it without waiting: it is in memory already.

// room is budget taken.
type room struct {
	events int
	bytes  int64
}

// heldPage is a page read and the room it holds.
type heldPage struct {
	page bill.Page
	room room
}

// reserve waits for room for a page of n rows, in the account's turn.
func (b *billDay) reserve(ctx context.Context, n int) (room, error) {
	r := room{events: n, bytes: b.j.budget.Estimate(n)}
	if err := b.j.budget.Acquire(ctx, b.j.account, r.events, r.bytes); err != nil {
		return room{}, err
	}
	return r, nil
}

// release gives back room not used.
func (b *billDay) release(r room) { b.j.budget.Release(r.events, r.bytes) }

// fit makes a page's room fit its rows, without waiting.
func (b *billDay) fit(r room, rows int) room {
	if rows <= r.events {
		return r
	}
	to := room{events: rows, bytes: r.bytes + b.j.budget.Estimate(rows-r.events)}
	b.j.budget.Resize(r.events, r.bytes, to.events, to.bytes)
	return to
}

// resize makes a page's room that of the events it sends.
func (b *billDay) resize(r room, send []event.Event) {
	var bytes int64
	for _, e := range send {
		bytes += int64(len(e.DataEncoded))
	}
	b.j.budget.Resize(r.events, r.bytes, len(send), bytes)
}

// admit waits for the room of events built without a page's room (retractions).
func (b *billDay) admit(ctx context.Context, send []event.Event) error {
	var bytes int64
	for _, e := range send {
		bytes += int64(len(e.DataEncoded))
	}
	return b.j.budget.Acquire(ctx, b.j.account, len(send), bytes)
}
