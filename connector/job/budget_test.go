package job_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/budget"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// held is a publisher that hands each event to the test and answers it (delivered) only
// when the test says so: the test decides when room in the budget comes back.
type held struct{ got chan heldEvent }

type heldEvent struct {
	event.Event
	answer chan struct{}
}

func (h held) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	for e := range events {
		he := heldEvent{Event: e, answer: make(chan struct{})}
		h.got <- he
		<-he.answer
		result(e.ID(), nil)
	}
}

// pagesOf is a fetcher that says on read which page of which account it serves.
type pagesOf struct {
	account string
	rows    []billing.Row
	read    chan<- string
}

func (f pagesOf) Stream(ctx context.Context, kind bill.Kind, d calendar.Day, fn func(bill.Page) error) error {
	return fetcher{rows: f.rows, pageSize: job.PageRows}.Stream(ctx, kind, d, func(p bill.Page) error {
		f.read <- fmt.Sprintf("%s/%d", f.account, p.Number)
		return fn(p)
	})
}

func manyRows(n int) []billing.Row {
	rows := make([]billing.Row, n)
	for i := range rows {
		rows[i] = billing.Row{BillingDate: "2022-06-13", ProductCode: "ecs", OwnerID: fmt.Sprint(i), PaymentAmount: "1.00"}
	}
	return rows
}

// answer answers n events, each of account.
func answer(t *testing.T, h held, n int, account string) {
	t.Helper()
	for range n {
		e := <-h.got
		require.Equal(t, account, e.Extensions()[job.AccountExtension], "an event of another account came")
		close(e.answer)
	}
}

// Two accounts share a budget of one page. The big one (three pages) holds it and waits
// for its next page; the small one (one row) asks after it. Once big's first page is
// answered, its second page goes (its turn came first); once that one is answered, the
// small account's page goes before big's third: the budget serves the accounts in turn.
// Memory never holds more than the budget: a page is read only once there is room for it.
func TestBudget_SmallAccountAdmittedWhileBigHoldsIt(t *testing.T) {
	b := budget.New(budget.Options{Events: job.PageRows, Bytes: 1 << 30})
	waits := make(chan struct{}, 16)
	b.OnWait(func() { waits <- struct{}{} })
	h := held{got: make(chan heldEvent)}
	read := make(chan string, 16)
	run := func(account string, rows []billing.Row) <-chan error {
		j := job.New(job.Params{Options: job.Options{Account: account}, Fetcher: pagesOf{account: account, rows: rows, read: read},
			Publisher: h, State: openState(t), Clock: clockwork.NewFakeClockAt(pulled),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Budget: b})
		done := make(chan error, 1)
		go func() { _, err := j.Run(context.Background(), day, job.Explicit); done <- err }()
		return done
	}
	bigDone := run("big", manyRows(3*job.PageRows))
	assert.Equal(t, "big/1", <-read)
	<-waits // big's second page waits for room
	smallDone := run("small", manyRows(1))
	<-waits // small's page waits behind it

	answer(t, h, job.PageRows, "big") // big's first page answered: room for one page
	assert.Equal(t, "big/2", <-read)
	<-waits // big's third page waits, now behind small
	answer(t, h, job.PageRows, "big")
	assert.Equal(t, "small/1", <-read, "the small account's page goes before big's third")
	answer(t, h, 1, "small")
	require.NoError(t, <-smallDone)
	assert.Equal(t, "big/3", <-read)
	answer(t, h, job.PageRows, "big")
	require.NoError(t, <-bigDone)
	if e, n, w := b.Taken(); e != 0 || n != 0 || w != 0 {
		t.Fatalf("after both days %d events, %d bytes taken, %d waiting; want none", e, n, w)
	}
}

// A day that waits for room stops when its context ends, having taken nothing: a stop
// (SIGTERM) is not held up by a full budget.
func TestBudget_WaitingDayStopsWithItsContext(t *testing.T) {
	b := budget.New(budget.Options{Events: job.PageRows})
	waits := make(chan struct{}, 1)
	b.OnWait(func() { waits <- struct{}{} })
	require.NoError(t, b.Acquire(context.Background(), "other", job.PageRows, 0)) // another account holds it all
	ctx, cancel := context.WithCancel(context.Background())
	read := make(chan string, 1)
	j := job.New(job.Params{Options: job.Options{Account: "a"}, Fetcher: pagesOf{account: "a", rows: manyRows(1), read: read},
		Publisher: held{got: make(chan heldEvent)}, State: openState(t), Clock: clockwork.NewFakeClockAt(pulled),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Budget: b})
	done := make(chan error, 1)
	go func() { _, err := j.Run(ctx, day, job.Explicit); done <- err }()
	<-waits
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Empty(t, read, "no page was asked for")
	if e, _, w := b.Taken(); e != job.PageRows || w != 0 {
		t.Fatalf("%d events taken, %d waiting; want only the other account's %d", e, w, job.PageRows)
	}
}

// shared is the budget of every job of these tests but those with a budget of their own
// (TestBudget_*): TestMain checks that all its room was given back, whatever the runs did
// (failed, cancelled, dry, re-read, retracted, the FOCUS day's held rows, both days of one
// read). A leak would stop every account of a process for good.
var shared = budget.New(budget.Options{})

// stuckAfter is how long the shared budget may have requests waiting with nothing given
// back or taken before the tests are stopped as leaking: a leak that leaves a run waiting
// for room fails naming the amount, instead of hanging until go test's timeout.
const stuckAfter = 30 * time.Second

func TestMain(m *testing.M) {
	stop := make(chan struct{})
	go watchShared(stop)
	code := m.Run()
	close(stop)
	if e, n, w := shared.Taken(); code == 0 && (e != 0 || n != 0 || w != 0) {
		fmt.Fprintf(os.Stderr, "the jobs' budget leaked: %d events, %d bytes taken, %d waiting after every test\n", e, n, w)
		code = 1
	}
	os.Exit(code)
}

// watchShared ends the tests when requests wait in the shared budget and it does not change
// for stuckAfter.
func watchShared(stop <-chan struct{}) {
	tick := time.NewTicker(stuckAfter / 3)
	defer tick.Stop()
	type taken struct {
		events int
		bytes  int64
	}
	var last taken
	still := 0
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		e, n, w := shared.Taken()
		if now := (taken{e, n}); w == 0 || now != last {
			last, still = now, 0
			continue
		}
		if still++; still >= 3 {
			fmt.Fprintf(os.Stderr, "the jobs' budget leaked: %d events, %d bytes taken and %d requests waiting, unchanged for %s\n", e, n, w, stuckAfter)
			os.Exit(1)
		}
	}
}
