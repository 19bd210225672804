package job

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

	done chan struct{} // closed when rep and err are final
	rep  Report
	err  error
	// stop is the error that took the bill's day out of its read (a page it could not
	// plan, a retraction it could not record): the read goes on for the other bills it
	// feeds (see billRead).
	stop  error
	focus *focusDay // the FOCUS bill's day: its rows are built from the instance bill's; nil for another bill

	sending, acking sync.WaitGroup

	pull     *state.Pull
	seenLive int                    // a dry run: rows of the read the state knows and has not retracted
	count    func([]bill.Row) error // the Counter's, for the current read; nil: none
	events   chan event.Event       // made, with the sender's and the recorder's goroutines, by the first event (startSending)
	acks     chan state.Ack

	mu        sync.Mutex
	inflight  map[string]flight // event id -> the event's row, for events not yet answered
	readNo    int               // which read of the bill the counts below are of (see newRead)
	delivered int
	retracted int
	failed    int
	firstFail error
	ackErr    error
}

// newBillDay is one bill's day, to be run by a billRead.
func (j *Job) newBillDay(kind bill.Kind, day calendar.Day, resend Resend, dry bool) *billDay {
	return &billDay{j: j, kind: kind, day: day, dry: dry, classifier: classifier{account: j.account, resend: resend},
		done: make(chan struct{}), rep: Report{Day: day, Bills: []bill.Kind{kind}, DryRun: dry}, inflight: map[string]flight{}}
}

// name names the bill's day in messages.
func (b *billDay) name() string { return b.kind.DayName(b.day) }

// open starts the bill's day before its read: its pull. Its sender and the recording of
// its acknowledgements start with its first event (startSending).
func (b *billDay) open(ctx context.Context) error {
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

// close ends the bill's day after its read (fetchErr: the read's error, or the bill's
// own stop): its last events delivered, how it ended recorded.
func (b *billDay) close(fetchErr error) error {
	if b.stop != nil {
		fetchErr = b.stop
	}
	if b.dry {
		return fetchErr
	}
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

// recordFailure notes a failed run. With undelivered rows the day is not complete (the
// daemon retries it); a failed read leaves the day as complete as it was.
func (b *billDay) recordFailure(err error, undelivered bool, now time.Time) {
	if serr := b.pull.Fail(err, undelivered, b.rep.Fetched, now); serr != nil {
		b.j.log.Error("record the failed day in the state", "bill", string(b.kind), "day", b.day.String(), "error", serr.Error())
	}
}

// page wires one page's decision (classify) to the state, the queue and the metrics. It
// runs on the reading goroutine: while it waits for room in the queue, the next page is not
// asked for. The FOCUS bill's day builds its rows from the instance bill's page first.
// r is the page's room in the budget for this day (see admit.go).
func (b *billDay) page(ctx context.Context, p bill.Page, r room) error {
	rows, ids := p.Rows, []string(nil)
	if b.focus != nil {
		var err error
		if rows, ids, err = b.focus.page(p); err != nil {
			b.release(r)
			return fmt.Errorf("build the FOCUS rows of %s: %w", b.name(), err)
		}
	} else {
		ids = identities(rows)
	}
	if err := b.plan(ctx, p.Number, rows, ids, r); err != nil {
		return err
	}
	if b.count != nil {
		if err := b.count(p.Rows); err != nil {
			return fmt.Errorf("count the rows of %s: %w", b.name(), err)
		}
	}
	return nil
}

// plan decides rows (with their identities ids) as the page number of the read, plans
// them in the state and queues their events. r is their room in the budget: shrunk to the
// events sent (each gives its own back when answered), all of it given back on an error.
func (b *billDay) plan(ctx context.Context, number int, rows []bill.Row, ids []string, r room) (err error) {
	defer func() {
		if err != nil {
			b.release(r)
		}
	}()
	r = b.fit(r, len(rows))
	b.rep.Fetched += len(rows)
	b.j.ops.RowsFetched.WithLabelValues(b.j.account, string(b.kind)).Add(float64(len(rows)))
	known, err := b.pull.Known(ids)
	if err != nil {
		return fmt.Errorf("read the state of %s: %w", b.name(), err)
	}
	d, err := b.classify(number, rows, ids, known)
	switch {
	case errors.Is(err, bill.ErrMoved):
		return err
	case err != nil:
		return fmt.Errorf("build events of %s: %w", b.name(), err)
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
	b.j.ops.EventSent(string(b.kind), err)
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
