package job_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/budget"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// The budget with the FOCUS bill: one read of the instance bill takes room for both days,
// the FOCUS day's held rows take theirs at the read's end. Every path gives back what it
// took, and a budget smaller than one read's page does not stop the read.

// paged serves the instance bill's rows in pages of job.PageRows with the right Total (so
// that each page but the first is asked for only once room was taken for it). moveOnce:
// the first read's second page has the first row again (the bill moved under the read);
// short: Total says fewer rows than come (pages come without their room).
type paged struct {
	rows     []bill.Row
	moveOnce bool
	short    bool
	failAt   int // the API fails when asked for this page (its room taken)

	mu    sync.Mutex
	reads int
}

func (f *paged) Stream(ctx context.Context, kind bill.Kind, _ calendar.Day, fn func(bill.Page) error) error {
	if kind != bill.Instance {
		return fmt.Errorf("the %s bill is not served", kind)
	}
	f.mu.Lock()
	f.reads++
	move := f.moveOnce && f.reads == 1
	f.mu.Unlock()
	for i, n := 0, 1; i < len(f.rows); i, n = i+job.PageRows, n+1 {
		if n == f.failAt {
			return errors.New("the API is down")
		}
		total, rows := len(f.rows), f.rows[i:min(i+job.PageRows, len(f.rows))]
		if move && n == 2 {
			rows = append([]bill.Row{f.rows[0]}, rows[1:]...)
		}
		if f.short {
			total = 1
		}
		if err := fn(bill.Page{Number: n, Total: total, Rows: rows}); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// planned2 is a Counter that closes gate once the FOCUS day of the second read planned its
// first page (the instance day's first page was planned before it).
type planned2 struct {
	mu    sync.Mutex
	reads int
	gate  chan struct{}
}

func (c *planned2) Read(kind bill.Kind, _ calendar.Day) func([]bill.Row) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if kind != bill.Focus {
		return func([]bill.Row) error { return nil }
	}
	c.reads++
	second := c.reads == 2
	var once sync.Once
	return func([]bill.Row) error {
		if second {
			once.Do(func() { close(c.gate) })
		}
		return nil
	}
}

// gated takes every event as it comes (in flight, as the sender's workers hold them) and
// answers none until gate is closed, then each at once.
type gated struct{ gate <-chan struct{} }

func (g gated) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	var held []event.Event
	answer := func() {
		for _, e := range held {
			result(e.ID(), nil)
		}
		held = nil
	}
	for {
		select {
		case e, ok := <-events:
			if !ok {
				<-g.gate
				answer()
				return
			}
			held = append(held, e)
		case <-g.gate:
			answer()
			for e := range events {
				result(e.ID(), nil)
			}
			return
		}
	}
}

// A read that the bill moved under is read again while the events of its first page are
// still in flight: the second read queues them again, and each gives back its room once.
func TestBudget_EventsQueuedAgainWhileInFlightGiveTheirRoomBackOnce(t *testing.T) {
	b := budget.New(budget.Options{Events: 20 * job.PageRows})
	f := &paged{rows: usage(t, fday, "u", 2*job.PageRows), moveOnce: true}
	c := &planned2{gate: make(chan struct{})}
	within(t, b, func() {
		rep, err := budgetJob(openState(t), b, "a", f, gated{c.gate}, bill.Instance, bill.Focus).WithCounter(c).
			Run(context.Background(), fday, job.Incremental)
		require.NoError(t, err)
		require.Equal(t, 2*2*job.PageRows, rep.Delivered, "%+v", rep)
	})
	require.Equal(t, 2, f.reads, "the bill moved: read again")
	noLeak(t, b)
}

// slow answers the events one at a time, on one goroutine for every day that sends to it:
// a receiver slower than the reads.
type slow struct {
	in   chan func()
	once sync.Once
}

func (s *slow) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	s.once.Do(func() {
		s.in = make(chan func())
		go func() {
			for f := range s.in {
				f()
			}
		}()
	})
	for e := range events {
		done := make(chan struct{})
		s.in <- func() { result(e.ID(), nil); close(done) }
		<-done
	}
}

// usage is n usage rows of the day, of resources prefix-0..prefix-(n-1).
func usage(t *testing.T, d calendar.Day, prefix string, n int, extra ...string) []bill.Row {
	rows := make([]bill.Row, n)
	for i := range rows {
		rows[i] = irow(t, d, fmt.Sprintf("%s-%d", prefix, i), "a", 3, extra...)
	}
	return rows
}

// budgetJob is an account's job of the bills, with the fake FOCUS mapping, in budget b.
func budgetJob(st job.State, b *budget.Budget, account string, f job.Fetcher, p job.Publisher, bills ...bill.Kind) *job.Job {
	return job.New(job.Params{Budget: b, Options: job.Options{Account: account, Bills: bills}, Fetcher: f, Publisher: p, State: st,
		Clock: clockwork.NewFakeClockAt(pulled), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).WithFakeFocus()
}

// within waits for run, at most a minute: a run that waits for room no one gives back
// fails naming what the budget holds, instead of hanging the tests.
func within(t *testing.T, b *budget.Budget, run func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); run() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		e, n, w := b.Taken()
		t.Fatalf("the runs did not end in a minute: the budget holds %d events, %d bytes, %d waiting", e, n, w)
	}
}

// noLeak fails the test unless every room taken of b was given back.
func noLeak(t *testing.T, b *budget.Budget) {
	t.Helper()
	if e, n, w := b.Taken(); e != 0 || n != 0 || w != 0 {
		t.Fatalf("the budget leaked: %d events, %d bytes taken, %d waiting after the runs", e, n, w)
	}
}

// buyFor remembers in st a purchase of 3 days from fday for each of n resources prefix-i.
func buyFor(t *testing.T, st *state.Store, b *budget.Budget, prefix string, n int) {
	t.Helper()
	buy := fday.AddDays(-1)
	f := &paged{rows: usage(t, buy, prefix, n, "Item", "SubscriptionOrder", "ServicePeriod", "3")}
	within(t, b, func() {
		_, err := budgetJob(st, b, "a", f, &safePublisher{}, bill.Focus).Run(context.Background(), buy, job.Incremental)
		require.NoError(t, err)
	})
}

// A budget of one page (memory_events 300), the instance and FOCUS bills over several
// pages, held rows and amortized rows more than the budget at the read's end, a slow
// receiver: the day ends, every row of both bills delivered, and the budget is empty.
func TestBudget_TinyBudgetInstanceAndFocusFinish(t *testing.T) {
	b := budget.New(budget.Options{Events: job.PageRows})
	st := openState(t)
	buyFor(t, st, b, "r", 400)
	rows := append(usage(t, fday, "r", 200), usage(t, fday, "u", 700)...) // r-0..199 held; r-200..399 amortized
	p := &slow{}
	within(t, b, func() {
		rep, err := budgetJob(st, b, "a", &paged{rows: rows}, p, bill.Instance, bill.Focus).Run(context.Background(), fday, job.Incremental)
		require.NoError(t, err)
		require.Equal(t, 900+900+200, rep.Delivered, "each row in both bills, and an amortized row of each resource with none")
	})
	noLeak(t, b)
}

// Fifty accounts, each the instance and FOCUS bills of two pages, in one budget of one
// page, to one slow receiver: every day ends, and the budget is empty.
func TestBudget_FiftyAccountsTinyBudgetFinish(t *testing.T) {
	b := budget.New(budget.Options{Events: job.PageRows})
	db, err := state.OpenDB(filepath.Join(t.TempDir(), "state.db"), false, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	rows := usage(t, fday, "u", job.PageRows+20)
	p := &slow{}
	within(t, b, func() {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			account := fmt.Sprintf("a%d", i)
			wg.Go(func() {
				rep, err := budgetJob(db.Account(account), b, account, &paged{rows: rows}, p, bill.Instance, bill.Focus).
					Run(context.Background(), fday, job.Incremental)
				if err == nil && rep.Delivered != 2*len(rows) {
					err = fmt.Errorf("%s: %d delivered, want %d", account, rep.Delivered, 2*len(rows))
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
	noLeak(t, b)
}

// cancelAfter answers events at once and cancels the run after n answers; the events
// after it fail, as the sender's do.
type cancelAfter struct {
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Stream(ctx context.Context, events <-chan event.Event, result func(string, error)) {
	for e := range events {
		result(e.ID(), ctx.Err())
		c.mu.Lock()
		if c.n--; c.n == 0 {
			c.cancel()
		}
		c.mu.Unlock()
	}
}

// Every way a read of both bills ends gives back all its room: the FOCUS day stopping
// mid-read, pages with more rows than their room, the API failing with the next page's
// room taken, a dry run, and the run cancelled at any point (waiting for room, in the
// queue, at the read's end).
func TestBudget_EveryEndOfAReadOfBothBillsGivesItsRoomBack(t *testing.T) {
	b := budget.New(budget.Options{Events: job.PageRows})
	st := openState(t)
	buyFor(t, st, b, "r", 400)
	rows := append(usage(t, fday, "r", 200), usage(t, fday, "u", 1000)...)
	stopped := append(append(append([]bill.Row{}, rows[:400]...), irow(t, fday, "unmappable", "a", 1)), rows[400:]...)
	both := []bill.Kind{bill.Instance, bill.Focus}
	within(t, b, func() {
		_, err := budgetJob(st, b, "a", &paged{rows: stopped}, &slow{}, both...).Run(context.Background(), fday, job.Explicit)
		require.ErrorContains(t, err, "the fake mapping refuses it")
	})
	noLeak(t, b)
	within(t, b, func() {
		_, err := budgetJob(st, b, "a", &paged{rows: rows, short: true}, &slow{}, both...).Run(context.Background(), fday, job.Explicit)
		require.NoError(t, err)
	})
	noLeak(t, b)
	within(t, b, func() {
		_, err := budgetJob(st, b, "a", &paged{rows: rows, failAt: 3}, &slow{}, both...).Run(context.Background(), fday, job.Explicit)
		require.ErrorContains(t, err, "the API is down")
	})
	noLeak(t, b)
	within(t, b, func() {
		rep, err := budgetJob(st, b, "a", &paged{rows: rows}, &slow{}, both...).DryRun(context.Background(), fday, job.Explicit)
		require.NoError(t, err)
		require.Equal(t, 2*1200+200, rep.WouldSend)
	})
	noLeak(t, b)
	for _, n := range []int{1, 150, 299, 300, 301, 700, 1300, 2500, 2599} {
		ctx, cancel := context.WithCancel(context.Background())
		within(t, b, func() {
			_, err := budgetJob(st, b, "a", &paged{rows: rows}, &cancelAfter{n: n, cancel: cancel}, both...).Run(ctx, fday, job.Explicit)
			require.Error(t, err, "cancelled after %d answers", n)
		})
		cancel()
		noLeak(t, b)
	}
}

// Several days of both bills in a budget of one page, to a slow receiver: the next day's
// read (two reads in flight) waits for room the day before gives back as it is answered.
func TestBudget_DaysOfBothBillsInATinyBudgetFinish(t *testing.T) {
	b := budget.New(budget.Options{Events: job.PageRows})
	st := openState(t)
	buyFor(t, st, b, "r", 50)
	days := []calendar.Day{fday, fday.AddDays(1), fday.AddDays(2)}
	f := &paged{rows: append(usage(t, fday, "r", 20), usage(t, fday, "u", 2*job.PageRows)...)}
	reports := 0
	within(t, b, func() {
		budgetJob(st, b, "a", f, &slow{}, bill.Instance, bill.Focus).RunDays(context.Background(), days, job.Explicit, false,
			func(_ job.Report, err error) bool {
				reports++
				require.NoError(t, err)
				return true
			})
	})
	require.Equal(t, len(days), reports)
	noLeak(t, b)
}
