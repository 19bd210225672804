// Package job is one billing day: stream every page of each configured bill, build the
// seed's event for each row, deliver them while later pages are read, and report the
// counts. Memory holds a few pages, whatever the rows per day: the state (a per-day
// state.Pull) remembers each page's plan and the acknowledgements.
package job

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/budget"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Fetcher reads a day's bill page by page (billing.Client).
type Fetcher interface {
	Stream(ctx context.Context, kind bill.Kind, day calendar.Day, fn func(bill.Page) error) error
}

// Publisher delivers the events of a channel until it is closed (sender.Sender). It calls
// result for each event once it is answered, without waiting for later events: each
// holds room in the budget until then, and the reading waits for that room.
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
	Sent      int // events of the last read answered (delivered + retracted + failed)
	Delivered int // rows of the last read whose event was acknowledged (a re-read's re-sends count once)
	Retracted int // rows no longer in the bill whose retraction was acknowledged
	Failed    int // events not delivered, retractions included
	WouldSend int // a dry run: the events a run would send (Delivered and Failed stay 0)
	// WouldRetract: a dry run, the rows a run would retract (without the second read that
	// confirms many: see retract_max_fraction).
	WouldRetract int
	DryRun       bool // the report of a dry run: nothing was sent
	Pages        int  // pages read
	Duration     time.Duration
}

// Complete reports whether every row of the day is delivered.
func (r Report) Complete() bool { return r.Failed == 0 && r.Delivered+r.Retracted == r.Sent }

// Add adds o's counts to r (the bills of a day, the days of a range).
func (r *Report) Add(o Report) {
	r.Bills = append(r.Bills, o.Bills...)
	r.Fetched += o.Fetched
	r.New += o.New
	r.Changed += o.Changed
	r.Unchanged += o.Unchanged
	r.Pending += o.Pending
	r.Sent += o.Sent
	r.Delivered += o.Delivered
	r.Retracted += o.Retracted
	r.Failed += o.Failed
	r.WouldSend += o.WouldSend
	r.WouldRetract += o.WouldRetract
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
		attrs = append(attrs, "would_send", r.WouldSend, "would_retract", r.WouldRetract)
	} else {
		attrs = append(attrs, "delivered", r.Delivered, "failed", r.Failed, "retracted", r.Retracted)
	}
	return append(attrs, "duration", r.Duration.Round(time.Millisecond).String())
}

// ErrUndelivered is returned (wrapped) when some rows were not delivered.
var ErrUndelivered = errors.New("not all rows delivered")

// QueueEvents is how many built events of a bill's day wait for a sender at most. What
// memory holds of every day, bill and account together is the process's budget (Params.Budget):
// room for a page is taken before the page is asked for, and given back as its events are
// answered. The channel only hands events to the sender's workers: 64 keeps them busy
// (600 made 100 busy accounts hold 9 MB of empty channel buffers).
const QueueEvents = 64

// PageRows is the most rows of a page of either bill (billing.PageSize,
// billing.MaxResults): the room taken before a page is asked for.
const PageRows = 300

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
	// retractMax is Options.RetractMaxFraction.
	retractMax float64
	counter    Counter        // WithCounter; nil: none
	focus      focusMapping   // the FOCUS bill's mapping: focusRows
	budget     *budget.Budget // events in memory, shared by every job of the process
}

// Counter is told of the rows each read of a bill's day returns (the month's close sums
// them): Read is called when a read of the bill's day starts, again when the bill moved
// and is read from its start (what the earlier read counted is to be forgotten), and the
// function it returns with the rows of each page of that read, in order, on the goroutine
// that plans the pages. Its error fails the bill's day. Two bills' days may be read at
// once: Read must be safe for concurrent use.
type Counter interface {
	Read(kind bill.Kind, day calendar.Day) func(rows []bill.Row) error
}

// WithCounter is a copy of the job that tells c of the rows it reads (see Counter).
func (j *Job) WithCounter(c Counter) *Job {
	cp := *j
	cp.counter = c
	return &cp
}

// Options are what a job runs, from the configuration.
type Options struct {
	Bills   []bill.Kind // bills, in bill.Kinds order; none: the account bill
	Account string      // whose bills (config.Account.Name); "" is config.DefaultAccount
	// RetractMaxFraction is retract_max_fraction: a read that would retract more than this
	// fraction of a bill's day (or every row of it) is confirmed by a second read. 0
	// confirms every retraction.
	RetractMaxFraction float64
}

// Params are the inputs of New: one account's job (connector/accounts makes one per account).
type Params struct {
	Options   Options
	Fetcher   Fetcher
	Publisher Publisher
	State     State
	Clock     Clock
	Logger    *slog.Logger
	Metrics   *ops.Metrics // nil: metrics of its own, not served
	// Budget bounds the events in memory of every job of the process together, and hands
	// its room to the accounts in turn (connector/budget). nil: a budget of its own, of
	// the defaults.
	Budget *budget.Budget
}

// New builds a Job for the configured bills.
func New(p Params) *Job {
	bills := p.Options.Bills
	if len(bills) == 0 {
		bills = []bill.Kind{bill.Account}
	}
	account := p.Options.Account
	if account == "" {
		account = config.DefaultAccount
	}
	b := p.Budget
	if b == nil {
		b = budget.New(budget.Options{})
	}
	return &Job{fetch: p.Fetcher, publish: p.Publisher, state: p.State, clock: p.Clock, log: p.Logger, bills: bills,
		ops: ops.Or(p.Metrics), account: account, retractMax: p.Options.RetractMaxFraction, focus: focusRows, budget: b}
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
// the one before are delivered, and the API's pace stays the limit. At most two bill reads
// are in flight (each with the days of the bills it feeds: see billRead), and they share
// the sender's send_concurrency.
func (j *Job) RunDays(ctx context.Context, days []calendar.Day, resend Resend, dry bool, each func(Report, error) bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type started struct {
		day   calendar.Day
		at    time.Time
		bills []*billDay
	}
	queue := make(chan started, len(days))
	go func() {
		defer close(queue)
		var last *billRead // the read started before the last one
		var prev *billRead
		for _, d := range days {
			st := started{day: d, at: j.clock.Now()}
			for _, kinds := range j.reads() {
				if last != nil {
					<-last.done // two in flight at most
				}
				if ctx.Err() != nil {
					break
				}
				r := j.startRead(ctx, kinds, d, resend, dry)
				st.bills = append(st.bills, r.bills...)
				<-r.readDone
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
		for _, b := range st.bills {
			<-b.done
			rep.Add(b.rep)
			if b.err != nil {
				errs = append(errs, b.err)
			}
		}
		rep.Duration = j.clock.Now().Sub(st.at)
		if !stopped && !each(rep, errors.Join(errs...)) {
			stopped = true
			cancel() // what was started ends (and is waited for, below), unreported
		}
	}
}
