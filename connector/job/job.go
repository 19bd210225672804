// Package job is one billing day: fetch every row, build the seed's event for each,
// deliver them all, and report the counts.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Fetcher reads a day's bill (billing.Client).
type Fetcher interface {
	FetchDay(ctx context.Context, day calendar.Day) ([]billing.Row, error)
}

// Publisher delivers events and returns those it could not deliver (sender.Sender).
type Publisher interface {
	Send(ctx context.Context, events []event.Event, onAck func(id string)) []sender.Failure
}

// Clock reads the time.
type Clock interface {
	Now() time.Time
}

// State remembers what was delivered (state.Store). A nil State remembers nothing.
type State interface {
	Rows(day calendar.Day) (map[string]state.Row, error)
	Plan(day calendar.Day, rows map[string]state.Row) error
	Delivered(day calendar.Day, identities []string) error
	DayInfo(day calendar.Day) (state.Day, error)
	SetDayInfo(day calendar.Day, info state.Day, present map[string]string) error
}

// Mode says which rows a run sends.
type Mode int

const (
	// Incremental sends rows that are new, changed, or not yet acknowledged (the daemon).
	Incremental Mode = iota
	// Explicit sends every row, unchanged ones with their earlier id (--once, --from/--to).
	Explicit
)

// Report is what one day's run did.
type Report struct {
	Day       calendar.Day
	Fetched   int // rows the API returned
	New       int // rows never seen before
	Changed   int // rows whose content changed since delivered: sent as a new revision
	Unchanged int // rows delivered before with this content (not sent again by the daemon)
	Pending   int // rows planned before with this content but not acknowledged yet
	Sent      int // events sent (delivered + failed)
	Delivered int
	Failed    int
	Duration  time.Duration
}

// Complete reports whether every row of the day is delivered.
func (r Report) Complete() bool { return r.Failed == 0 && r.Delivered == r.Sent }

// Attrs are the report as log attributes.
func (r Report) Attrs() []any {
	return []any{"day", r.Day.String(), "fetched", r.Fetched, "new", r.New, "changed", r.Changed,
		"unchanged", r.Unchanged, "pending", r.Pending, "delivered", r.Delivered, "failed", r.Failed, "duration", r.Duration.Round(time.Millisecond).String()}
}

// ErrUndelivered is returned (wrapped) when some rows were not delivered.
var ErrUndelivered = errors.New("not all rows delivered")

// Job runs billing days.
type Job struct {
	fetch   Fetcher
	publish Publisher
	state   State
	clock   Clock
	log     *slog.Logger
}

// Params are the inputs of New.
type Params struct {
	fx.In
	Fetcher   Fetcher
	Publisher Publisher
	State     State `optional:"true"`
	Clock     Clock
	Logger    *slog.Logger
}

// New builds a Job.
func New(p Params) *Job {
	return &Job{fetch: p.Fetcher, publish: p.Publisher, state: p.State, clock: p.Clock, log: p.Logger}
}

// item is one fetched row with its identity and content.
type item struct {
	row      billing.Row
	identity string
	hash     string
}

func (j *Job) items(rows []billing.Row) ([]item, error) {
	out := make([]item, 0, len(rows))
	seen := make(map[string]int, len(rows))
	for _, r := range rows {
		id := Identity(r)
		// Two rows with the same identity (the API should never send that): the later ones
		// get their occurrence number, so that neither overwrites the other.
		if n := seen[id]; n > 0 {
			seen[id] = n + 1
			id = fmt.Sprintf("%s#%d", id, n+1)
		} else {
			seen[id] = 1
		}
		h, _, err := ContentHash(DataOf(r))
		if err != nil {
			return nil, err
		}
		out = append(out, item{row: r, identity: id, hash: h})
	}
	return out, nil
}

// Run pulls one day and delivers its rows as the mode says. The error is non-nil when the
// day was not read completely or a row was not delivered; the report has the counts.
func (j *Job) Run(ctx context.Context, day calendar.Day, mode Mode) (Report, error) {
	start := j.clock.Now()
	rep, events, plan, present, err := j.prepare(ctx, day, mode)
	if err != nil {
		// Nothing was sent: what was delivered before stays delivered, a complete day complete.
		rep.Duration = j.clock.Now().Sub(start)
		j.recordFailure(day, rep, err, false)
		return rep, err
	}
	if j.state != nil {
		// Ids and revisions are fixed before anything is sent: a crash and a resend reuse them.
		if err := j.state.Plan(day, plan); err != nil {
			return rep, fmt.Errorf("record the plan of %s: %w", day, err)
		}
	}
	acks := &ackLog{state: j.state, day: day, identity: events.identity}
	failures := j.publish.Send(ctx, events.list, acks.add)
	if err := acks.flush(); err != nil {
		return rep, fmt.Errorf("record deliveries of %s: %w", day, err)
	}
	rep.Sent, rep.Failed, rep.Delivered = len(events.list), len(failures), acks.count
	rep.Duration = j.clock.Now().Sub(start)
	if len(failures) > 0 {
		err := fmt.Errorf("%s: %d of %d rows not delivered (first: %s: %w): %w",
			day, len(failures), len(events.list), failures[0].ID, failures[0].Err, ErrUndelivered)
		j.recordFailure(day, rep, err, true)
		return rep, err
	}
	if j.state != nil {
		prev, _ := j.state.DayInfo(day)
		info := state.Day{Complete: true, Rows: rep.Fetched, Attempts: prev.Attempts + 1, UpdatedAt: j.clock.Now().UTC()}
		if err := j.state.SetDayInfo(day, info, present); err != nil {
			return rep, fmt.Errorf("record %s as complete: %w", day, err)
		}
	}
	return rep, nil
}

// ackBatch is how many acknowledgements are recorded in one state transaction while a day
// is sent: a crash resends at most about this many rows (with their ids).
const ackBatch = 50

// ackLog records acknowledged rows in the state as they come, in batches.
type ackLog struct {
	mu       sync.Mutex
	state    State
	day      calendar.Day
	identity map[string]string
	pending  []string
	count    int
	err      error
}

func (a *ackLog) add(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.count++
	a.pending = append(a.pending, a.identity[id])
	if len(a.pending) >= ackBatch {
		a.flushLocked()
	}
}

func (a *ackLog) flush() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushLocked()
	return a.err
}

func (a *ackLog) flushLocked() {
	if a.state == nil || len(a.pending) == 0 || a.err != nil {
		a.pending = a.pending[:0]
		return
	}
	a.err = a.state.Delivered(a.day, a.pending)
	a.pending = a.pending[:0]
}

// DryRun fetches the day and counts what Run would send, without sending or writing.
func (j *Job) DryRun(ctx context.Context, day calendar.Day, mode Mode) (Report, error) {
	start := j.clock.Now()
	rep, events, _, _, err := j.prepare(ctx, day, mode)
	rep.Sent = len(events.list)
	rep.Duration = j.clock.Now().Sub(start)
	return rep, err
}

type eventSet struct {
	list     []event.Event
	identity map[string]string // event id -> row identity
}

func (j *Job) prepare(ctx context.Context, day calendar.Day, mode Mode) (Report, eventSet, map[string]state.Row, map[string]string, error) {
	rep := Report{Day: day}
	set := eventSet{identity: map[string]string{}}
	rows, err := j.fetch.FetchDay(ctx, day)
	if err != nil {
		return rep, set, nil, nil, err
	}
	rep.Fetched = len(rows)
	items, err := j.items(rows)
	if err != nil {
		return rep, set, nil, nil, fmt.Errorf("build events of %s: %w", day, err)
	}
	known := map[string]state.Row{}
	if j.state != nil {
		if known, err = j.state.Rows(day); err != nil {
			return rep, set, nil, nil, fmt.Errorf("read the state of %s: %w", day, err)
		}
	}
	pulled := j.clock.Now().UTC()
	plan := map[string]state.Row{}
	present := make(map[string]string, len(items))
	for _, it := range items {
		present[it.identity] = it.hash
		rec, seen := known[it.identity]
		rev := 1
		switch {
		case seen && rec.Hash == it.hash:
			rev = rec.Revision
			if !rec.Delivered {
				rep.Pending++
				break
			}
			rep.Unchanged++
			if mode == Incremental {
				continue
			}
		case seen:
			rev = rec.Revision + 1
			rep.Changed++
		default:
			rep.New++
		}
		e, err := NewEvent(it.row, it.identity, rev, pulled)
		if err != nil {
			return rep, set, nil, nil, fmt.Errorf("build events of %s: %w", day, err)
		}
		if !seen || rec.Hash != it.hash {
			plan[it.identity] = state.Row{Hash: it.hash, ID: e.ID(), Revision: rev}
		}
		set.list = append(set.list, e)
		set.identity[e.ID()] = it.identity
	}
	return rep, set, plan, present, nil
}

// recordFailure notes a failed run. With undelivered rows the day is not complete (the
// daemon retries it); a failed pull leaves the day as complete as it was.
func (j *Job) recordFailure(day calendar.Day, rep Report, err error, undelivered bool) {
	if j.state == nil {
		return
	}
	prev, _ := j.state.DayInfo(day)
	info := prev
	info.Attempts++
	info.LastError = err.Error()
	info.UpdatedAt = j.clock.Now().UTC()
	if undelivered {
		info.Complete, info.Rows = false, rep.Fetched
	}
	if serr := j.state.SetDayInfo(day, info, nil); serr != nil {
		j.log.Error("record the failed day in the state", "day", day.String(), "error", serr.Error())
	}
}
