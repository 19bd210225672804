package job_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// The FOCUS bill's wiring, with the tests' fake mapping (WithFakeFocus): one read of the
// instance bill feeds both bills, restarts both, and spreads purchases.

var fday = calendar.Day{Year: 2026, Month: 11, Day: 3}

// irow is an instance row of the day d: instance, billing item code, amount, and extra
// members of the item ("Item", "ServicePeriod").
func irow(t *testing.T, d calendar.Day, instance, code string, amount int, extra ...string) bill.Row {
	t.Helper()
	m := map[string]any{"BillingDate": d.String(), "OwnerID": "1", "ProductCode": "ecs", "InstanceID": instance,
		"BillingItemCode": code, "PretaxAmount": amount, "SubscriptionType": "Subscription"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	b, _ := json.Marshal(m)
	r, err := bill.ParseInstance(b)
	require.NoError(t, err)
	return r
}

// instanceReads serves the instance bill: one read of pages per Stream call (the last one
// again when they run out), and counts the calls by bill.
type instanceReads struct {
	mu    sync.Mutex
	reads [][][]bill.Row
	calls map[bill.Kind]int
	pages int
}

func (f *instanceReads) Stream(_ context.Context, kind bill.Kind, _ calendar.Day, fn func(bill.Page) error) error {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[bill.Kind]int{}
	}
	read := f.reads[min(f.calls[kind], len(f.reads)-1)]
	f.calls[kind]++
	f.mu.Unlock()
	if kind != bill.Instance {
		return fmt.Errorf("the %s bill is not served", kind)
	}
	for i, rows := range read {
		f.mu.Lock()
		f.pages++
		f.mu.Unlock()
		if err := fn(bill.Page{Number: i + 1, Total: 100, Rows: rows}); err != nil {
			return err
		}
	}
	return nil
}

// safePublisher answers every event at once; Stream may be called by two days at a time.
type safePublisher struct {
	mu  sync.Mutex
	got []event.Event
}

func (p *safePublisher) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	for e := range events {
		p.mu.Lock()
		p.got = append(p.got, e)
		p.mu.Unlock()
		result(e.ID(), nil)
	}
}

func (p *safePublisher) take() []event.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.got
	p.got = nil
	return out
}

func focusJob(f job.Fetcher, p job.Publisher, st job.State, bills ...bill.Kind) *job.Job {
	return job.New(job.Params{Budget: shared, Options: job.Options{Bills: bills}, Fetcher: f, Publisher: p, State: st,
		Clock: clockwork.NewFakeClockAt(pulled), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).WithFakeFocus()
}

// focusData is each FOCUS event's data by subject; other events are left out.
func focusData(t *testing.T, events []event.Event) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, e := range events {
		if e.Type() != "alicloud.focus_billing.daily" {
			continue
		}
		var d map[string]any
		require.NoError(t, json.Unmarshal(e.Data(), &d))
		out[e.Subject()] = d
	}
	return out
}

func byType(events []event.Event) map[string]int {
	n := map[string]int{}
	for _, e := range events {
		n[e.Type()]++
	}
	return n
}

// With instance and focus configured, the instance bill is read once a day, and each of
// its rows is delivered twice: as an instance event and as a FOCUS event.
func TestFocus_OneReadFeedsTheInstanceAndTheFocusBill(t *testing.T) {
	f := &instanceReads{reads: [][][]bill.Row{{
		{irow(t, fday, "i-1", "a", 1), irow(t, fday, "i-2", "a", 2)}, {irow(t, fday, "i-3", "a", 3)}}}}
	p := &safePublisher{}
	st := openState(t)
	rep, err := focusJob(f, p, st, bill.Instance, bill.Focus).Run(context.Background(), fday, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, map[bill.Kind]int{bill.Instance: 1}, f.calls, "one read, of the instance bill")
	assert.Equal(t, 2, f.pages)
	assert.Equal(t, 2, rep.Pages, "the pages of the one read")
	assert.Equal(t, []bill.Kind{bill.Instance, bill.Focus}, rep.Bills)
	assert.Equal(t, map[string]int{"alicloud.instance_billing.daily": 3, "alicloud.focus_billing.daily": 3}, byType(p.got))
	for _, k := range []bill.Kind{bill.Instance, bill.Focus} {
		ok, err := st.Complete(fday, k)
		require.NoError(t, err)
		assert.True(t, ok, k)
	}
	require.NoError(t, st.Check())

	// The FOCUS bill alone reads the instance bill for itself.
	f2 := &instanceReads{reads: f.reads}
	p2 := &safePublisher{}
	_, err = focusJob(f2, p2, openState(t), bill.Focus).Run(context.Background(), fday, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, map[bill.Kind]int{bill.Instance: 1}, f2.calls)
	assert.Equal(t, map[string]int{"alicloud.focus_billing.daily": 3}, byType(p2.got))
}

// A read that the bill moved under is read again for both bills: each is complete with
// each row once.
func TestFocus_AMovedReadRestartsBothBills(t *testing.T) {
	a, b, c, d := irow(t, fday, "i-1", "a", 1), irow(t, fday, "i-2", "a", 2), irow(t, fday, "i-3", "a", 3), irow(t, fday, "i-4", "a", 4)
	f := &instanceReads{reads: [][][]bill.Row{{{a, b}, {b, c}}, {{a, b}, {c, d}}}}
	p := &safePublisher{}
	st := openState(t)
	rep, err := focusJob(f, p, st, bill.Instance, bill.Focus).Run(context.Background(), fday, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 2, f.calls[bill.Instance], "read twice, for both bills")
	assert.Equal(t, 8, rep.Fetched, "4 rows of each bill, in the read that ends the day")
	subjects := map[string]bool{}
	for _, e := range p.got {
		subjects[e.Type()+" "+e.Subject()] = true
	}
	assert.Len(t, subjects, 8, "each row once in each bill")
	for _, k := range []bill.Kind{bill.Instance, bill.Focus} {
		ok, err := st.Complete(fday, k)
		require.NoError(t, err)
		assert.True(t, ok, k)
	}
	require.NoError(t, st.Check())
}

// A FOCUS day that cannot map a row fails alone: the instance bill's day is complete.
func TestFocus_AMappingErrorFailsTheFocusDayOnly(t *testing.T) {
	f := &instanceReads{reads: [][][]bill.Row{{{irow(t, fday, "i-1", "a", 1)}, {irow(t, fday, "unmappable", "a", 2)}}}}
	p := &safePublisher{}
	st := openState(t)
	_, err := focusJob(f, p, st, bill.Instance, bill.Focus).Run(context.Background(), fday, job.Incremental)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "build the FOCUS rows of focus bill 2026-11-03: the fake mapping refuses it")
	ok, err := st.Complete(fday, bill.Instance)
	require.NoError(t, err)
	assert.True(t, ok, "the instance bill's day is complete")
	ok, err = st.Complete(fday, bill.Focus)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, 2, byType(p.got)["alicloud.instance_billing.daily"])
}

// A FOCUS row the bill no longer has is retracted, in the FOCUS bill's type, under its
// subject.
func TestFocus_ARowGoneIsRetracted(t *testing.T) {
	a, b := irow(t, fday, "i-1", "a", 1), irow(t, fday, "i-2", "a", 2)
	st := openState(t)
	p := &safePublisher{}
	_, err := focusJob(&instanceReads{reads: [][][]bill.Row{{{a, b}}}}, p, st, bill.Focus).Run(context.Background(), fday, job.Incremental)
	require.NoError(t, err)
	first := p.take()
	rep, err := focusJob(&instanceReads{reads: [][][]bill.Row{{{a}}}}, p, st, bill.Focus).Run(context.Background(), fday, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Retracted)
	got := p.take()
	require.Len(t, got, 1)
	assert.Equal(t, "alicloud.focus_billing.daily", got[0].Type())
	assert.Equal(t, true, got[0].Extensions()[job.RetractedExtension])
	assert.Contains(t, []string{first[0].Subject(), first[1].Subject()}, got[0].Subject())
	assert.JSONEq(t, `{"VanceSource":"cloud.alicloud.billing","VanceType":"alicloud.focus_billing.daily","BilledCost":0,"ContractedCost":0,"EffectiveCost":0,"ListCost":0}`, string(got[0].Data()))
}

// focusRun runs the FOCUS bill's day d over pages, and returns its FOCUS events.
func focusRun(t *testing.T, st *state.Store, d calendar.Day, resend job.Resend, pages ...[]bill.Row) []event.Event {
	t.Helper()
	p := &safePublisher{}
	_, err := focusJob(&instanceReads{reads: [][][]bill.Row{pages}}, p, st, bill.Focus).Run(context.Background(), d, resend)
	require.NoError(t, err)
	return p.take()
}

// effective is the EffectiveCost of each FOCUS row by instance and amortized or not.
func effective(t *testing.T, events []event.Event) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, d := range focusData(t, events) {
		k := d["x_InstanceID"].(string)
		if d["x_Amortized"] == true {
			k += " amortized"
		}
		out[k] += d["EffectiveCost"].(float64)
	}
	return out
}

// A purchase is spread over the days it covers: on a covered day the share goes on the
// resource's row of least identity, however the pages order its rows; a covered resource
// with no row gets an amortized row; a re-run gives the same ids; a refund ends it with
// the rest of the cost on its day.
func TestFocus_APurchaseIsSpreadOverTheDaysItCovers(t *testing.T) {
	st := openState(t)
	buy := fday.AddDays(-1)
	bought := focusRun(t, st, buy, job.Incremental,
		[]bill.Row{irow(t, buy, "i-1", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3")},
		[]bill.Row{irow(t, buy, "i-2", "a", 10, "Item", "SubscriptionOrder", "ServicePeriod", "4")})
	assert.Equal(t, map[string]float64{"i-1": 0, "i-2": 0}, effective(t, bought), "a purchase's EffectiveCost is 0")

	// Day 1 of 3: i-1 has two rows, the greater identity on the first page; i-2 none.
	day1 := []([]bill.Row){{irow(t, fday, "i-1", "b", 5)}, {irow(t, fday, "i-1", "a", 7), irow(t, fday, "i-3", "a", 1)}}
	got := focusRun(t, st, fday, job.Incremental, day1...)
	assert.Equal(t, map[string]float64{"i-1": 5 + 7 + 10, "i-3": 1, "i-2 amortized": 2}, effective(t, got))
	for _, d := range focusData(t, got) {
		if d["x_InstanceID"] == "i-1" && d["EffectiveCost"].(float64) == 17 {
			assert.Equal(t, float64(7), d["BilledCost"], "the share is on the row of least identity (a)")
		}
	}
	// The pages in the other order, read again: the same events.
	again := focusRun(t, st, fday, job.Explicit, []bill.Row{day1[1][1], day1[1][0]}, day1[0])
	assert.ElementsMatch(t, ids(got), ids(again), "a re-run gives the same ids")

	// Day 3 is i-1's last: the remainder. A refund of i-2 on day 2 ends its spread there.
	day2 := fday.AddDays(1)
	got = focusRun(t, st, day2, job.Incremental, []bill.Row{irow(t, day2, "i-2", "r", -5, "Item", "Refund"), irow(t, day2, "i-1", "a", 0)})
	assert.Equal(t, map[string]float64{"i-1": 10, "i-2": -5, "i-2 amortized": 8}, effective(t, got),
		"the refund's day has the rest of i-2's cost (10 - 2): its EffectiveCost over its days plus the refund's is what was billed")
	day3 := fday.AddDays(2)
	got = focusRun(t, st, day3, job.Incremental, []bill.Row{irow(t, day3, "i-9", "a", 1)})
	assert.Equal(t, map[string]float64{"i-9": 1, "i-1 amortized": 10}, effective(t, got))
}

// A purchase that covers the day it is bought on has that day's share as an amortized
// row: its own row's EffectiveCost stays 0.
func TestFocus_APurchaseCoveringItsOwnDayIsAmortizedThatDay(t *testing.T) {
	st := openState(t)
	got := focusRun(t, st, fday, job.Incremental, []bill.Row{irow(t, fday, "i-1", "a", 31, "Item", "SubscriptionOrderToday", "ServicePeriod", "2")})
	assert.Equal(t, map[string]float64{"i-1": 0, "i-1 amortized": 15}, effective(t, got))
	again := focusRun(t, st, fday, job.Explicit, []bill.Row{irow(t, fday, "i-1", "a", 31, "Item", "SubscriptionOrderToday", "ServicePeriod", "2")})
	assert.ElementsMatch(t, ids(got), ids(again), "a re-run gives the same rows")
	next := fday.AddDays(1)
	got = focusRun(t, st, next, job.Incremental, []bill.Row{irow(t, next, "i-1", "b", 3)})
	assert.Equal(t, map[string]float64{"i-1": 3 + 16}, effective(t, got), "the remainder on the last day")
}

// The same row twice in one read, the first held back for a share, is the bill moving.
func TestFocus_AHeldRowAgainIsTheBillMoving(t *testing.T) {
	st := openState(t)
	buy := fday.AddDays(-1)
	focusRun(t, st, buy, job.Incremental, []bill.Row{irow(t, buy, "i-1", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3")})
	a := irow(t, fday, "i-1", "a", 7)
	f := &instanceReads{reads: [][][]bill.Row{{{a}, {a}}, {{a}}}}
	p := &safePublisher{}
	_, err := focusJob(f, p, st, bill.Focus).Run(context.Background(), fday, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 2, f.calls[bill.Instance], "read again from its start")
	assert.Equal(t, map[string]float64{"i-1": 17}, effective(t, p.got))
}

func ids(events []event.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID()
	}
	return out
}

// A dry run counts the FOCUS rows, and remembers no purchase.
func TestFocus_ADryRunRemembersNoPurchase(t *testing.T) {
	st := openState(t)
	buy := fday.AddDays(-1)
	f := &instanceReads{reads: [][][]bill.Row{{{irow(t, buy, "i-1", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3")}}}}
	rep, err := focusJob(f, &safePublisher{}, st, bill.Focus).DryRun(context.Background(), buy, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.WouldSend)
	got := focusRun(t, st, fday, job.Incremental, []bill.Row{irow(t, fday, "i-1", "a", 7)})
	assert.Equal(t, map[string]float64{"i-1": 7}, effective(t, got), "no purchase was remembered")
}

// An amortized row that a later read no longer makes (the purchase's day read again finds
// a refund there, which ends the spread before this day) is retracted under its own subject.
func TestFocus_AnAmortizedRowGoneIsRetractedUnderItsSubject(t *testing.T) {
	st := openState(t)
	buy := fday.AddDays(-1)
	purchase := irow(t, buy, "i-2", "a", 30, "Item", "SubscriptionOrder", "ServicePeriod", "3")
	focusRun(t, st, buy, job.Incremental, []bill.Row{purchase})
	first := focusRun(t, st, fday, job.Incremental, []bill.Row{irow(t, fday, "i-3", "a", 1)})
	var amortized event.Event
	for _, e := range first {
		if focusData(t, []event.Event{e})[e.Subject()]["x_Amortized"] == true {
			amortized = e
		}
	}
	require.NotEmpty(t, amortized.ID(), "an amortized row of i-2")
	refunded := focusRun(t, st, buy, job.Incremental, []bill.Row{purchase, irow(t, buy, "i-2", "r", -30, "Item", "Refund")})
	assert.Equal(t, map[string]float64{"i-2": -30, "i-2 amortized": 30}, effective(t, refunded),
		"refunded before its days began: its whole cost on the refund's day")
	got := focusRun(t, st, fday, job.Incremental, []bill.Row{irow(t, fday, "i-3", "a", 1)})
	var retractions []event.Event
	for _, e := range got {
		if e.Extensions()[job.RetractedExtension] == true {
			retractions = append(retractions, e)
		}
	}
	require.Len(t, retractions, 1)
	assert.Equal(t, amortized.Subject(), retractions[0].Subject())
	assert.Greater(t, revision(t, retractions[0]), revision(t, amortized))
}
