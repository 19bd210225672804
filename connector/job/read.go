package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// One read feeds every bill made of its rows. The FOCUS bill is the instance bill's rows
// (bill.Kind.Reads): with both configured, the instance bill of a day is read once, and
// each page goes to the instance bill's day and then to the FOCUS bill's day, on the one
// goroutine that plans the pages. Each bill's day keeps its own pull, ids, revisions,
// queue, sender, acknowledgements and report, as a bill read alone does. A read that the
// bill moved under (bill.MovedError, from the API or from either day's classify) restarts
// both days' pulls and is read again from its start: MaxReReads counts the reads, not the
// bills. A bill's day that cannot plan a page (or record its retractions) leaves the read
// with its error (billDay.stop); the read goes on for the other. A read that would retract
// many rows of either day is read once more for both (see readChecked).

// billRead is one bill read for the days of the bills it feeds, in the order they were
// configured.
type billRead struct {
	j     *Job
	kind  bill.Kind // the bill read: bills[i].kind.Reads()
	day   calendar.Day
	dry   bool
	bills []*billDay // every day of the read (RunDays reports them)
	open  []*billDay // of bills, those whose pull started (run)
	pages int        // pages read, over the reads
	// feeds is how many days the current readBill feeds: the planner, which takes a day
	// out of the read (billDay.stop), sets it; the reading goroutine takes room by it.
	feeds atomic.Int32

	readDone chan struct{} // closed when the bill has been read (or its reading failed)
	done     chan struct{} // closed when every bill's day is over
}

// reads groups the configured bills by the bill read for them, in order.
func (j *Job) reads() [][]bill.Kind {
	var out [][]bill.Kind
	at := map[bill.Kind]int{}
	for _, k := range j.bills {
		i, ok := at[k.Reads()]
		if !ok {
			i = len(out)
			at[k.Reads()] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], k)
	}
	return out
}

// startRead starts the days of kinds (one bill read: see reads) on goroutines of their own.
func (j *Job) startRead(ctx context.Context, kinds []bill.Kind, day calendar.Day, resend Resend, dry bool) *billRead {
	r := &billRead{j: j, kind: kinds[0].Reads(), day: day, dry: dry,
		readDone: make(chan struct{}), done: make(chan struct{})}
	for _, k := range kinds {
		b := j.newBillDay(k, day, resend, dry)
		if k == bill.Focus {
			b.focus = j.newFocusDay(b)
		}
		r.bills = append(r.bills, b)
	}
	go func() {
		defer close(r.done)
		start := j.clock.Now()
		r.run(ctx)
		for _, b := range r.bills {
			if !dry {
				j.ops.DayRunDuration.WithLabelValues(j.account, string(b.kind)).Observe(j.clock.Now().Sub(start).Seconds())
			}
			close(b.done)
		}
	}()
	return r
}

// name names the bill read in messages.
func (r *billRead) name() string { return r.kind.DayName(r.day) }

// run runs the days of the read; it closes readDone when the bill has been read.
func (r *billRead) run(ctx context.Context) {
	var readOnce sync.Once
	doneReading := func() { readOnce.Do(func() { close(r.readDone) }) }
	defer doneReading()
	var open []*billDay
	for _, b := range r.bills {
		if b.err = b.open(ctx); b.err == nil {
			open = append(open, b)
		}
	}
	if len(open) == 0 {
		return
	}
	r.open = open
	err := r.readChecked(ctx)
	doneReading() // the next bill's day may be read while these ones' last events are delivered
	open[0].rep.Pages = r.pages
	for _, b := range open {
		b.err = b.close(err)
	}
}

// live are the bills' days still in the read.
func (r *billRead) live() []*billDay {
	out := make([]*billDay, 0, len(r.open))
	for _, b := range r.open {
		if b.stop == nil {
			out = append(out, b)
		}
	}
	return out
}

// readAll reads the bill, and again from its start while it moves under the read, as
// MaxReReads says: the one loop. Each read again is a new pull of every day it feeds, and
// the counts of the abandoned read do not count (newRead).
func (r *billRead) readAll(ctx context.Context) error {
	for reads := 1; ; reads++ {
		for _, b := range r.live() {
			b.startRead()
		}
		if len(r.live()) == 0 {
			return nil // each day has its error (billDay.stop)
		}
		err := r.readBill(ctx)
		if err == nil {
			err = r.endRead(ctx)
		}
		var moved *bill.MovedError
		if !errors.As(err, &moved) || ctx.Err() != nil {
			return err
		}
		if reads > MaxReReads {
			return fmt.Errorf("%s: the bill kept moving while it was read (%d reads; it is being updated, try later): %w", r.name(), reads, err)
		}
		r.j.log.Warn("the bill moved while paging; reading the "+string(r.kind)+" bill again from its start",
			"bill", string(r.kind), "day", r.day.String(), "page", moved.Page, "read", reads+1, "why", moved.What)
		if err := r.restart(); err != nil {
			return err
		}
	}
}

// restart starts a new pull of every day of the read: the bill is read again.
func (r *billRead) restart() error {
	for _, b := range r.live() {
		if err := b.pull.Restart(); err != nil {
			return fmt.Errorf("restart the pull of %s: %w", b.name(), err)
		}
		b.newRead()
	}
	return nil
}

// startRead readies the bill's day for a read from the bill's start: the Counter's count,
// and the FOCUS bill's purchases. An error takes the day out of the read.
func (b *billDay) startRead() {
	if b.j.counter != nil {
		b.count = b.j.counter.Read(b.kind, b.day)
	}
	if b.focus != nil {
		if err := b.focus.start(); err != nil {
			b.stop = fmt.Errorf("read the purchases of %s: %w", b.name(), err)
		}
	}
}

// endRead plans what a complete read leaves to its end: the FOCUS rows held back for the
// day's share of a purchase, and the amortized rows (focusDay.flush).
func (r *billRead) endRead(ctx context.Context) error {
	return r.each(func(b *billDay) error {
		if b.focus == nil {
			return nil
		}
		rows, ids, err := b.focus.flush()
		if err != nil {
			return fmt.Errorf("build the FOCUS rows of %s: %w", b.name(), err)
		}
		room, err := b.reserve(ctx, len(rows))
		if err != nil {
			return err
		}
		return b.plan(ctx, r.pages+1, rows, ids, room)
	})
}

// each runs fn for every day still in the read. A day whose fn fails leaves the read
// with the error (billDay.stop), unless it is the bill moving or the run stopping: those
// are returned, and so is the last error when no day is left.
func (r *billRead) each(fn func(b *billDay) error) error {
	var last error
	left := 0
	for _, b := range r.live() {
		err := fn(b)
		switch {
		case err == nil:
			left++
		case errors.Is(err, bill.ErrMoved), stopping(err):
			return err
		default:
			b.stop, last = err, err
		}
	}
	if left == 0 {
		return last
	}
	return nil
}

// readBill reads the bill once, planning its pages on a goroutine of their own, so that the
// next page is asked for while this one is written to the state and queued: the API's pace
// is the limit. Each page is asked for once the budget has room for it, for every day it
// feeds (see admit.go). A planning error that leaves no day in the read stops the reading
// and is returned.
func (r *billRead) readBill(ctx context.Context) error {
	pages := make(chan heldPage, QueuePages)
	planned := make(chan error, 1)
	var planErr atomic.Pointer[error]
	r.feeds.Store(int32(len(r.live())))
	go func() {
		var err error
		for p := range pages {
			if err == nil {
				r.pages++
				if err = r.each(func(b *billDay) error { return b.page(ctx, p.page, p.room.take(len(p.page.Rows))) }); err != nil {
					planErr.Store(&err)
				}
				r.feeds.Store(int32(len(r.live()))) // b.stop is the planner's while it runs
			}
			r.j.release(p.room) // the part of days no longer in the read
		}
		planned <- err
	}()
	read := 0
	next, fetchErr := r.reserve(ctx, PageRows)
	if fetchErr == nil {
		fetchErr = r.j.fetch.Stream(ctx, r.kind, r.day, func(p bill.Page) (err error) {
			next, err = r.handOver(ctx, pages, p, next, &read, planErr.Load())
			return err
		})
	}
	r.j.release(next)
	close(pages)
	if err := <-planned; err != nil {
		return err // the planner's error, which stopped the reading, if it did
	}
	return fetchErr
}

// reserve waits for the room of a page of n rows for every day still in the read.
func (r *billRead) reserve(ctx context.Context, n int) (room, error) {
	return r.j.reserve(ctx, n*r.days())
}

// days is how many days a page read now feeds (feeds), at least 1.
func (r *billRead) days() int { return max(int(r.feeds.Load()), 1) }

// handOver gives a page read, with its room, to the planner, and takes the room of the next
// page (the rows TotalCount says are left, at most PageRows) before the reading goes on.
func (r *billRead) handOver(ctx context.Context, pages chan<- heldPage, p bill.Page, next room, read *int, planErr *error) (room, error) {
	if planErr != nil {
		return next, *planErr
	}
	next = r.j.fit(next, len(p.Rows)*r.days())
	select {
	case pages <- heldPage{page: p, room: next}:
	case <-ctx.Done():
		return next, ctx.Err()
	}
	*read += len(p.Rows)
	left := min(PageRows, p.Total-*read)
	if left <= 0 {
		return room{}, nil
	}
	return r.reserve(ctx, left)
}

// stopping: err is the run being stopped.
func stopping(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// readChecked reads the bill (readAll) and retracts what the read no longer has of each
// day, as retract.go says. A read that would retract many rows of any day it feeds is
// read once more, for all of them. A dry run counts what it would retract (WouldRetract).
func (r *billRead) readChecked(ctx context.Context) error {
	if err := r.readAll(ctx); err != nil {
		return err
	}
	if r.dry {
		return r.each(func(b *billDay) error {
			live, err := b.pull.Live()
			b.rep.WouldRetract = max(live-b.seenLive, 0)
			return err
		})
	}
	first := map[*billDay]vanished{}
	doubt := false
	if err := r.each(func(b *billDay) error {
		v, err := b.vanished()
		first[b] = v
		if err == nil && v.doubtful(r.j.retractMax) {
			doubt = true
			b.j.log.Warn("a read of the "+string(b.kind)+" bill no longer has many rows; reading it once more before retracting them",
				"bill", string(b.kind), "day", b.day.String(), "gone", v.fresh, "rows", v.live)
		}
		return err
	}); err != nil {
		return err
	}
	if !doubt {
		return r.each(func(b *billDay) error { return b.retractGone(ctx, first[b].gone) })
	}
	if err := r.restart(); err != nil {
		return err
	}
	if err := r.readAll(ctx); err != nil {
		return err
	}
	return r.each(func(b *billDay) error {
		second, err := b.vanished()
		switch {
		case err != nil:
			return err
		case second.doubtful(r.j.retractMax) && !slices.Equal(first[b].freshIDs(), second.freshIDs()):
			return fmt.Errorf("%s: %w: the first no longer had %d of the %d rows, the second %d of %d, not the same ones; nothing retracted (the API may be answering in part), the day is read again later",
				b.name(), errReadsDisagree, first[b].fresh, first[b].live, second.fresh, second.live)
		}
		return b.retractGone(ctx, second.gone)
	})
}

// retractGone retracts the rows of the day the read no longer has and, of the FOCUS bill,
// forgets the purchases and refunds it no longer has (focusDay.forgetGone): both only once
// the read is trusted (readChecked).
func (b *billDay) retractGone(ctx context.Context, gone []state.Gone) error {
	if err := b.retract(ctx, gone); err != nil {
		return err
	}
	if b.focus != nil {
		return b.focus.forgetGone()
	}
	return nil
}
