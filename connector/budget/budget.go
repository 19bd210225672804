// Package budget is the process's one budget of events in memory: the rows read and the
// events built, queued and in flight, of every account, bill and day together, counted
// in events and in bytes of event data. A job takes room before it asks the API for a
// page and gives it back as the page's events are answered, so that a slow receiver
// slows every account and never grows memory.
//
// Room is handed out in turn: the accounts that wait are served round-robin, one request
// each per turn, never first-come. An account with a day of 200,000 rows that keeps the
// budget full waits in line with the others, so that a small account's page is admitted
// after at most one request of every other waiting account.
package budget

import (
	"context"
	"sync"
)

// Defaults of Options: room for ten pages of 300 rows (a second of the API's pace for
// ten accounts), enough to keep the sender's 16 workers busy, and more than one account
// at the API's pace holds (a few pages); a larger budget made 100 accounts' heap larger
// (docs/performance.md), not their days shorter.
const (
	DefaultEvents = 3_000
	DefaultBytes  = 8 << 20
	// initialEventBytes is what an event is guessed to weigh before any was measured.
	initialEventBytes = 1024
)

// Options bound the budget. A zero field takes its default.
type Options struct {
	Events int   // memory_events: events in memory at most
	Bytes  int64 // memory_bytes: bytes of their data at most
}

// Budget is the room left in memory. It is safe for concurrent use.
type Budget struct {
	max Options

	mu     sync.Mutex
	events int   // taken
	bytes  int64 // taken
	lines  map[string]*line
	ring   []*line // the accounts that wait, in the order they are served
	// measured: events and bytes ever given a size (Resize), for Estimate
	measuredEvents int64
	measuredBytes  int64
	onWait         func() // tests: told, under the lock, that a request waits
}

// line is the requests of one account that wait, in their order.
type line struct {
	account string
	waiting []*request
}

type request struct {
	events  int
	bytes   int64
	ready   chan struct{} // closed when granted
	granted bool
}

// New is a budget of o.
func New(o Options) *Budget {
	if o.Events <= 0 {
		o.Events = DefaultEvents
	}
	if o.Bytes <= 0 {
		o.Bytes = DefaultBytes
	}
	return &Budget{max: o, lines: map[string]*line{}}
}

// OnWait makes f be called, with the budget locked, each time a request starts to wait
// in its account's line (tests: to know that it waits, without sleeping). f must not
// call the budget.
func (b *Budget) OnWait(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onWait = f
}

// Max is the budget's bound.
func (b *Budget) Max() Options { return b.max }

// Acquire waits until events and bytes fit in the budget, in the account's turn, and
// takes them; or returns ctx's error, having taken nothing. A request larger than the
// whole budget is granted when nothing else is taken; a request of nothing at once.
func (b *Budget) Acquire(ctx context.Context, account string, events int, bytes int64) error {
	if events <= 0 && bytes <= 0 {
		return nil // it takes no room: it waits for no one's turn
	}
	b.mu.Lock()
	if len(b.ring) == 0 && b.fits(events, bytes) {
		b.events += events
		b.bytes += bytes
		b.mu.Unlock()
		return nil
	}
	r := &request{events: events, bytes: bytes, ready: make(chan struct{})}
	l := b.lines[account]
	if l == nil {
		l = &line{account: account}
		b.lines[account] = l
		b.ring = append(b.ring, l)
	}
	l.waiting = append(l.waiting, r)
	if b.onWait != nil {
		b.onWait()
	}
	b.serve()
	b.mu.Unlock()
	select {
	case <-r.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.granted { // granted while ctx ended: give it back
		b.give(events, bytes)
		return ctx.Err()
	}
	b.drop(l, r)
	return ctx.Err()
}

// Release gives back room taken (the events answered, a reservation not used).
func (b *Budget) Release(events int, bytes int64) {
	if events == 0 && bytes == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.give(events, bytes)
}

// Resize changes room taken without waiting: a page's reservation becomes what its events
// weigh (fewer events, more or fewer bytes). Room that grows may take the budget over its
// bound for a while; no new request is granted until it is back under. The sizes of the
// events measure what Estimate guesses.
func (b *Budget) Resize(fromEvents int, fromBytes int64, toEvents int, toBytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if toEvents > 0 {
		b.measuredEvents += int64(toEvents)
		b.measuredBytes += toBytes
	}
	b.events += toEvents - fromEvents
	b.bytes += toBytes - fromBytes
	b.serve()
}

// Estimate is what events are guessed to weigh, from the events measured so far.
func (b *Budget) Estimate(events int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.measuredEvents == 0 {
		return int64(events) * initialEventBytes
	}
	return int64(events) * max(1, b.measuredBytes/b.measuredEvents)
}

// Taken is the room taken now, and how many requests wait.
func (b *Budget) Taken() (events int, bytes int64, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.ring {
		waiting += len(l.waiting)
	}
	return b.events, b.bytes, waiting
}

func (b *Budget) fits(events int, bytes int64) bool {
	if b.events <= 0 && b.bytes <= 0 {
		return true
	}
	return b.events+events <= b.max.Events && b.bytes+bytes <= b.max.Bytes
}

func (b *Budget) give(events int, bytes int64) {
	b.events -= events
	b.bytes -= bytes
	b.serve()
}

// serve grants what fits, one request of each waiting account per turn, in the ring's
// order. The account whose request does not fit keeps its turn: room is not handed to
// smaller requests behind it, so a large one is not starved.
func (b *Budget) serve() {
	for len(b.ring) > 0 {
		l := b.ring[0]
		r := l.waiting[0]
		if !b.fits(r.events, r.bytes) {
			return
		}
		b.events += r.events
		b.bytes += r.bytes
		r.granted = true
		close(r.ready)
		l.waiting = l.waiting[1:]
		b.ring = b.ring[1:]
		if len(l.waiting) > 0 {
			b.ring = append(b.ring, l) // its next request waits for every other account's turn
		} else {
			delete(b.lines, l.account)
		}
	}
}

// drop removes a request that is no longer waited for.
func (b *Budget) drop(l *line, r *request) {
	for i, w := range l.waiting {
		if w == r {
			l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
			break
		}
	}
	if len(l.waiting) > 0 {
		b.serve()
		return
	}
	delete(b.lines, l.account)
	for i, x := range b.ring {
		if x == l {
			b.ring = append(b.ring[:i], b.ring[i+1:]...)
			break
		}
	}
	b.serve() // it may have been the one whose turn held the others
}
