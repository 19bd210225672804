package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// seedRow is the row behind the seed's example event.
var seedRow = billing.Row{
	BillAccountID: "123456", BillAccountName: "aliyun23456", BillingDate: "2022-06-13", Currency: "CNY",
	OwnerID: "123456", OwnerName: "aliyun23456", PaymentAmount: "0.23", PipCode: "disk",
	PretaxGrossAmount: "0.2352", ProductCode: "disk", SubscriptionType: "PayAsYouGo",
}

// seedData is the seed's example data.
const seedData = sink.SeedExampleData

var pulled = time.Date(2022, 6, 14, 7, 1, 55, 277687000, time.UTC)

func newEvent(r billing.Row, at time.Time) (event.Event, error) {
	return job.EventOf(r, 1, at)
}

func TestEvent_IsTheSeedsEvent(t *testing.T) {
	e, err := newEvent(seedRow, pulled)
	require.NoError(t, err)
	require.NoError(t, sink.CheckSeedShape(e))
	assert.Equal(t, "1.0", e.SpecVersion())
	assert.Equal(t, "cloud.alicloud.billing", e.Source())
	assert.Equal(t, "alicloud.account_billing.daily", e.Type())
	assert.Equal(t, "application/json", e.DataContentType())
	assert.Equal(t, pulled, e.Time())
	// Byte for byte the seed's data: key names, order, numbers and empty strings.
	assert.Equal(t, seedData, string(e.Data()))
}

func TestEvent_OwnerIdComesFromTheAPIsOwnerID(t *testing.T) {
	r := seedRow
	r.OwnerID, r.BillAccountID = "owner-777", "payer-1"
	e, err := newEvent(r, pulled)
	require.NoError(t, err)
	var d map[string]any
	require.NoError(t, json.Unmarshal(e.Data(), &d))
	assert.Equal(t, "owner-777", d["OwnerId"])
	assert.Equal(t, "payer-1", d["BillAccountID"])
	assert.NotContains(t, d, "OwnerID")
}

func TestEventID_SameRowSameIDChangedRowNewID(t *testing.T) {
	a, _ := newEvent(seedRow, pulled)
	b, _ := newEvent(seedRow, pulled.Add(24*time.Hour)) // pulled again the next day
	assert.Equal(t, a.ID(), b.ID())

	changed := seedRow
	changed.PaymentAmount = "0.24"
	c, _ := newEvent(changed, pulled)
	assert.NotEqual(t, a.ID(), c.ID())

	other := seedRow
	other.OwnerID = "654321"
	d, _ := newEvent(other, pulled)
	assert.NotEqual(t, a.ID(), d.ID())
}

func TestEventID_IsAVersion5UUIDThatDoesNotDependOnTime(t *testing.T) {
	e, _ := newEvent(seedRow, pulled)
	// Pinned: a changed derivation would make every receiver see every row as new.
	assert.Equal(t, "6b9b02e2-33c6-5fbc-82d2-cc37590ca48f", e.ID())
	e2, _ := newEvent(seedRow, time.Now())
	assert.Equal(t, e.ID(), e2.ID())
}

// EventID hashes the name as it goes; the ids are uuid.NewSHA1's of the whole name, as
// every earlier release made them (receivers drop repeats by id).
func TestEventID_IsUUIDNewSHA1OfTheName(t *testing.T) {
	ns := uuid.MustParse("6f1c8a52-3b0e-4a57-9a7e-2f4d0c9b1e63")
	for _, c := range []struct {
		identity, body string
		revision       int
	}{
		{"", "", 0}, {"a", "{}", 1}, {"i-1/x", `{"PretaxAmount":1.5}`, 2},
		{"项目\x00", strings.Repeat("x", 5000), 1_780_000_000}, {"r", "b", -7},
	} {
		name := c.identity + "\x00" + c.body
		if c.revision > 1 {
			name += fmt.Sprintf("\x00rev%d", c.revision)
		}
		want := uuid.NewSHA1(ns, []byte(name)).String()
		assert.Equal(t, want, job.EventID(c.identity, []byte(c.body), c.revision), "%+v", c)
	}
}

func TestRun_IdenticalRowsStillGetDistinctIDs(t *testing.T) {
	p := &publisher{}
	_, err := newJob(fetcher{rows: []billing.Row{seedRow, seedRow, seedRow}, pageSize: 10}, p, openState(t)).Run(context.Background(), day, job.Explicit)
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, e := range p.got {
		ids[e.ID()] = true
	}
	assert.Len(t, ids, 3)
}

// fetcher serves rows in pages of pageSize (default 2), then err.
type fetcher struct {
	rows     []billing.Row
	err      error
	pageSize int
}

func (f fetcher) Stream(_ context.Context, kind bill.Kind, _ calendar.Day, fn func(bill.Page) error) error {
	if kind != bill.Account {
		return errors.New("only the account bill is configured")
	}
	size := f.pageSize
	if size == 0 {
		size = 2
	}
	for i, n := 0, 1; i < len(f.rows) || i == 0; i, n = i+size, n+1 {
		page := bill.Page{Number: n, Total: len(f.rows)}
		for _, r := range f.rows[i:min(i+size, len(f.rows))] {
			page.Rows = append(page.Rows, r)
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(f.rows) == 0 {
			break
		}
	}
	return f.err
}

// collect takes every event of a Stream call, then answers them with send's failures.
func collect(events <-chan event.Event, result func(string, error), send func([]event.Event) map[string]error) []event.Event {
	var evs []event.Event
	for e := range events {
		evs = append(evs, e)
	}
	fails := send(evs)
	for _, e := range evs {
		result(e.ID(), fails[e.ID()])
	}
	return evs
}

type publisher struct {
	got  []event.Event
	fail int
}

func (p *publisher) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	p.got = append(p.got, collect(events, result, func(evs []event.Event) map[string]error {
		f := map[string]error{}
		for i, e := range evs {
			if i < p.fail {
				f[e.ID()] = errors.New("boom")
			}
		}
		return f
	})...)
}

var day = calendar.Day{Year: 2022, Month: 6, Day: 13}

func newJob(f job.Fetcher, p job.Publisher, st job.State) *job.Job {
	return newJobAt(f, p, st, clockwork.NewFakeClockAt(pulled))
}

// newJobAt is newJob on the clock c.
func newJobAt(f job.Fetcher, p job.Publisher, st job.State, c job.Clock) *job.Job {
	return job.New(job.Params{Budget: shared, Fetcher: f, Publisher: p, State: st, Clock: c,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func TestRun_DeliversEveryRowAndCounts(t *testing.T) {
	rows := []billing.Row{seedRow, {BillingDate: "2022-06-13", ProductCode: "ecs", OwnerID: "1"}}
	p := &publisher{}
	rep, err := newJob(fetcher{rows: rows}, p, openState(t)).Run(context.Background(), day, job.Explicit)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Fetched)
	assert.Equal(t, 2, rep.Delivered)
	assert.True(t, rep.Complete())
	assert.Len(t, p.got, 2)
}

func TestRun_UndeliveredRowsFailTheDay(t *testing.T) {
	p := &publisher{fail: 1}
	rep, err := newJob(fetcher{rows: []billing.Row{seedRow}}, p, openState(t)).Run(context.Background(), day, job.Explicit)
	require.ErrorIs(t, err, job.ErrUndelivered)
	assert.Equal(t, 1, rep.Failed)
	assert.False(t, rep.Complete())
}

func TestRun_FetchErrorSendsNothing(t *testing.T) {
	p := &publisher{}
	_, err := newJob(fetcher{err: errors.New("api down")}, p, openState(t)).Run(context.Background(), day, job.Explicit)
	require.Error(t, err)
	assert.Empty(t, p.got)
}

// reads serves one read of pages per Stream call (the last one again when they run out).
type reads struct {
	mu    sync.Mutex
	reads [][][]billing.Row
	calls int
}

func (f *reads) Stream(_ context.Context, _ bill.Kind, _ calendar.Day, fn func(bill.Page) error) error {
	f.mu.Lock()
	read := f.reads[min(f.calls, len(f.reads)-1)]
	f.calls++
	f.mu.Unlock()
	total := 0
	for _, p := range read {
		total += len(p)
	}
	for i, rows := range read {
		page := bill.Page{Number: i + 1, Total: total}
		for _, r := range rows {
			page.Rows = append(page.Rows, r)
		}
		if err := fn(page); err != nil {
			return err
		}
	}
	return nil
}

func row(product string) billing.Row {
	r := seedRow
	r.ProductCode, r.PipCode = product, product
	return r
}

// A row that comes again on a later page (the bill moved while paging: the row it pushed
// out was skipped) is never a second row: the bill is read again, and the day is complete
// with each row once.
func TestRun_ARowAgainOnALaterPageReadsTheBillAgain(t *testing.T) {
	f := &reads{reads: [][][]billing.Row{
		{{row("a"), row("b")}, {row("b"), row("c")}}, // d skipped, b twice
		{{row("a"), row("b")}, {row("c"), row("d")}},
	}}
	p := &publisher{}
	st := openState(t)
	rep, err := newJob(f, p, st).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 2, f.calls)
	assert.Equal(t, 4, rep.Fetched)
	subjects := map[string]bool{}
	for _, e := range p.got {
		subjects[e.Subject()] = true
	}
	assert.Len(t, subjects, 4, "a, b, c and d, each one row")
	ok, err := st.Complete(day, "account")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, st.Check())
}

// When every read has the row twice, the day fails naming it, and is not complete.
func TestRun_ARowAgainOnEveryReadFailsTheDay(t *testing.T) {
	f := &reads{reads: [][][]billing.Row{{{row("a"), row("b")}, {row("b"), row("c")}}}}
	st := openState(t)
	_, err := newJob(f, &publisher{}, st).Run(context.Background(), day, job.Incremental)
	require.ErrorContains(t, err, "came again on page 2")
	assert.Equal(t, 1+job.MaxReReads, f.calls)
	ok, _ := st.Complete(day, "account")
	assert.False(t, ok)
}

// billingRestart serves read 1 = [[x]] and then says the bill moved (as billing does when
// the bill changed while paging), then read 2 = [[x], [y]] on the next Stream call.
type billingRestart struct{ calls atomic.Int32 }

func (f *billingRestart) Stream(_ context.Context, _ bill.Kind, _ calendar.Day, fn func(bill.Page) error) error {
	if f.calls.Add(1) == 1 {
		if err := fn(bill.Page{Rows: []bill.Row{row("x")}, Number: 1, Total: 2}); err != nil {
			return err
		}
		return &bill.MovedError{Page: 2, What: "the bill changed while paging: TotalCount 2 on page 1, 3 on page 2"}
	}
	for _, p := range []bill.Page{
		{Rows: []bill.Row{row("x")}, Number: 1, Total: 2},
		{Rows: []bill.Row{row("y")}, Number: 2, Total: 2},
	} {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// An event queued by a read that billing started again, and not answered yet, is not
// queued a second time; its one answer records the row.
func TestRun_AnEventStillInFlightFromAnAbandonedReadIsNotQueuedTwice(t *testing.T) {
	p := &publisher{} // answers only when the day's queue is closed: x is in flight throughout
	st := openState(t)
	rep, err := newJob(&billingRestart{}, p, st).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.Len(t, p.got, 2, "x once, y once")
	assert.Equal(t, 2, rep.Fetched)
	ok, err := st.Complete(day, "account")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, st.Check())
}

// blockingPublisher holds every event until release is closed, and counts those held.
type blockingPublisher struct {
	release chan struct{}
	two     chan struct{} // closed when two Stream calls hold events at once
	twoOnce sync.Once     // after release, two may hold events at once again
	mu      sync.Mutex
	held    int
	most    int
}

func (b *blockingPublisher) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	b.mu.Lock()
	b.held++
	b.most = max(b.most, b.held)
	if b.held == 2 {
		b.twoOnce.Do(func() { close(b.two) })
	}
	b.mu.Unlock()
	var evs []event.Event
	for e := range events {
		evs = append(evs, e)
	}
	<-b.release
	for _, e := range evs {
		result(e.ID(), nil)
	}
	b.mu.Lock()
	b.held--
	b.mu.Unlock()
}

// RunDays keeps at most two bills' days in flight, however slow the receiver.
func TestRunDays_AtMostTwoBillDaysInFlight(t *testing.T) {
	b := &blockingPublisher{release: make(chan struct{}), two: make(chan struct{})}
	f := &countingFetcher{fetcher: fetcher{rows: []billing.Row{row("a")}}}
	j := newJob(f, b, openState(t))
	days := make([]calendar.Day, 10)
	for i := range days {
		days[i] = day.AddDays(-i)
	}
	done := make(chan struct{})
	var reported []calendar.Day
	go func() {
		defer close(done)
		j.RunDays(context.Background(), days, job.Explicit, false, func(r job.Report, err error) bool {
			assert.NoError(t, err)
			reported = append(reported, r.Day)
			return true
		})
	}()
	// Nothing is delivered until two days hold events: without the limit, the days after
	// them would start meanwhile (they are read at once) and hold events too.
	<-b.two
	// With two held, a third day must not start. (Without the limit it would at once: it
	// is runnable; give it every chance. Yielding can only make a broken limit show.)
	for i := 0; i < 20000 && f.calls.Load() < 3; i++ {
		runtime.Gosched()
	}
	assert.EqualValues(t, 2, f.calls.Load(), "a third day started while two held events")
	close(b.release)
	<-done
	assert.LessOrEqual(t, b.most, 2)
	assert.Equal(t, days, reported, "every day, in order")
}

type countingFetcher struct {
	fetcher
	calls atomic.Int64
}

func (f *countingFetcher) Stream(ctx context.Context, kind bill.Kind, d calendar.Day, fn func(bill.Page) error) error {
	f.calls.Add(1)
	return f.fetcher.Stream(ctx, kind, d, fn)
}

// answeringPublisher answers each event as soon as it takes it, and then says so on
// answered.
type answeringPublisher struct {
	answered chan string
}

func (p *answeringPublisher) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	for e := range events {
		result(e.ID(), nil)
		p.answered <- e.ID()
	}
}

// rereadAfterAnswers serves page 1 of read 1 ([a b]), waits until both of its events are
// answered, then says the bill moved (as billing does when the bill changed while paging);
// on the next Stream call it serves read 2 ([a b], [c]).
type rereadAfterAnswers struct {
	answered chan string
	calls    atomic.Int32
}

func (f *rereadAfterAnswers) Stream(ctx context.Context, _ bill.Kind, _ calendar.Day, fn func(bill.Page) error) error {
	if f.calls.Add(1) == 1 {
		if err := fn(bill.Page{Rows: []bill.Row{row("a"), row("b")}, Number: 1, Total: 2}); err != nil {
			return err
		}
		for range 2 {
			select {
			case <-f.answered:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return &bill.MovedError{Page: 2, What: "the bill changed while paging: TotalCount 2 on page 1, 3 on page 2"}
	}
	for _, p := range []bill.Page{
		{Rows: []bill.Row{row("a"), row("b")}, Number: 1, Total: 3},
		{Rows: []bill.Row{row("c")}, Number: 2, Total: 3},
	} {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// A bill read again from its start counts the rows of its last read, each once: the rows
// of the abandoned read that were delivered and are sent again (--once, --from/--to) are
// not counted twice, and the daemon's report adds up (delivered + unchanged = fetched).
func TestRun_AReReadCountsRowsNotReSends(t *testing.T) {
	for _, resend := range []job.Resend{job.Explicit, job.Incremental} {
		answered := make(chan string, 16)
		p := &answeringPublisher{answered: answered}
		st := openState(t)
		f := &rereadAfterAnswers{answered: answered}
		rep, err := newJob(f, p, st).Run(context.Background(), day, resend)
		require.NoError(t, err)
		assert.Equal(t, 3, rep.Fetched, "resend %d", resend)
		assert.Equal(t, rep.Delivered, rep.Sent, "resend %d", resend)
		if resend == job.Explicit {
			// Every row is sent: a and b count as unchanged or pending (whether their
			// acknowledgements were written before read 2 looked) and are delivered again.
			assert.Equal(t, 3, rep.Delivered, "a, b and c, each once: %+v", rep)
		} else {
			// Only what is not acknowledged is sent: the report adds up whichever way a and
			// b's acknowledgements raced read 2.
			assert.Equal(t, rep.Fetched, rep.Delivered+rep.Unchanged, "%+v", rep)
		}
		assert.True(t, rep.Complete())
		ok, err := st.Complete(day, "account")
		require.NoError(t, err)
		assert.True(t, ok)
	}
}

// A dry run says what a run would send, never that something was delivered, and a bill
// read again counts its last read only.
func TestDryRun_CountsWhatWouldBeSentOfTheLastRead(t *testing.T) {
	rep, err := newJob(&billingRestart{}, &publisher{}, openState(t)).DryRun(context.Background(), day, job.Explicit)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Fetched)
	assert.Equal(t, 2, rep.WouldSend, "x and y: x of the abandoned read is not counted twice")
	assert.Zero(t, rep.Delivered)
	assert.True(t, rep.DryRun)
	attrs := fmt.Sprint(rep.Attrs()...)
	assert.Contains(t, attrs, "would_send2")
	assert.NotContains(t, attrs, "delivered")
}

// movesEveryRead is a bill that moves under every read: on odd Stream calls billing says so
// after page 1 (TotalCount changed, a NextToken expired), on even ones row b comes again on
// page 2 (the job finds it in the state). Calls are counted.
type movesEveryRead struct{ calls atomic.Int32 }

func (f *movesEveryRead) Stream(_ context.Context, _ bill.Kind, _ calendar.Day, fn func(bill.Page) error) error {
	n := f.calls.Add(1)
	if err := fn(bill.Page{Rows: []bill.Row{row("a"), row("b")}, Number: 1, Total: 4}); err != nil {
		return err
	}
	if n%2 == 1 {
		return &bill.MovedError{Page: 2, What: "the bill changed while paging: TotalCount 4 on page 1, 5 on page 2"}
	}
	return fn(bill.Page{Rows: []bill.Row{row("b"), row("c")}, Number: 2, Total: 4})
}

// One rule, one cap: whatever moved the bill under a read (billing's TotalCount or
// NextToken, or a row the job saw twice), a bill is read at most 1+MaxReReads times in a
// run; then the day fails naming how it moved, and is not complete. (Billing and the job
// each had a cap of their own: up to 16 reads.)
func TestRun_ABillThatKeepsMovingIsReadAtMostOnePlusMaxReReadsTimes(t *testing.T) {
	var logs bytes.Buffer
	f := &movesEveryRead{}
	st := openState(t)
	j := job.New(job.Params{Budget: shared, Fetcher: f, Publisher: &publisher{}, State: st,
		Clock: clockwork.NewFakeClockAt(pulled), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	rep, err := j.Run(context.Background(), day, job.Incremental)
	require.ErrorIs(t, err, bill.ErrMoved)
	assert.EqualValues(t, 1+job.MaxReReads, f.calls.Load())
	assert.Contains(t, err.Error(), fmt.Sprintf("the bill kept moving while it was read (%d reads", 1+job.MaxReReads))
	assert.Contains(t, err.Error(), "came again on page 2", "the last read's way of moving")
	assert.Equal(t, 4, rep.Fetched, "the last read's pages")
	ok, _ := st.Complete(day, "account")
	assert.False(t, ok)
	// The warning of a read again says how the bill moved.
	assert.Contains(t, logs.String(), `"msg":"the bill moved while paging; reading the account bill again from its start"`)
	assert.Contains(t, logs.String(), `"why":"the bill changed while paging: TotalCount 4 on page 1, 5 on page 2"`)
	assert.Contains(t, logs.String(), `"why":"a row came again on a later page: row `)
}

// A bill that moves once is read again from its start, as a new pull, and the day is
// complete with each row once.
func TestRun_ABillThatMovesOnceIsReadAgainFromItsStart(t *testing.T) {
	f := &billingRestart{}
	p := &publisher{}
	st := openState(t)
	rep, err := newJob(f, p, st).Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.EqualValues(t, 2, f.calls.Load())
	assert.Equal(t, 2, rep.Fetched)
	assert.Equal(t, 1, rep.New, "y")
	assert.Equal(t, 1, rep.Pending, "x, planned by the abandoned read, not answered yet")
	assert.Len(t, p.got, 2, "x once, y once")
	ok, err := st.Complete(day, "account")
	require.NoError(t, err)
	assert.True(t, ok)
}
