// Package monthclose closes a billing month of one account, once Alibaba's bill of it is
// final (12:00 Asia/Shanghai on month_close_day of the next month): it re-reads every day
// of the month through the job (each configured bill, at the API's pace, streamed: what
// changed is sent as every run sends it), sums the rows each day's read returns per
// (ProductCode, SubscriptionType, Currency), reads the month's QueryBillOverview,
// reconciles the two (connector/reconcile) and sends one alicloud.billing.month_closed
// event. Its id and revision are recorded in the state before it is sent, so that a close
// resumed after a crash sends the same event; the month is closed once it is acknowledged.
package monthclose

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/reconcile"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Zone is where a month's bill is final at noon: Alibaba Cloud's billing zone (UTC+8).
var Zone = time.FixedZone("UTC+8", 8*3600)

// FinalHour is the hour of month_close_day at which a month's bill is final.
const FinalHour = 12

// Overviewer reads a month's overview (billing.Client).
type Overviewer interface {
	Overview(ctx context.Context, month calendar.Month) (billing.Overview, error)
}

// State is what a close reads and writes of the state (state.Store).
type State interface {
	Month(m calendar.Month) (state.Month, bool, error)
	PlanMonth(m calendar.Month, rec state.Month) error
	CloseMonth(m calendar.Month, id string, when time.Time) error
}

// Options are what a close does, from the configuration.
type Options struct {
	Account   string      // config.Account.Name; "" is config.DefaultAccount
	Bills     []bill.Kind // bills, as the job runs them; none: the account bill
	CloseDay  int         // month_close_day; 0 is config.DefaultMonthCloseDay
	Tolerance bill.Amount // reconcile_tolerance; "" is config.DefaultReconcileTolerance
}

// Params are the inputs of New: one account's closer.
type Params struct {
	Options   Options
	Job       *job.Job // the account's job: its days are re-read through it
	API       Overviewer
	State     State
	Publisher job.Publisher
	Clock     clock.Clock
	Logger    *slog.Logger
	Metrics   *ops.Metrics // nil: metrics of its own, not served
}

// Closer closes the months of one account.
type Closer struct {
	p         Params
	account   string
	bills     []bill.Kind
	closeDay  int
	tolerance reconcile.Decimal
	ops       *ops.Metrics

	mu         sync.Mutex
	lastClosed calendar.Month // the latest month known closed (the metric's)
}

// New builds the closer of an account. A tolerance that is not a decimal (the
// configuration checked it) is an error.
func New(p Params) (*Closer, error) {
	o := p.Options
	c := &Closer{p: p, account: o.Account, bills: o.Bills, closeDay: o.CloseDay, ops: ops.Or(p.Metrics)}
	if c.account == "" {
		c.account = config.DefaultAccount
	}
	if len(c.bills) == 0 {
		c.bills = []bill.Kind{bill.Account}
	}
	if c.closeDay == 0 {
		c.closeDay = config.DefaultMonthCloseDay
	}
	tol := o.Tolerance
	if tol == "" {
		tol = config.DefaultReconcileTolerance
	}
	var err error
	if c.tolerance, err = reconcile.ParseDecimal(tol); err != nil {
		return nil, fmt.Errorf("reconcile_tolerance: %w", err)
	}
	return c, nil
}

// FinalAt is when the month's bill is final and the daemon closes it: FinalHour:00 UTC+8
// on month_close_day of the next month.
func (c *Closer) FinalAt(m calendar.Month) time.Time { return FinalAt(m, c.closeDay) }

// FinalAt is when the month's bill is final for a month_close_day: FinalHour:00 UTC+8 on
// that day of the next month.
func FinalAt(m calendar.Month, closeDay int) time.Time {
	n := m.Next()
	return time.Date(n.Year, n.Month, closeDay, FinalHour, 0, 0, 0, Zone)
}

// Closed reports whether the month's close was delivered (and shows it in the metric of
// the last month closed).
func (c *Closer) Closed(m calendar.Month) (bool, error) {
	rec, _, err := c.p.State.Month(m)
	if err != nil || !rec.Closed {
		return false, err
	}
	c.noteClosed(m)
	return true, nil
}

// noteClosed moves the metric of the last month closed to m's end, unless it shows a later one.
func (c *Closer) noteClosed(m calendar.Month) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Before(c.lastClosed) || m == c.lastClosed {
		return
	}
	c.lastClosed = m
	n := m.Next()
	c.ops.LastMonthClosed.WithLabelValues(c.account).Set(float64(time.Date(n.Year, n.Month, 1, 0, 0, 0, 0, Zone).Unix()))
}

// tally sums, per bill and day, the rows of the last read of the bill's day (job.Counter).
type tally struct {
	mu   sync.Mutex
	sums map[bill.Kind]map[calendar.Day]*reconcile.Sums
}

func newTally() *tally { return &tally{sums: map[bill.Kind]map[calendar.Day]*reconcile.Sums{}} }

// Read starts a read of the bill's day: what an earlier read of it counted is forgotten.
func (t *tally) Read(kind bill.Kind, day calendar.Day) func([]bill.Row) error {
	s := reconcile.NewSums()
	t.mu.Lock()
	if t.sums[kind] == nil {
		t.sums[kind] = map[calendar.Day]*reconcile.Sums{}
	}
	t.sums[kind][day] = s
	t.mu.Unlock()
	return func(rows []bill.Row) error {
		for _, r := range rows {
			if err := s.AddRow(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// month is the bill's sums over the month's days.
func (t *tally) month(kind bill.Kind) (*reconcile.Sums, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := reconcile.NewSums()
	for _, s := range t.sums[kind] {
		if err := out.Merge(s); err != nil {
			return nil, fmt.Errorf("the %s bill: %w", kind, err)
		}
	}
	return out, nil
}
