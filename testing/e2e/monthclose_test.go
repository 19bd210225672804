package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/reconcile"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// monthWorld is a month of the fake delivered day by day, two months before today (its
// bill is final), with rows on three of its days; the connector runs on a fake clock at
// the real time.
type monthWorld struct {
	e         *harness.Env
	month     calendar.Month
	clock     fx.Option
	cfg       string
	delivered []event.Event // what the sink got day by day, before it was reset
}

func newMonthWorld(t *testing.T) *monthWorld {
	t.Helper()
	e := harness.New(t)
	now := e.Clock.Now()
	fc := clockwork.NewFakeClockAt(now)
	w := &monthWorld{e: e, month: calendar.MonthOf(calendar.Of(now.UTC())).Prev().Prev(),
		clock: fx.Decorate(func(clock.Clock) clock.Clock { return fc }),
		cfg:   e.Config(t, map[string]any{"api_qps": 100})} // a month is 31 requests or more
	for i, d := range []calendar.Day{w.month.First(), w.month.First().AddDays(1), w.month.Last()} {
		e.API.SetDay(d.String(), bssfake.SampleDay(d.String(), 25, uint64(i+1)))
	}
	r := e.Run(t, []string{"--config", w.cfg, "--from", w.month.First().String(), "--to", w.month.Last().String()}, w.clock)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, 75, e.Distinct())
	for _, r := range e.Sink.Events() {
		w.delivered = append(w.delivered, r.Event)
	}
	e.Sink.Reset()
	return w
}

func (w *monthWorld) close(t *testing.T, extra ...string) harness.Result {
	t.Helper()
	return w.e.Run(t, append([]string{"--config", w.cfg, "--close-month", w.month.String()}, extra...), w.clock)
}

// closedEvents are the month_closed events the sink holds, and how many other events.
func closedEvents(got []sink.Received) (closed []event.Event, others int) {
	for _, r := range got {
		if r.Event.Type() == reconcile.EventType {
			closed = append(closed, r.Event)
		} else {
			others++
		}
	}
	return closed, others
}

func resultOf(t *testing.T, e event.Event) reconcile.Result {
	t.Helper()
	var r reconcile.Result
	require.NoError(t, json.Unmarshal(e.Data(), &r))
	return r
}

// Issue 18: the month delivered day by day, then closed by hand: nothing changed, so
// nothing but one month_closed event, every difference 0, reconciled; a second close with
// the same figures sends the same event (the same id).
func TestE2E_CloseMonthReconcilesAMonthDeliveredDayByDay(t *testing.T) {
	w := newMonthWorld(t)
	r := w.close(t)
	require.Equal(t, 0, r.Code, r.Stderr)
	t.Logf("--close-month said:\n%s", r.Stdout)
	assert.Contains(t, r.Stdout, w.month.String()+" default: reconciled; account bill CNY: PretaxGrossAmount ")
	assert.Contains(t, r.Stdout, "PaymentAmount ")
	assert.Regexp(t, `; \d+ days, 75 rows: 0 new, 0 changed - month_closed sent \(id [0-9a-f-]{36}, revision \d+\)\n$`, r.Stdout)
	assert.Equal(t, 1, strings.Count(r.Stdout, "\n"), "one line per account")

	closed, others := closedEvents(w.e.Sink.Events())
	require.Len(t, closed, 1)
	assert.Zero(t, others, "nothing changed: no row is sent again")
	e := closed[0]
	assert.Equal(t, "default/"+w.month.String(), e.Subject())
	assert.Equal(t, "cloud.alicloud.billing", e.Source())
	res := resultOf(t, e)
	assert.True(t, res.Reconciled)
	assert.Equal(t, []string{"account"}, res.Bills)
	assert.NotEmpty(t, res.Lines)
	for _, l := range res.Lines {
		assert.True(t, l.Difference.PretaxGrossAmount.IsZero() && l.Difference.PretaxAmount.IsZero() && l.Difference.PaymentAmount.IsZero(), "%+v", l)
		assert.False(t, l.Daily.PretaxGrossAmount.IsZero())
	}
	overview := w.e.API.Overview("1234567890123456", w.month.String())
	total := reconcile.Decimal{}
	for _, it := range overview {
		total = total.Add(it.PaymentAmount)
	}
	require.Len(t, res.Totals, 1)
	assert.Equal(t, total.String(), res.Totals[0].Daily.PaymentAmount.String(), "the daily rows sum to the fake's overview")
	assert.Contains(t, string(e.Data()), `"reconciled":true`)
	assert.Equal(t, float64(0), r.Metric(t, ops.Namespace+"_month_reconcile_difference", map[string]string{"account": "default", "currency": "CNY"}))
	end := w.month.Next().First().At(0, time.FixedZone("UTC+8", 8*3600))
	assert.Equal(t, float64(end.Unix()), r.Metric(t, ops.Namespace+"_last_month_closed_timestamp_seconds", map[string]string{"account": "default"}))
	assert.Equal(t, float64(1), r.Metric(t, ops.Namespace+"_events_sent_total", map[string]string{"bill": "month", "outcome": "delivered"}),
		"the month_closed event counts with the other events")

	w.e.Sink.Reset()
	again := w.close(t)
	require.Equal(t, 0, again.Code, again.Stderr)
	closed2, others := closedEvents(w.e.Sink.Events())
	require.Len(t, closed2, 1)
	assert.Zero(t, others)
	assert.Equal(t, e.ID(), closed2[0].ID(), "the same figures: the same event")
}

// The overview disagrees with the detail for one product by 1.00: the month is closed but
// not reconciled, the product is named in the output and in one WARN line, the metric
// says 1, and the exit status is 1.
func TestE2E_CloseMonthSaysWhichProductDoesNotReconcile(t *testing.T) {
	w := newMonthWorld(t)
	w.e.API.OverviewDisagrees(bssfake.Disagreement{Cycle: w.month.String(), ProductCode: "oss", SubscriptionType: "PayAsYouGo", By: "1.00"})
	r := w.close(t)
	assert.Equal(t, 1, r.Code, r.Stderr)
	t.Logf("--close-month said:\n%s", r.Stdout)
	assert.Contains(t, r.Stdout, w.month.String()+" default: NOT reconciled (differ: oss PayAsYouGo CNY); ")
	assert.Contains(t, r.Stdout, "difference -1)")
	warns := 0
	for _, line := range strings.Split(r.Stderr, "\n") {
		if strings.Contains(line, `"level":"WARN"`) {
			warns++
			assert.Contains(t, line, `"differing":"oss PayAsYouGo CNY"`)
			assert.Contains(t, line, `"month":"`+w.month.String()+`"`)
		}
	}
	assert.Equal(t, 1, warns, r.Stderr)
	assert.Equal(t, float64(1), r.Metric(t, ops.Namespace+"_month_reconcile_difference", map[string]string{"account": "default", "currency": "CNY"}))

	closed, _ := closedEvents(w.e.Sink.Events())
	require.Len(t, closed, 1, "a month that does not reconcile is closed all the same, and says so")
	res := resultOf(t, closed[0])
	assert.False(t, res.Reconciled)
	assert.Equal(t, []string{"oss PayAsYouGo CNY"}, res.Differing)
}

// The final bill of the current month is not out: refused with exit 2, saying when it is.
func TestE2E_CloseMonthRefusesAMonthWhoseBillIsNotFinal(t *testing.T) {
	e := harness.New(t)
	at := time.Date(2026, 5, 3, 11, 59, 0, 0, time.FixedZone("UTC+8", 8*3600)) // a minute early
	fc := clockwork.NewFakeClockAt(at)
	onClock := fx.Decorate(func(clock.Clock) clock.Clock { return fc })
	for month, final := range map[string]string{"2026-05": "2026-06-03 12:00 UTC+8", "2026-04": "2026-05-03 12:00 UTC+8"} {
		r := e.Run(t, []string{"--config", e.Config(t, nil), "--close-month", month}, onClock)
		assert.Equal(t, 2, r.Code)
		assert.Contains(t, r.Stderr, "connector: --close-month "+month+": the month's bill is not final yet: it is from "+final)
	}
	assert.Empty(t, e.API.Requests())
	assert.Empty(t, e.Sink.Events())
	fc.Advance(time.Minute)
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"api_qps": 100}), "--close-month", "2026-04", "--dry-run"}, onClock)
	assert.Equal(t, 0, r.Code, r.Stderr)
}

// --dry-run re-reads and reconciles the month, says what a close would do, and sends and
// records nothing: a close after it sends the month's event.
func TestE2E_CloseMonthDryRunSendsNothing(t *testing.T) {
	w := newMonthWorld(t)
	w.e.API.Revise(w.month.First().String(), func(rows []bssfake.Item) []bssfake.Item {
		rows[0].PaymentAmount = "12345.6789"
		return rows
	})
	r := w.close(t, "--dry-run")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Regexp(t, `75 rows: 0 new, 1 changed - dry run, nothing sent \(month_closed would be revision \d+\)\n$`, r.Stdout)
	assert.Empty(t, w.e.Sink.Events())

	r = w.close(t)
	require.Equal(t, 0, r.Code, r.Stderr)
	closed, others := closedEvents(w.e.Sink.Events())
	assert.Len(t, closed, 1)
	assert.Equal(t, 1, others, "the changed row, as a revision")
}

// The month's final bill differs from the daily bills: 5 rows changed, 2 billed late. The
// close sends them (5 revisions, 2 new rows), then the month's event, reconciled with the
// overview that follows the final bill; a close of the same month before was revised, so
// its event is a new revision of the same subject.
func TestE2E_CloseMonthSendsWhatTheFinalBillChangedThenANewRevision(t *testing.T) {
	w := newMonthWorld(t)
	require.Equal(t, 0, w.close(t).Code)
	first, _ := closedEvents(w.e.Sink.Events())
	require.Len(t, first, 1)
	w.e.Sink.Reset()

	last := w.month.Last().String()
	w.e.API.Revise(last, func(rows []bssfake.Item) []bssfake.Item {
		for i := range 5 {
			rows[i].PretaxAmount, rows[i].PaymentAmount = "1.2345", "1.2345"
		}
		late := bssfake.SampleDay(last, 27, 99)[25:] // two rows of other owners
		for i := range late {
			late[i].OwnerID = "99999999999999" + string(rune('0'+i))
		}
		return append(rows, late...)
	})
	r := w.close(t)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "77 rows: 2 new, 5 changed - month_closed sent")
	closed, others := closedEvents(w.e.Sink.Events())
	require.Len(t, closed, 1)
	assert.Equal(t, 7, others, "5 revisions and 2 rows billed late")
	assert.True(t, resultOf(t, closed[0]).Reconciled)
	assert.Equal(t, first[0].Subject(), closed[0].Subject())
	assert.NotEqual(t, first[0].ID(), closed[0].ID())
	was, err := harness.Revision(first[0])
	require.NoError(t, err)
	now, err := harness.Revision(closed[0])
	require.NoError(t, err)
	assert.Greater(t, now, was, "other figures: a higher revision")
}

// The month's event not delivered (the receiver refused it): the month is not closed, the
// run says so (exit 1), and the close again sends the very same event.
func TestE2E_CloseMonthNotDeliveredIsSentAgainWithTheSameID(t *testing.T) {
	w := newMonthWorld(t)
	w.e.Sink.FailNext(1, 400)
	r := w.close(t)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stdout, w.month.String()+" default: FAILED: close "+w.month.String()+": the month_closed event ")
	refused := w.e.Sink.Attempts()
	require.Equal(t, 1, refused)

	r = w.close(t)
	require.Equal(t, 0, r.Code, r.Stderr)
	closed, _ := closedEvents(w.e.Sink.Events())
	require.Len(t, closed, 1)
	assert.Contains(t, r.Stdout, "(id "+closed[0].ID()+", ")
	assert.Contains(t, r.Stderr, `"id":"`+closed[0].ID()+`"`)
}

// The daemon closes the month by itself at 12:00 UTC+8 on the 3rd of the next month, not
// a minute before: one month_closed event, reconciled, with every day of the month read.
func TestE2E_DaemonClosesTheMonthOnTheThirdAtNoon(t *testing.T) {
	e := harness.New(t)
	month := calendar.MonthOf(calendar.Of(e.Clock.Now().UTC())).Prev().Prev()
	for i, d := range []calendar.Day{month.First(), month.Last()} {
		e.API.SetDay(d.String(), bssfake.SampleDay(d.String(), 10, uint64(i+7)))
	}
	utc8 := time.FixedZone("UTC+8", 8*3600)
	n := month.Next()
	fc := clockwork.NewFakeClockAt(time.Date(n.Year, n.Month, 3, 11, 0, 0, 0, utc8))
	var shut fx.Shutdowner
	done := make(chan harness.Result, 1)
	go func() {
		done <- e.Run(t, []string{"--config", e.Config(t, map[string]any{"api_qps": 100}), "--catch-up-from", month.First().String()},
			fx.Decorate(func(clock.Clock) clock.Clock { return fc }), fx.Populate(&shut))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), harness.Deadline)
	defer cancel()
	require.NoError(t, fc.BlockUntilContext(ctx, 1), "the daemon is not waiting")
	fc.Advance(59 * time.Minute) // 11:59
	require.NoError(t, fc.BlockUntilContext(ctx, 1))
	closed, _ := closedEvents(e.Sink.Events())
	assert.Empty(t, closed, "nothing closed before noon")
	fc.Advance(time.Minute) // 12:00
	e.Changed.Wait(t, "the month_closed event", nil, func() bool {
		closed, _ := closedEvents(e.Sink.Events())
		return len(closed) == 1
	})
	require.NoError(t, fc.BlockUntilContext(ctx, 1), "waiting again")
	require.NoError(t, shut.Shutdown())
	r := <-done
	assert.Equal(t, 0, r.Code, r.Stderr)
	closed, _ = closedEvents(e.Sink.Events())
	require.Len(t, closed, 1)
	assert.True(t, resultOf(t, closed[0]).Reconciled)
	assert.Equal(t, 20, e.Distinct()-1, "every row of the month, once")
	assert.Contains(t, r.Stderr, `"msg":"waiting for the month close","at":"`+fmt.Sprintf("%04d-%02d", n.Year, n.Month)+`-03T12:00:00+08:00","month":"`+month.String()+`"`)
	assert.Contains(t, r.Stderr, `"msg":"month closed"`)
}

// Issue 18, "Done when": a month delivered day by day; at close, 5 rows changed, 3
// vanished and 2 billed late. The receiver gets exactly 5 revisions, 3 retractions and 2
// new rows, then one month_closed event with every difference 0, reconciled; and what a
// receiver that keeps each subject's highest revision holds sums (exactly) to the bill.
func TestE2E_CloseMonthRevisesRetractsAndAddsThenReconciles(t *testing.T) {
	w := newMonthWorld(t)
	last := w.month.Last().String()
	w.e.API.Revise(last, func(rows []bssfake.Item) []bssfake.Item {
		for i := range 5 {
			rows[i].PretaxAmount, rows[i].PaymentAmount = "1.2345", "1.2345"
		}
		rows = append(rows[:5], rows[8:]...) // rows 5, 6 and 7 vanish
		late := bssfake.SampleDay(last, 27, 99)[25:]
		for i := range late {
			late[i].OwnerID = "99999999999999" + string(rune('0'+i))
		}
		return append(rows, late...)
	})
	r := w.close(t)
	require.Equal(t, 0, r.Code, r.Stderr)
	closed, others := closedEvents(w.e.Sink.Events())
	require.Len(t, closed, 1)
	assert.Equal(t, 10, others, "5 revisions, 3 retractions, 2 rows billed late")
	assert.Contains(t, r.Stdout, "74 rows: 2 new, 5 changed, 3 retracted - month_closed sent")
	var retractions, rows []event.Event
	for _, got := range w.e.Sink.Events() {
		switch {
		case got.Event.Type() == reconcile.EventType:
		case harness.Retracted(t, got.Event):
			retractions = append(retractions, got.Event)
		default:
			rows = append(rows, got.Event)
		}
	}
	assert.Len(t, retractions, 3)
	assert.Len(t, rows, 7)
	res := resultOf(t, closed[0])
	assert.True(t, res.Reconciled)
	assert.Empty(t, res.Differing)

	var final []bssfake.Item
	for _, d := range []calendar.Day{w.month.First(), w.month.First().AddDays(1), w.month.Last()} {
		final = append(final, w.e.API.Day(d.String())...)
	}
	received := append(append([]event.Event(nil), w.delivered...), retractions...)
	received = append(received, rows...)
	assert.Equal(t, harness.ItemSums(t, final), harness.LatestSums(t, received),
		"the rows a receiver keeps sum to the final bill")
}
