package job

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// Admission. A bill's read takes room in the process's budget (Job.budget) before it asks
// the API for a page: PageRows events (or the rows the bill's TotalCount says are left)
// for each bill's day the read feeds, and what they are guessed to weigh. The page carries
// its room to the planner, which gives each day its part (room.take) and shrinks that to
// the events the day sends and their size; each event gives its room back
// when the sender answers it. So the rows read, the events built, queued and in flight of
// every account are within the budget, and the accounts that wait for room are served in
// turn. A page that comes without room (the API served more than its TotalCount said)
// takes it without waiting: it is in memory already.

// room is budget taken.
type room struct {
	events int
	bytes  int64
}

// take is n events of the room, with their part of its bytes, taken out of it.
func (r *room) take(n int) room {
	n = min(n, r.events)
	if n <= 0 {
		return room{}
	}
	t := room{events: n, bytes: r.bytes * int64(n) / int64(r.events)}
	r.events, r.bytes = r.events-t.events, r.bytes-t.bytes
	return t
}

// heldPage is a page read and the room it holds (for every day of its read).
type heldPage struct {
	page bill.Page
	room room
}

// reserve waits for room for n events, in the account's turn.
func (j *Job) reserve(ctx context.Context, n int) (room, error) {
	r := room{events: n, bytes: j.budget.Estimate(n)}
	if err := j.budget.Acquire(ctx, j.account, r.events, r.bytes); err != nil {
		return room{}, err
	}
	return r, nil
}

// release gives back room not used.
func (j *Job) release(r room) {
	if r.events > 0 || r.bytes > 0 {
		j.budget.Release(r.events, r.bytes)
	}
}

// fit makes a page's room fit its rows, without waiting.
func (j *Job) fit(r room, rows int) room {
	if rows <= r.events {
		return r
	}
	to := room{events: rows, bytes: r.bytes + j.budget.Estimate(rows-r.events)}
	j.budget.Resize(r.events, r.bytes, to.events, to.bytes)
	return to
}

func (b *billDay) reserve(ctx context.Context, n int) (room, error) { return b.j.reserve(ctx, n) }
func (b *billDay) release(r room)                                   { b.j.release(r) }
func (b *billDay) fit(r room, rows int) room                        { return b.j.fit(r, rows) }

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
