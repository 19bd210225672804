package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/reconcile"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// accountDayOf is the account bill of a day of instance rows: one row per owner, product,
// subscription type and currency, its amounts the exact (decimal) sums of theirs, as the
// API's two bills of one day agree.
func accountDayOf(t *testing.T, day string, rows []bssfake.InstanceItem) []bssfake.Item {
	t.Helper()
	type key struct{ owner, product, sub, currency string }
	type sums struct{ gross, discount, pretax, payment, cash reconcile.Decimal }
	var order []key
	byKey := map[key]*sums{}
	names := map[key]bssfake.InstanceItem{}
	dec := func(f float64) reconcile.Decimal {
		d, err := reconcile.ParseDecimal(bill.Amount(strconv.FormatFloat(f, 'f', -1, 64)))
		require.NoError(t, err)
		return d
	}
	for _, r := range rows {
		k := key{r.OwnerID, r.ProductCode, r.SubscriptionType, r.Currency}
		s := byKey[k]
		if s == nil {
			s = &sums{}
			byKey[k], names[k] = s, r
			order = append(order, k)
		}
		s.gross, s.discount = s.gross.Add(dec(r.PretaxGrossAmount)), s.discount.Add(dec(r.InvoiceDiscount))
		s.pretax, s.payment, s.cash = s.pretax.Add(dec(r.PretaxAmount)), s.payment.Add(dec(r.PaymentAmount)), s.cash.Add(dec(r.CashAmount))
	}
	out := make([]bssfake.Item, 0, len(order))
	for _, k := range order {
		s, n := byKey[k], names[k]
		out = append(out, bssfake.Item{BillAccountID: n.BillAccountID, BillAccountName: n.BillAccountName, BillingDate: day,
			Currency: k.currency, OwnerID: k.owner, PipCode: n.PipCode, ProductCode: k.product, ProductName: n.ProductName,
			SubscriptionType: k.sub, PretaxGrossAmount: bill.Amount(s.gross.String()), InvoiceDiscount: bill.Amount(s.discount.String()),
			PretaxAmount: bill.Amount(s.pretax.String()), PaymentAmount: bill.Amount(s.payment.String()), CashAmount: bill.Amount(s.cash.String())})
	}
	return out
}

// A month of both bills, delivered day by day, then closed: both bills' lines reconcile with
// the overview. Then an instance row vanishes from the final bill while the account bill
// and the overview keep it: the close retracts the row, and the month is closed NOT
// reconciled, naming the instance bill's line that lost it (and only that bill's).
func TestE2E_CloseMonthReconcilesTheInstanceBillToo(t *testing.T) {
	e := harness.New(t)
	now := e.Clock.Now()
	month := calendar.MonthOf(calendar.Of(now.UTC())).Prev().Prev()
	onClock := fx.Decorate(func(clock.Clock) clock.Clock { return clockwork.NewFakeClockAt(now) })
	cfg := e.Config(t, map[string]any{"api_qps": 100, "bills": []string{"account", "instance"}})
	days := []calendar.Day{month.First(), month.First().AddDays(1), month.Last()}
	instanceRows, accountRows := 0, 0
	for i, d := range days {
		rows := bssfake.SampleInstanceDay(d.String(), 40, uint64(i+1))
		e.API.SetInstanceDay(d.String(), rows)
		e.API.SetDay(d.String(), accountDayOf(t, d.String(), rows))
		instanceRows, accountRows = instanceRows+len(rows), accountRows+len(e.API.Day(d.String()))
	}
	r := e.Run(t, []string{"--config", cfg, "--from", month.First().String(), "--to", month.Last().String()}, onClock)
	require.Equal(t, 0, r.Code, r.Stderr)
	delivered := e.Distinct()
	require.Equal(t, instanceRows+accountRows, delivered, "both bills' rows")
	e.Sink.Reset()

	r = e.Run(t, []string{"--config", cfg, "--close-month", month.String()}, onClock)
	require.Equal(t, 0, r.Code, r.Stderr)
	t.Logf("--close-month said:\n%s", r.Stdout)
	assert.Contains(t, r.Stdout, month.String()+" default: reconciled; ")
	closed, others := closedEvents(e.Sink.Events())
	require.Len(t, closed, 1)
	assert.Zero(t, others, "nothing changed: no row is sent again")
	res := resultOf(t, closed[0])
	assert.True(t, res.Reconciled)
	assert.Equal(t, []string{"account", "instance"}, res.Bills)
	perBill := map[string]int{}
	for _, l := range res.Lines {
		perBill[l.Bill]++
		assert.True(t, l.Difference.PretaxGrossAmount.IsZero() && l.Difference.PretaxAmount.IsZero() && l.Difference.PaymentAmount.IsZero(), "%+v", l)
		assert.False(t, l.Daily.PretaxAmount.IsZero(), "%+v", l)
	}
	assert.Equal(t, perBill["account"], perBill["instance"], "the same keys in both bills: %v", perBill)
	assert.NotZero(t, perBill["instance"])
	e.Sink.Reset()

	// The final bill lost one instance row; the account bill (and so the overview) did not.
	last := month.Last().String()
	rows := e.API.InstanceDay(last)
	gone := rows[0]
	e.API.SetInstanceDay(last, rows[1:])
	r = e.Run(t, []string{"--config", cfg, "--close-month", month.String(), "--dry-run"}, onClock)
	assert.Equal(t, 1, r.Code, "a dry run says the month would not reconcile: %s", r.Stderr)
	assert.Contains(t, r.Stdout, month.String()+" default: NOT reconciled (differ: ")
	assert.Contains(t, r.Stdout, strconv.Itoa(delivered-1)+" rows: 0 new, 0 changed, 1 would be retracted - dry run, nothing sent")
	require.Empty(t, e.Sink.Events())
	r = e.Run(t, []string{"--config", cfg, "--close-month", month.String()}, onClock)
	assert.Equal(t, 1, r.Code, r.Stderr)
	t.Logf("--close-month said:\n%s", r.Stdout)
	line := gone.ProductCode + " " + gone.SubscriptionType + " " + gone.Currency
	assert.Contains(t, r.Stdout, month.String()+" default: NOT reconciled (differ: "+line+"); ")
	assert.Contains(t, r.Stdout, strconv.Itoa(delivered-1)+" rows: 0 new, 0 changed, 1 retracted - month_closed sent")
	closed, others = closedEvents(e.Sink.Events())
	require.Len(t, closed, 1, "a month that does not reconcile is closed all the same")
	assert.Equal(t, 1, others, "the vanished row's retraction")
	for _, got := range e.Sink.Events() {
		if got.Event.Type() != reconcile.EventType {
			assert.True(t, harness.Retracted(t, got.Event), "the only other event is a retraction")
			assert.Equal(t, "alicloud.instance_billing.daily", got.Event.Type())
		}
	}
	res = resultOf(t, closed[0])
	assert.False(t, res.Reconciled)
	assert.Equal(t, []string{line}, res.Differing)
	for _, l := range res.Lines {
		lost := l.Bill == "instance" && l.Key.String() == line
		assert.Equal(t, !lost, l.Difference.PretaxAmount.IsZero(), "only the instance bill's %s line differs: %+v", line, l)
		if lost {
			assert.Equal(t, "-"+strings.TrimLeft(strconv.FormatFloat(gone.PretaxAmount, 'f', -1, 64), "-"), l.Difference.PretaxAmount.String())
		}
	}
}
