package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/monthclose"
	"github.com/cloudbill/alicloud-billing-source/connector/reconcile"
	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// checkClose refuses a --close-month whose bill is not final yet (saying when it will be)
// or whose first days are older than the API keeps.
func checkClose(m Mode, closeDay int, now time.Time) error {
	if !m.Close {
		return nil
	}
	if closeDay == 0 {
		closeDay = config.DefaultMonthCloseDay
	}
	if final := monthclose.FinalAt(m.Month, closeDay); now.Before(final) {
		return usage("--close-month %s: the month's bill is not final yet: it is from %s (12:00 UTC+8 on day %d of the next month, month_close_day); close it then",
			m.Month, final.Format("2006-01-02 15:04 MST"), closeDay)
	}
	oldest := calendar.Of(now.In(monthclose.Zone)).AddDays(-config.MaxDaysBack)
	if m.Month.First().Before(oldest) {
		return usage("--close-month %s: its first day is older than the %d days (18 months) the API keeps; the oldest day is %s",
			m.Month, config.MaxDaysBack, oldest)
	}
	return nil
}

// runClose closes the month for every selected account at once and prints a line for
// each. The status is the worst of the accounts': 1 for a month that does not reconcile.
func runClose(ctx context.Context, p runnerParams) int {
	var out sync.Mutex
	return eachAccount(p.Units, func(u *accounts.Unit) int {
		sum, err := u.Closer.Close(ctx, p.Mode.Month, p.Mode.DryRun)
		line := closeLine(u.Account.Name, sum, err)
		out.Lock()
		fmt.Fprintln(p.IO.Stdout, textsafe.Line(line, 4*maxLine))
		out.Unlock()
		switch {
		case err != nil && ctx.Err() != nil:
			return ExitIncomplete
		case err != nil:
			return exitStatus(err)
		case !sum.Result.Reconciled:
			return ExitIncomplete
		}
		return ExitOK
	})
}

// closeLine is the line of one account's close: whether the month reconciles, its totals
// per bill and currency beside the overview's, the re-read's counts and what was sent.
func closeLine(account string, sum monthclose.Summary, err error) string {
	head := sum.Month.String() + " " + account + ": "
	if err != nil {
		return head + "FAILED: " + err.Error()
	}
	var b strings.Builder
	b.WriteString(head)
	if sum.Result.Reconciled {
		b.WriteString("reconciled")
	} else {
		b.WriteString("NOT reconciled (differ: " + monthclose.Named(sum.Result.Differing, 20) + ")")
	}
	for _, t := range sum.Result.Totals {
		fmt.Fprintf(&b, "; %s bill %s: %s", t.Bill, t.Currency, figures(t))
	}
	fmt.Fprintf(&b, "; %d days, %d rows: %d new, %d changed%s%s", sum.Days, sum.Report.Fetched, sum.Report.New, sum.Report.Changed,
		countIf(sum.Report.Retracted, "retracted"), countIf(sum.Report.WouldRetract, "would be retracted"))
	switch {
	case sum.DryRun && sum.Same:
		b.WriteString(" - dry run, nothing sent (month_closed: the same as delivered before)")
	case sum.DryRun:
		fmt.Fprintf(&b, " - dry run, nothing sent (month_closed would be revision %d)", sum.Revision)
	default:
		fmt.Fprintf(&b, " - month_closed sent (id %s, revision %d)", sum.ID, sum.Revision)
	}
	return b.String()
}

// figures are a total's three figures, each beside the overview's and the difference.
func figures(t reconcile.TotalResult) string {
	return fmt.Sprintf("PretaxGrossAmount %s (overview %s, difference %s), PretaxAmount %s (overview %s, difference %s), PaymentAmount %s (overview %s, difference %s)",
		t.Daily.PretaxGrossAmount, t.Overview.PretaxGrossAmount, t.Difference.PretaxGrossAmount,
		t.Daily.PretaxAmount, t.Overview.PretaxAmount, t.Difference.PretaxAmount,
		t.Daily.PaymentAmount, t.Overview.PaymentAmount, t.Difference.PaymentAmount)
}
