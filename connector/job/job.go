// Package job is one billing day: stream every page of each configured bill, build the
// seed's event for each row, deliver them while later pages are read, and report the
// counts. Memory holds a few pages, whatever the rows per day: the state (a per-day
// state.Pull) remembers each page's plan and the acknowledgements.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Fetcher reads a day's bill page by page (billing.Client).
type Fetcher interface {
	Stream(ctx context.Context, kind bill.Kind, day calendar.Day, fn func(bill.Page) error) error
}

// Publisher delivers the events of a channel until it is closed (sender.Sender).
type Publisher interface {
	Stream(ctx context.Context, events <-chan event.Event, result func(id string, err error))
}

// Clock reads the time.
type Clock interface {
	Now() time.Time
}

// State remembers what was delivered (state.Store): one Pull per bill and day.
type State interface {
	Pull(kind bill.Kind, day calendar.Day) (*state.Pull, error)
	ReadPull(kind bill.Kind, day calendar.Day) (*state.Pull, error)
}

// Resend says which rows delivered before a run sends again (every run sends new and
// changed rows). It is not the command line's mode (cli.Mode), which picks one of these.
type Resend int

const (
	// Incremental sends again only rows not acknowledged yet (the daemon).
	Incremental Resend = iota
	// Explicit sends every row again, unchanged ones with their earlier id (--once, --from/--to).
	Explicit
)

// Report is what one day's run did, over its bills.
type Report struct {
	Day       calendar.Day
	Bills     []bill.Kind
	Fetched   int // rows the API returned (in the last read of each bill)
	New       int // rows never seen before
	Changed   int // rows whose content changed since delivered: sent as a new revision
	Unchanged int // rows delivered before with this content (not sent again by the daemon)
	Pending   int // rows planned before with this content but not acknowledged yet
	Sent      int // events of the last read answered (delivered + failed)
	Delivered int // rows of the last read whose event was acknowledged (a re-read's re-sends count once)
	Failed    int
	WouldSend int  // a dry run: the events a run would send (Delivered and Failed stay 0)
	DryRun    bool // the report of a dry run: nothing was sent
	Pages     int  // pages read
	Duration  time.Duration
}

// Complete reports whether every row of the day is delivered.
func (r Report) Complete() bool { return r.Failed == 0 && r.Delivered == r.Sent }

func (r *Report) add(o Report) {
	r.Bills = append(r.Bills, o.Bills...)
	r.Fetched += o.Fetched
	r.New += o.New
	r.Changed += o.Changed
	r.Unchanged += o.Unchanged
	r.Pending += o.Pending
	r.Sent += o.Sent
	r.Delivered += o.Delivered
	r.Failed += o.Failed
	r.WouldSend += o.WouldSend
	r.DryRun = r.DryRun || o.DryRun
	r.Pages += o.Pages
}

// Attrs are the report as log attributes.
func (r Report) Attrs() []any {
	attrs := []any{"day", r.Day.String()}
	if len(r.Bills) > 1 || len(r.Bills) == 1 && r.Bills[0] != bill.Account {
		names := make([]string, len(r.Bills))
		for i, b := range r.Bills {
			names[i] = string(b)
		}
		attrs = append(attrs, "bills", names)
	}
	attrs = append(attrs, "fetched", r.Fetched, "new", r.New, "changed", r.Changed, "unchanged", r.Unchanged, "pending", r.Pending)
	if r.DryRun {
		attrs = append(attrs, "would_send", r.WouldSend)
	} else {
		attrs = append(attrs, "delivered", r.Delivered, "failed", r.Failed)
	}
	return append(attrs, "duration", r.Duration.Round(time.Millisecond).String())
}

// ErrUndelivered is returned (wrapped) when some rows were not delivered.
var ErrUndelivered = errors.New("not all rows delivered")

// QueueEvents is how many built events wait for a sender at most: with the page being
// planned and the events in flight, what memory holds of a day.
const QueueEvents = 600

// QueuePages is how many read pages wait to be planned at most.
const QueuePages = 2

// ackBatch is the most acknowledgements recorded in one state transaction: a crash resends
// at most about this many rows (with their ids). Fewer are recorded at once when the
// acknowledgements come slower than the disk writes them.
const ackBatch = 256

// Job runs billing days.
type Job struct {
	fetch   Fetcher
	publish Publisher
	state   State
	clock   Clock
	log     *slog.Logger
	bills   []bill.Kind
	ops     *ops.Metrics
	account string // config.Account.Name
}

// Params are the inputs of New.
type Params struct {
	fx.In
	Config    *config.Config
	Fetcher   Fetcher
	Publisher Publisher
	State     State
	Clock     Clock
	Logger    *slog.Logger
	Metrics   *ops.Metrics `optional:"true"`
	Account   string       `optional:"true"` // whose bills; "" is config.DefaultAccount
}

// New builds a Job for the configured bills.
func New(p Params) *Job {
	bills := p.Config.Bills
	if len(bills) == 0 {
		bills = []bill.Kind{bill.Account}
	}
	account := p.Account
	if account == "" {
		account = config.DefaultAccount
	}
	return &Job{fetch: p.Fetcher, publish: p.Publisher, state: p.State, clock: p.Clock, log: p.Logger, bills: bills,
		ops: ops.Or(p.Metrics), account: account}
}

// Bills are the bills a day runs.
func (j *Job) Bills() []bill.Kind { return j.bills }

// Run pulls one day's bills and delivers their rows as resend says. The error is
// non-nil when a bill was not read completely or a row was not delivered; the report has
// the counts. A bill that fails does not stop the next.
func (j *Job) Run(ctx context.Context, day calendar.Day, resend Resend) (Report, error) {
	return j.one(ctx, day, resend, false)
}

// DryRun reads the day's bills and counts what Run would send, without sending or writing.
func (j *Job) DryRun(ctx context.Context, day calendar.Day, resend Resend) (Report, error) {
	return j.one(ctx, day, resend, true)
}

func (j *Job) one(ctx context.Context, day calendar.Day, resend Resend, dry bool) (rep Report, err error) {
	j.RunDays(ctx, []calendar.Day{day}, resend, dry, func(r Report, e error) bool {
		rep, err = r, e
		return true
	})
	return rep, err
}

// RunDays runs days one after the other, as Run (or DryRun), and calls each with every
// day's report, in order, as soon as the day is over; each returns false to stop (the
// days not started are not run). The next bill, or the next day, starts being read as
// soon as the one before has been read: its first pages come while the last events of
// the one before are delivered, and the API's pace stays the limit. At most two bills'
// days are in flight, and they share the sender's send_concurrency.
func (j *Job) RunDays(ctx context.Context, days []calendar.Day, resend Resend, dry bool, each func(Report, error) bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type started struct {
		day   calendar.Day
		at    time.Time
		bills []*billRun
	}
	queue := make(chan started, len(days))
	go func() {
		defer close(queue)
		var last *billRun // the bill-day started before the last one
		var prev *billRun
		for _, d := range days {
			st := started{day: d, at: j.clock.Now()}
			for _, k := range j.bills {
				if last != nil {
					<-last.done // two in flight at most
				}
				if ctx.Err() != nil {
					break
				}
				r := j.startBill(ctx, k, d, resend, dry)
				st.bills = append(st.bills, r)
				<-r.read
				last, prev = prev, r
			}
			if len(st.bills) > 0 {
				queue <- st
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	stopped := false
	for st := range queue {
		rep := Report{Day: st.day}
		var errs []error
		for _, r := range st.bills {
			<-r.done
			rep.add(r.rep)
			if r.err != nil {
				errs = append(errs, r.err)
			}
		}
		rep.Duration = j.clock.Now().Sub(st.at)
		if !stopped && !each(rep, errors.Join(errs...)) {
			stopped = true
			cancel() // what was started ends (and is waited for, below), unreported
		}
	}
}

// dayRun is one bill's day being run. pulled is when it started, read once: every event's
// time, and the revision (TimeRevision) of content it plans first, the same over its reads.
type dayRun struct {
	j      *Job
	kind   bill.Kind
	day    calendar.Day
	resend Resend
	dry    bool
	pull   *state.Pull
	pulled time.Time
	read   int
	rep    Report
	events chan event.Event
	acks   chan state.Ack

	mu        sync.Mutex
	inflight  map[string]flight // event id -> the event's row, for events not yet answered
	readNo    int               // which read of the bill the counts below are of (see newRead)
	delivered int
	failed    int
	firstFail error
	ackErr    error
}

// billRun is one bill's day started by startBill.
type billRun struct {
	read chan struct{} // closed when the bill has been read (or its reading failed)
	done chan struct{} // closed when rep and err are final
	rep  Report
	err  error
}

// startBill starts one bill's day on goroutines of its own.
func (j *Job) startBill(ctx context.Context, kind bill.Kind, day calendar.Day, resend Resend, dry bool) *billRun {
	b := &billRun{read: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		start := j.clock.Now()
		b.rep, b.err = j.runBill(ctx, kind, day, resend, dry, b.read)
		if !dry {
			j.ops.DayRunDuration.WithLabelValues(j.account, string(kind)).Observe(j.clock.Now().Sub(start).Seconds())
		}
	}()
	return b
}

// runBill runs one bill's day; it closes read when the bill has been read.
func (j *Job) runBill(ctx context.Context, kind bill.Kind, day calendar.Day, resend Resend, dry bool, read chan struct{}) (Report, error) {
	var readOnce sync.Once
	doneReading := func() { readOnce.Do(func() { close(read) }) }
	defer doneReading()
	r := &dayRun{j: j, kind: kind, day: day, resend: resend, dry: dry, pulled: j.clock.Now().UTC(),
		rep: Report{Day: day, Bills: []bill.Kind{kind}, DryRun: dry}, inflight: map[string]flight{}}
	name := kind.DayName(day)
	start := j.state.Pull
	if dry {
		start = j.state.ReadPull
	}
	pull, err := start(kind, day)
	if err != nil {
		return r.rep, fmt.Errorf("start the pull of %s: %w", name, err)
	}
	r.pull = pull
	var sending, acking sync.WaitGroup
	if !dry {
		r.events = make(chan event.Event, QueueEvents)
		r.acks = make(chan state.Ack, QueueEvents)
		acking.Add(1)
		go func() { defer acking.Done(); r.recordAcks() }()
		sending.Add(1)
		go func() { defer sending.Done(); j.publish.Stream(ctx, r.events, r.result) }()
	}
	var fetchErr error
	for reads := 1; ; reads++ {
		fetchErr = r.readBill(ctx)
		var again *readAgain
		if !errors.As(fetchErr, &again) || ctx.Err() != nil {
			break
		}
		if reads > MaxReReads {
			fetchErr = fmt.Errorf("%s: %w (after %d reads)", name, fetchErr, reads)
			break
		}
		j.log.Warn("a row came again on a later page: the bill moved while paging; reading it again from its start",
			"bill", string(kind), "day", day.String(), "page", again.page, "read", reads+1)
		if err := r.pull.Restart(); err != nil {
			fetchErr = fmt.Errorf("restart the pull of %s: %w", name, err)
			break
		}
		r.read = 0
		r.newRead()
	}
	doneReading() // the next bill's day may be read while this one's last events are delivered
	if !dry {
		close(r.events)
		sending.Wait()
		close(r.acks)
		acking.Wait()
	}
	r.rep.Delivered, r.rep.Failed = r.delivered, r.failed
	r.rep.Sent = r.delivered + r.failed
	if dry {
		return r.rep, fetchErr
	}
	now := j.clock.Now()
	switch {
	case r.ackErr != nil:
		err := fmt.Errorf("record deliveries of %s: %w", name, r.ackErr)
		r.recordFailure(err, true, now)
		return r.rep, err
	case r.failed > 0:
		err := fmt.Errorf("%s: %d of %d rows not delivered (first: %w): %w", name, r.failed, r.rep.Sent, r.firstFail, ErrUndelivered)
		if fetchErr != nil {
			err = errors.Join(fetchErr, err)
		}
		r.recordFailure(err, true, now)
		return r.rep, err
	case fetchErr != nil:
		r.recordFailure(fetchErr, false, now)
		return r.rep, fetchErr
	}
	if err := pull.Finish(r.rep.Fetched, now); err != nil {
		return r.rep, fmt.Errorf("record %s as complete: %w", name, err)
	}
	j.ops.LastSuccess.WithLabelValues(j.account, string(kind)).Set(float64(now.UnixMilli()) / 1000)
	return r.rep, nil
}

// readBill reads the bill once (with the re-reads billing makes itself), planning its
// pages on a goroutine of their own, so that the next page is asked for while this one is
// written to the state and queued: the API's pace is the limit. A planning error stops
// the reading and is returned.
func (r *dayRun) readBill(ctx context.Context) error {
	pages := make(chan bill.Page, QueuePages)
	planned := make(chan error, 1)
	var planErr atomic.Pointer[error]
	go func() {
		var err error
		for p := range pages {
			if err == nil {
				if err = r.page(ctx, p); err != nil {
					planErr.Store(&err)
				}
			}
		}
		planned <- err
	}()
	fetchErr := r.j.fetch.Stream(ctx, r.kind, r.day, func(p bill.Page) error {
		if e := planErr.Load(); e != nil {
			return *e
		}
		select {
		case pages <- p:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(pages)
	if err := <-planned; err != nil {
		return err // the planner's error, which stopped the reading, if it did
	}
	return fetchErr
}

// MaxReReads is how many times a bill's day is read again from its start when a row comes
// again on a later page of a read (the bill moved under the reader: another row may have
// been skipped). A row that still comes twice after that fails the day.
const MaxReReads = 3

// readAgain: a row of an earlier page of this read came again.
type readAgain struct {
	identity string
	page     int
}

func (e *readAgain) Error() string {
	return fmt.Sprintf("row %.120s came again on page %d", e.identity, e.page)
}

// recordFailure notes a failed run. With undelivered rows the day is not complete (the
// daemon retries it); a failed read leaves the day as complete as it was.
func (r *dayRun) recordFailure(err error, undelivered bool, now time.Time) {
	if serr := r.pull.Fail(err, undelivered, r.rep.Fetched, now); serr != nil {
		r.j.log.Error("record the failed day in the state", "bill", string(r.kind), "day", r.day.String(), "error", serr.Error())
	}
}

// page plans one page in the state and queues its events. It runs on the reading
// goroutine: while it waits for room in the queue, the next page is not asked for.
func (r *dayRun) page(ctx context.Context, p bill.Page) error {
	if p.Read != r.read {
		if r.read != 0 {
			// The bill is read again from its start: a new pull, and the counts of the
			// abandoned read do not count.
			if err := r.pull.Restart(); err != nil {
				return fmt.Errorf("restart the pull of %s: %w", r.kind.DayName(r.day), err)
			}
			r.newRead()
		}
		r.read = p.Read
	}
	r.rep.Pages++
	r.rep.Fetched += len(p.Rows)
	r.j.ops.RowsFetched.WithLabelValues(r.j.account, string(r.kind)).Add(float64(len(p.Rows)))
	ids := identities(p.Rows)
	known, err := r.pull.Known(ids)
	if err != nil {
		return fmt.Errorf("read the state of %s: %w", r.kind.DayName(r.day), err)
	}
	for i, k := range known {
		if k.ThisPull { // planned by an earlier page of this read
			return &readAgain{identity: ids[i], page: p.Number}
		}
	}
	plan := make(map[string]state.Row, len(p.Rows))
	send := make([]event.Event, 0, len(p.Rows))
	sendIDs := make([]string, 0, len(p.Rows)) // the row identity of each event in send
	for i, row := range p.Rows {
		e, planned, resend, err := r.planRow(row, ids[i], known[i])
		if err != nil {
			return fmt.Errorf("build events of %s: %w", r.kind.DayName(r.day), err)
		}
		plan[ids[i]] = planned
		if resend {
			send, sendIDs = append(send, e), append(sendIDs, ids[i])
		}
	}
	if r.dry {
		r.rep.WouldSend += len(send)
		return nil
	}
	// Ids and revisions are fixed before anything is sent: a crash and a resend reuse them.
	if err := r.pull.Plan(plan); err != nil {
		return fmt.Errorf("record the plan of %s: %w", r.kind.DayName(r.day), err)
	}
	return r.queue(ctx, send, sendIDs)
}

// queue hands a page's planned events to the sender; identities[i] is the row of send[i].
func (r *dayRun) queue(ctx context.Context, send []event.Event, identities []string) error {
	for i, e := range send {
		r.mu.Lock()
		f, flying := r.inflight[e.ID()]
		if !flying {
			f = flight{identity: identities[i], queued: r.j.clock.Now()}
		}
		f.readNo = r.readNo // queued by a read before this one and not answered yet: its answer counts for this one
		r.inflight[e.ID()] = f
		r.mu.Unlock()
		if flying {
			continue
		}
		select {
		case r.events <- e:
		case <-ctx.Done():
			r.mu.Lock()
			delete(r.inflight, e.ID())
			r.mu.Unlock()
			return ctx.Err()
		}
	}
	return nil
}

// planRow is a row's event, what the state records of it, and whether it is sent. Content
// planned before keeps its revision and id; new and changed content gets NextRevision, from
// the time this pull started (the same for all its rows and reads).
func (r *dayRun) planRow(row bill.Row, identity string, k state.Known) (event.Event, state.Row, bool, error) {
	body, hash, err := Body(row)
	if err != nil {
		return event.Event{}, state.Row{}, false, err
	}
	same := k.Found && k.Hash == hash && validRevision(k.Revision)
	rev, send := k.Revision, true
	switch {
	case same && !k.Delivered:
		r.rep.Pending++
	case same:
		r.rep.Unchanged++
		send = r.resend == Explicit
	case k.Found:
		rev = NextRevision(k.Revision, r.pulled)
		r.rep.Changed++
	default:
		rev = NextRevision(0, r.pulled)
		r.rep.New++
	}
	e := newEvent(r.j.account, row, identity, body, rev, r.pulled)
	return e, state.Row{Hash: hash, ID: e.ID(), Revision: rev, Delivered: same && k.Delivered}, send, nil
}

// identities are the rows' identities. Two rows of one page with the same identity (the
// API should never send that) are told apart by their occurrence, "#2" and on, so that
// neither overwrites the other.
func identities(rows []bill.Row) []string {
	ids := make([]string, len(rows))
	seen := make(map[string]int, len(rows))
	for i, row := range rows {
		base := Identity(row)
		n := seen[base] + 1
		seen[base] = n
		ids[i] = base
		if n > 1 {
			ids[i] = fmt.Sprintf("%s#%d", base, n)
		}
	}
	return ids
}

// flight is an event queued and not answered yet.
type flight struct {
	identity string
	queued   time.Time
	readNo   int // the read whose row it is (dayRun.readNo)
}

// newRead forgets the counts of a read abandoned because the bill is read again from its
// start: the report counts the rows of the read that ends the day, each once. An event of
// the abandoned read still in flight counts only when the new read queues it again (see
// page); its acknowledgement is recorded in the state either way.
func (r *dayRun) newRead() {
	r.rep.Fetched, r.rep.New, r.rep.Changed, r.rep.Unchanged, r.rep.Pending, r.rep.WouldSend = 0, 0, 0, 0, 0, 0
	r.mu.Lock()
	defer r.mu.Unlock()
	r.readNo++
	r.delivered, r.failed, r.firstFail = 0, 0, nil
}

// result is called by the sender for every event.
func (r *dayRun) result(id string, err error) {
	r.mu.Lock()
	f, queued := r.inflight[id]
	identity := f.identity
	counts := !queued || f.readNo == r.readNo // not an answer to an abandoned read's event
	delete(r.inflight, id)
	if !f.queued.IsZero() {
		r.j.ops.DeliveryLatency.Observe(r.j.clock.Now().Sub(f.queued).Seconds())
	}
	outcome := "delivered"
	if err != nil {
		outcome = "failed"
	}
	r.j.ops.EventsSent.WithLabelValues(string(r.kind), outcome).Inc()
	switch {
	case err != nil && counts:
		r.failed++
		if r.firstFail == nil {
			r.firstFail = fmt.Errorf("%s: %w", id, err)
		}
	case counts:
		r.delivered++
	}
	r.mu.Unlock()
	if err != nil {
		return
	}
	if identity != "" {
		r.acks <- state.Ack{Identity: identity, ID: id}
	}
}

// recordAcks writes acknowledgements as they come, as many per transaction as arrived
// while the last one was written (at most ackBatch).
func (r *dayRun) recordAcks() {
	batch := make([]state.Ack, 0, ackBatch)
	for a := range r.acks {
		batch = append(batch[:0], a)
	more:
		for len(batch) < ackBatch {
			select {
			case a, ok := <-r.acks:
				if !ok {
					break more
				}
				batch = append(batch, a)
			default:
				break more
			}
		}
		if r.ackErr != nil {
			continue // keep draining: the senders must not block
		}
		if err := r.pull.Ack(batch); err != nil {
			r.mu.Lock()
			r.ackErr = err
			r.mu.Unlock()
		}
	}
}
