package monthclose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/reconcile"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// Summary is what a close did.
type Summary struct {
	Month    calendar.Month
	Days     int        // days re-read (all the month's, when the close got that far)
	Report   job.Report // the re-read's counts over the days and bills
	Result   reconcile.Result
	ID       string // the month_closed event's id ("" when the close did not get that far)
	Revision int
	Same     bool // the event is the one delivered before (the same figures)
	Sent     bool // the event was delivered (false for a dry run)
	DryRun   bool
}

// Close closes the month now: every day of it re-read (dry: counted, nothing sent, no
// state written), the overview read, the month_closed event built and, unless dry, sent.
// The error is non-nil when a day was not read or delivered completely, the overview could
// not be read, or the event was not delivered: the month is not closed then, and a close
// again sends what is left with the same ids. A month that does not reconcile is closed
// all the same (Summary.Result.Reconciled is false) and logged at WARN naming its products.
func (c *Closer) Close(ctx context.Context, m calendar.Month, dry bool) (Summary, error) {
	sum := Summary{Month: m, DryRun: dry}
	t := newTally()
	if err := c.reread(ctx, m, dry, t, &sum); err != nil {
		return sum, err
	}
	ov, err := c.p.API.Overview(ctx, m)
	if err != nil {
		return sum, fmt.Errorf("close %s: %w", m, err)
	}
	ovSums, err := overviewSums(ov)
	if err != nil {
		return sum, fmt.Errorf("close %s: %w", m, err)
	}
	in := reconcile.Input{Account: c.account, BillingCycle: m.String(), AccountID: textsafe.Line(ov.AccountID, 64),
		Overview: ovSums, Tolerance: c.tolerance}
	for _, k := range reconciled(c.bills) {
		sums, err := t.month(k)
		if err != nil {
			return sum, fmt.Errorf("close %s: %w", m, err)
		}
		in.Bills = append(in.Bills, reconcile.Bill{Name: string(k), Sums: sums})
	}
	sum.Result = reconcile.Compare(in)
	e, err := c.event(m, sum.Result, &sum)
	if err != nil || dry {
		return sum, err
	}
	if err := c.send(ctx, m, e, &sum); err != nil {
		return sum, err
	}
	c.report(sum)
	return sum, nil
}

// reread runs every day of the month through the job, counting the rows of each read.
func (c *Closer) reread(ctx context.Context, m calendar.Month, dry bool, t *tally, sum *Summary) error {
	days := m.Days()
	var failed int
	var first error
	c.p.Job.WithCounter(t).RunDays(ctx, days, job.Incremental, dry, func(rep job.Report, err error) bool {
		sum.Days++
		sum.Report.Add(rep)
		switch {
		case err != nil && ctx.Err() != nil:
			c.p.Logger.Warn("day abandoned at shutdown, not done", rep.Attrs()...)
		case err != nil:
			c.p.Logger.Error("day failed", append(rep.Attrs(), "month", m.String(), "error", err.Error())...)
		case dry:
			c.p.Logger.Info("day counted (dry run)", append(rep.Attrs(), "month", m.String())...)
		default:
			c.p.Logger.Info("day done", append(rep.Attrs(), "month", m.String())...)
		}
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
		return ctx.Err() == nil
	})
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("close %s: stopped after %d of %d days: %w", m, sum.Days, len(days), ctx.Err())
	case failed > 0:
		return fmt.Errorf("close %s: %d of %d days not read and delivered completely (first: %w)", m, failed, len(days), first)
	}
	return nil
}

// overviewSums sums the overview's items per key.
func overviewSums(ov billing.Overview) (*reconcile.Sums, error) {
	s := reconcile.NewSums()
	for _, it := range ov.Items {
		if err := s.Add(reconcile.Line{Key: reconcile.Key{ProductCode: it.ProductCode, SubscriptionType: it.SubscriptionType, Currency: it.Currency},
			PretaxGrossAmount: it.PretaxGrossAmount, PretaxAmount: it.PretaxAmount, PaymentAmount: it.PaymentAmount}); err != nil {
			return nil, fmt.Errorf("the overview: %w", err)
		}
	}
	return s, nil
}

// Subject is the month_closed event's subject: <account>/<YYYY-MM>.
func (c *Closer) Subject(m calendar.Month) string { return c.account + "/" + m.String() }

// event builds the month's event: the same figures as the event the state has keep its id
// and revision; other figures are a new revision (job.NextRevision).
func (c *Closer) event(m calendar.Month, r reconcile.Result, sum *Summary) (event.Event, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return event.Event{}, fmt.Errorf("close %s: %w", m, err)
	}
	h := sha256.Sum256(body)
	hash := hex.EncodeToString(h[:16])
	rec, found, err := c.p.State.Month(m)
	if err != nil {
		return event.Event{}, fmt.Errorf("close %s: %w", m, err)
	}
	now := c.p.Clock.Now().UTC()
	rev := job.NextRevision(0, now)
	if found {
		rev = job.NextRevision(rec.Revision, now)
		if rec.Hash == hash && rec.Revision >= 1 && rec.Revision <= job.MaxRevision {
			rev = rec.Revision
		}
	}
	subject := c.Subject(m)
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(job.EventID(subject, body, rev))
	e.SetSource(bill.Source)
	e.SetType(reconcile.EventType)
	e.SetSubject(subject)
	e.SetExtension(job.RevisionExtension, rev)
	e.SetExtension(job.AccountExtension, c.account)
	e.SetTime(now)
	e.DataEncoded = body
	e.SetDataContentType(event.ApplicationJSON)
	sum.ID, sum.Revision = e.ID(), rev
	sum.Same = found && rec.ID == e.ID() && rec.Closed
	return e, nil
}

// send plans the event in the state (its id and revision fixed before it goes), sends it
// and records the month closed when it is acknowledged.
func (c *Closer) send(ctx context.Context, m calendar.Month, e event.Event, sum *Summary) error {
	h := sha256.Sum256(e.Data())
	if err := c.p.State.PlanMonth(m, state.Month{Hash: hex.EncodeToString(h[:16]), ID: e.ID(), Revision: sum.Revision,
		Reconciled: sum.Result.Reconciled}); err != nil {
		return fmt.Errorf("close %s: record its event: %w", m, err)
	}
	events := make(chan event.Event, 1)
	events <- e
	close(events)
	var sendErr error
	answered := false
	c.p.Publisher.Stream(ctx, events, func(id string, err error) {
		answered, sendErr = true, err
		c.ops.EventSent(MetricBill, err)
	})
	if !answered {
		sendErr = errors.New("no answer")
	}
	if sendErr != nil {
		return fmt.Errorf("close %s: the month_closed event %s was not delivered: %w", m, e.ID(), sendErr)
	}
	if err := c.p.State.CloseMonth(m, e.ID(), c.p.Clock.Now()); err != nil {
		return fmt.Errorf("close %s: record it closed: %w", m, err)
	}
	sum.Sent = true
	return nil
}

// MetricBill is the bill label of month_closed events in events_sent_total.
const MetricBill = "month"

// maxNamed is the most products the WARN line of a month not reconciled names.
const maxNamed = 20

// report logs the close (one WARN line naming the products that differ when it does not
// reconcile) and sets the metrics.
func (c *Closer) report(sum Summary) {
	c.noteClosed(sum.Month)
	for cur, d := range sum.Result.Worst() {
		c.ops.MonthDifference.WithLabelValues(c.account, textsafe.Line(cur, 16)).Set(d.Float64())
	}
	attrs := []any{"month", sum.Month.String(), "days", sum.Days, "fetched", sum.Report.Fetched, "new", sum.Report.New,
		"changed", sum.Report.Changed, "id", sum.ID, "revision", sum.Revision}
	if sum.Result.Reconciled {
		c.p.Logger.Info("month closed", append(attrs, "reconciled", true)...)
		return
	}
	c.p.Logger.Warn("month closed, not reconciled: the daily rows and the overview differ",
		append(attrs, "reconciled", false, "tolerance", c.tolerance.String(), "differing", Named(sum.Result.Differing, maxNamed))...)
}

// Named lists keys for a message: each made safe and short, at most n, then how many more.
func Named(keys []string, n int) string {
	out := make([]string, 0, min(len(keys), n)+1)
	for i, k := range keys {
		if i == n {
			out = append(out, fmt.Sprintf("and %d more", len(keys)-n))
			break
		}
		out = append(out, textsafe.Line(k, 96))
	}
	return strings.Join(out, ", ")
}

// reconciled are the bills a close reconciles with the overview: each configured bill,
// but the FOCUS bill when the instance bill is configured too. The FOCUS bill is the
// instance bill's rows (its BilledCost sums to their PretaxAmount): its days are re-read
// and delivered like any, and counted as the instance rows read for them, which the
// instance bill's lines already reconcile; alone, its lines are those rows', as "focus".
func reconciled(bills []bill.Kind) []bill.Kind {
	if !slices.Contains(bills, bill.Instance) {
		return bills
	}
	return slices.DeleteFunc(slices.Clone(bills), func(k bill.Kind) bool { return k == bill.Focus })
}
