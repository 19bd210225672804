package job

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// MaxReReads is the one rule for re-reading a bill. A read that the bill moved under
// (bill.ErrMoved: its TotalCount changed while paging, the API refused a NextToken as
// expired, or a row of an earlier page came again on a later one, so that another may have
// been skipped) stops there, and the bill's day is read again from its start, as a new
// pull, at most MaxReReads times: a bill is read at most 1+MaxReReads times in a run. When
// it still moves, the day fails naming how (the daemon tries it again later). billing
// never reads a bill again itself; readAll is the one loop.
const MaxReReads = 3

// billDay is one bill's day being run (startBill): the bill read page by page, each page
// classified (classifier), planned in the state and queued, the events delivered and their
// acknowledgements recorded. The classifier's pulled is when it started, read once: every
// event's time, and the revision (TimeRevision) of content it plans first, the same over
// its reads.
type billDay struct {
	j    *Job
	kind bill.Kind
	day  calendar.Day
	dry  bool
	classifier

	readDone chan struct{} // closed when the bill has been read (or its reading failed)
	done     chan struct{} // closed when rep and err are final
	rep      Report
	err      error

	pull     *state.Pull
	seenLive int                    // a dry run: rows of the read the state knows and has not retracted
	readRows int                    // rows of the current read handed to the planner (handOver)
	count    func([]bill.Row) error // the Counter's, for the current read; nil: none
	events   chan event.Event       // made, with the sender's and the recorder's goroutines, by the first event (startSending)
	acks     chan state.Ack
	sending  sync.WaitGroup
	acking   sync.WaitGroup

	mu        sync.Mutex
	inflight  map[string]flight // event id -> the event's row, for events not yet answered
	readNo    int               // which read of the bill the counts below are of (see newRead)
	delivered int
	retracted int
	failed    int
	firstFail error
	ackErr    error
}

// startBill starts one bill's day on goroutines of its own.
func (j *Job) startBill(ctx context.Context, kind bill.Kind, day calendar.Day, resend Resend, dry bool) *billDay {
	b := &billDay{j: j, kind: kind, day: day, dry: dry, classifier: classifier{account: j.account, resend: resend},
		readDone: make(chan struct{}), done: make(chan struct{}),
		rep: Report{Day: day, Bills: []bill.Kind{kind}, DryRun: dry}, inflight: map[string]flight{}}
	go func() {
		defer close(b.done)
		start := j.clock.Now()
		b.err = b.run(ctx)
		if !dry {
			j.ops.DayRunDuration.WithLabelValues(j.account, string(kind)).Observe(j.clock.Now().Sub(start).Seconds())
		}
	}()
	return b
}

// name names the bill's day in messages.
func (b *billDay) name() string { return b.kind.DayName(b.day) }

// run runs the bill's day; it closes readDone when the bill has been read.
func (b *billDay) run(ctx context.Context) error {
	var readOnce sync.Once
	doneReading := func() { readOnce.Do(func() { close(b.readDone) }) }
	defer doneReading()
	b.pulled = b.j.clock.Now().UTC()
	start := b.j.state.Pull
	if b.dry {
		start = b.j.state.ReadPull
	}
	pull, err := start(b.kind, b.day)
	if err != nil {
		return fmt.Errorf("start the pull of %s: %w", b.name(), err)
	}
	b.pull = pull
	if b.dry {
		return b.readChecked(ctx)
	}
	fetchErr := b.readChecked(ctx)
	doneReading() // the next bill's day may be read while this one's last events are delivered
	if b.events != nil {
		close(b.events)
		b.sending.Wait()
		close(b.acks)
		b.acking.Wait()
	}
	b.rep.Delivered, b.rep.Failed, b.rep.Retracted = b.delivered, b.failed, b.retracted
	b.rep.Sent = b.delivered + b.retracted + b.failed
	return b.finish(fetchErr)
}

// readAll reads the bill, and again from its start while it moves under the read, as
// MaxReReads says: the one loop. Each read again is a new pull, and the counts of the
// abandoned read do not count (newRead).
func (b *billDay) readAll(ctx context.Context) error {
	for reads := 1; ; reads++ {
		if b.j.counter != nil {
			b.count = b.j.counter.Read(b.kind, b.day)
		}
		err := b.readBill(ctx)
		var moved *bill.MovedError
		if !errors.As(err, &moved) || ctx.Err() != nil {
			return err
		}
		if reads > MaxReReads {
			return fmt.Errorf("%s: the bill kept moving while it was read (%d reads; it is being updated, try later): %w", b.name(), reads, err)
		}
		b.j.log.Warn("the bill moved while paging; reading the "+string(b.kind)+" bill again from its start",
			"bill", string(b.kind), "day", b.day.String(), "page", moved.Page, "read", reads+1, "why", moved.What)
		if err := b.pull.Restart(); err != nil {
			return fmt.Errorf("restart the pull of %s: %w", b.name(), err)
		}
		b.newRead()
	}
}

// finish records how the bill's day ended in the state, and is its error.
func (b *billDay) finish(fetchErr error) error {
	now := b.j.clock.Now()
	switch {
	case b.ackErr != nil:
		err := fmt.Errorf("record deliveries of %s: %w", b.name(), b.ackErr)
		b.recordFailure(err, true, now)
		return err
	case b.failed > 0:
		err := fmt.Errorf("%s: %d of %d rows not delivered (first: %w): %w", b.name(), b.failed, b.rep.Sent, b.firstFail, ErrUndelivered)
		if fetchErr != nil {
			err = errors.Join(fetchErr, err)
		}
		b.recordFailure(err, true, now)
		return err
	case fetchErr != nil:
		b.recordFailure(fetchErr, errors.Is(fetchErr, errReadsDisagree), now)
		return fetchErr
	}
	if err := b.pull.Finish(b.rep.Fetched, now); err != nil {
		return fmt.Errorf("record %s as complete: %w", b.name(), err)
	}
	b.j.ops.LastSuccess.WithLabelValues(b.j.account, string(b.kind)).Set(float64(now.UnixMilli()) / 1000)
	return nil
}

// startSending starts delivering the bill's day (its first event is queued): a day that
// sends nothing, or waits for room, has no sender goroutines.
func (b *billDay) startSending(ctx context.Context) {
	b.events = make(chan event.Event, QueueEvents)
	b.acks = make(chan state.Ack, QueueEvents)
	b.acking.Add(1)
	go func() { defer b.acking.Done(); b.recordAcks() }()
	b.sending.Add(1)
	go func() { defer b.sending.Done(); b.j.publish.Stream(ctx, b.events, b.result) }()
}

// readBill reads the bill once, planning its pages on a goroutine of their own, so that the
// next page is asked for while this one is written to the state and queued: the API's pace
// is the limit. Each page is asked for once the budget has room for it (see admit.go). A
// planning error stops the reading and is returned.
func (b *billDay) readBill(ctx context.Context) error {
	pages := make(chan heldPage, QueuePages)
	planned := make(chan error, 1)
	var planErr atomic.Pointer[error]
	go func() {
		var err error
		for p := range pages {
			if err != nil {
				b.release(p.room)
				continue
			}
			if err = b.page(ctx, p.page, p.room); err != nil {
				planErr.Store(&err)
			}
		}
		planned <- err
	}()
	b.readRows = 0
	next, fetchErr := b.reserve(ctx, PageRows)
	if fetchErr == nil {
		fetchErr = b.j.fetch.Stream(ctx, b.kind, b.day, func(p bill.Page) (err error) {
			next, err = b.handOver(ctx, pages, p, next, planErr.Load())
			return err
		})
	}
	b.release(next)
	close(pages)
	if err := <-planned; err != nil {
		return err // the planner's error, which stopped the reading, if it did
	}
	return fetchErr
}

// handOver gives a page read, with its room, to the planner, and takes the room of the next
// page (the rows TotalCount says are left, at most PageRows) before the reading goes on.
func (b *billDay) handOver(ctx context.Context, pages chan<- heldPage, p bill.Page, r room, planErr *error) (room, error) {
	if planErr != nil {
		return r, *planErr
	}
	r = b.fit(r, len(p.Rows))
	select {
	case pages <- heldPage{page: p, room: r}:
	case <-ctx.Done():
		return r, ctx.Err()
	}
	b.readRows += len(p.Rows)
	left := min(PageRows, p.Total-b.readRows)
	if left <= 0 {
		return room{}, nil
	}
	return b.reserve(ctx, left)
}

// recordFailure notes a failed run. With undelivered rows the day is not complete (the
// daemon retries it); a failed read leaves the day as complete as it was.
func (b *billDay) recordFailure(err error, undelivered bool, now time.Time) {
	if serr := b.pull.Fail(err, undelivered, b.rep.Fetched, now); serr != nil {
		b.j.log.Error("record the failed day in the state", "bill", string(b.kind), "day", b.day.String(), "error", serr.Error())
	}
}

// page wires one page's decision (classify) to the state, the queue and the metrics. It
// runs on the reading goroutine: while it waits for room in the queue, the next page is not
// asked for.
func (b *billDay) page(ctx context.Context, p bill.Page, r room) (err error) {
	defer func() {
		if err != nil {
			b.release(r)
		}
	}()
	b.rep.Pages++
	b.rep.Fetched += len(p.Rows)
	b.j.ops.RowsFetched.WithLabelValues(b.j.account, string(b.kind)).Add(float64(len(p.Rows)))
	ids := identities(p.Rows)
	known, err := b.pull.Known(ids)
	if err != nil {
		return fmt.Errorf("read the state of %s: %w", b.name(), err)
	}
	d, err := b.classify(p.Number, p.Rows, ids, known)
	switch {
	case errors.Is(err, bill.ErrMoved):
		return err
	case err != nil:
		return fmt.Errorf("build events of %s: %w", b.name(), err)
	}
	if b.count != nil {
		if err := b.count(p.Rows); err != nil {
			return fmt.Errorf("count the rows of %s: %w", b.name(), err)
		}
	}
	b.rep.New += d.counts.new
	b.rep.Changed += d.counts.changed
	b.rep.Unchanged += d.counts.unchanged
	b.rep.Pending += d.counts.pending
	if b.dry {
		b.rep.WouldSend += len(d.send)
		for _, k := range known {
			if k.Found && !k.Retracted {
				b.seenLive++
			}
		}
		b.release(r)
		return nil
	}
	// Ids and revisions are fixed before anything is sent: a crash and a resend reuse them.
	if err := b.pull.Plan(d.plan); err != nil {
		return fmt.Errorf("record the plan of %s: %w", b.name(), err)
	}
	b.resize(r, d.send) // the room of the events sent: each gives its own back when answered
	r = room{}
	return b.queue(ctx, d.send, d.sendOf, false)
}

// queue hands planned events to the sender; identities[i] is the row of send[i], and
// retractions says they are retractions. Each holds room in the budget (one event, its
// data's bytes), given back when it is answered; an event in flight already gives back its
// new room at once, and so do the events not queued when ctx ends.
func (b *billDay) queue(ctx context.Context, send []event.Event, identities []string, retractions bool) error {
	if len(send) > 0 && b.events == nil {
		b.startSending(ctx)
	}
	for i, e := range send {
		size := int64(len(e.DataEncoded))
		b.mu.Lock()
		f, flying := b.inflight[e.ID()]
		if !flying {
			f = flight{identity: identities[i], queued: b.j.clock.Now(), retraction: retractions, size: size}
		}
		f.readNo = b.readNo // queued by a read before this one and not answered yet: its answer counts for this one
		b.inflight[e.ID()] = f
		b.mu.Unlock()
		if flying {
			b.release(room{events: 1, bytes: size}) // its room is the first queuing's
			continue
		}
		select {
		case b.events <- e:
		case <-ctx.Done():
			b.mu.Lock()
			delete(b.inflight, e.ID())
			b.mu.Unlock()
			b.releaseUnqueued(send[i:])
			return ctx.Err()
		}
	}
	return nil
}

// releaseUnqueued gives back the room of events that were not queued.
func (b *billDay) releaseUnqueued(send []event.Event) {
	var bytes int64
	for _, e := range send {
		bytes += int64(len(e.DataEncoded))
	}
	b.release(room{events: len(send), bytes: bytes})
}

// flight is an event queued and not answered yet.
type flight struct {
	identity string
	queued   time.Time
	readNo   int   // the read whose row it is (billDay.readNo)
	size     int64 // its data's bytes: its room in the budget
	// retraction: the event retracts its row (see retract)
	retraction bool
}

// newRead forgets the counts of a read abandoned because the bill is read again from its
// start: the report counts the rows of the read that ends the day, each once. An event of
// the abandoned read still in flight counts only when the new read queues it again (see
// queue); its acknowledgement is recorded in the state either way.
func (b *billDay) newRead() {
	b.rep.Fetched, b.rep.New, b.rep.Changed, b.rep.Unchanged, b.rep.Pending, b.rep.WouldSend = 0, 0, 0, 0, 0, 0
	b.rep.WouldRetract, b.seenLive = 0, 0
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readNo++
	b.delivered, b.retracted, b.failed, b.firstFail = 0, 0, 0, nil
}

// result is called by the sender for every event.
func (b *billDay) result(id string, err error) {
	b.mu.Lock()
	f, queued := b.inflight[id]
	identity := f.identity
	counts := !queued || f.readNo == b.readNo // not an answer to an abandoned read's event
	delete(b.inflight, id)
	if queued {
		b.release(room{events: 1, bytes: f.size})
	}
	if !f.queued.IsZero() {
		b.j.ops.DeliveryLatency.Observe(b.j.clock.Now().Sub(f.queued).Seconds())
	}
	outcome := "delivered"
	if err != nil {
		outcome = "failed"
	}
	b.j.ops.EventsSent.WithLabelValues(string(b.kind), outcome).Inc()
	switch {
	case err != nil && counts:
		b.failed++
		if b.firstFail == nil {
			b.firstFail = fmt.Errorf("%s: %w", id, err)
		}
	case err != nil: // an abandoned read's event
	case f.retraction:
		b.retracted++
		b.j.ops.RowsRetracted.WithLabelValues(b.j.account, string(b.kind)).Inc()
	case counts:
		b.delivered++
	}
	b.mu.Unlock()
	if err != nil {
		return
	}
	if identity != "" {
		b.acks <- state.Ack{Identity: identity, ID: id}
	}
}

// recordAcks writes acknowledgements as they come, as many per transaction as arrived
// while the last one was written (at most ackBatch).
func (b *billDay) recordAcks() {
	batch := make([]state.Ack, 0, ackBatch)
	for a := range b.acks {
		batch = append(batch[:0], a)
	more:
		for len(batch) < ackBatch {
			select {
			case a, ok := <-b.acks:
				if !ok {
					break more
				}
				batch = append(batch, a)
			default:
				break more
			}
		}
		if b.ackErr != nil {
			continue // keep draining: the senders must not block
		}
		if err := b.pull.Ack(batch); err != nil {
			b.mu.Lock()
			b.ackErr = err
			b.mu.Unlock()
		}
	}
}
