package reconcile

import "sort"

// EventType is the type of the month's event.
const EventType = "alicloud.billing.month_closed"

// Bill is one configured bill's daily rows of the month, summed.
type Bill struct {
	Name string // bill.Kind: "account", "instance"
	Sums *Sums
}

// Input is what a month's close found.
type Input struct {
	Account      string  // config.Account.Name
	BillingCycle string  // YYYY-MM
	AccountID    string  // the overview's AccountID ("" when it says none)
	Bills        []Bill  // in the configuration's order
	Overview     *Sums   // QueryBillOverview's items, summed per Key
	Tolerance    Decimal // reconcile_tolerance, in the bill's currency
}

// LineResult is one bill's line of the month: the daily rows' sum, the overview's figures
// and daily minus overview.
type LineResult struct {
	Bill string `json:"bill"`
	Key
	Daily      Figures `json:"daily"`
	Overview   Figures `json:"overview"`
	Difference Figures `json:"difference"`
	Reconciled bool    `json:"reconciled"` // every difference within the tolerance
}

// TotalResult is one bill's month in one currency.
type TotalResult struct {
	Bill       string  `json:"bill"`
	Currency   string  `json:"Currency"`
	Daily      Figures `json:"daily"`
	Overview   Figures `json:"overview"`
	Difference Figures `json:"difference"`
}

// Result is the month's reconciliation: the month_closed event's data.
type Result struct {
	Account      string        `json:"account"`
	BillingCycle string        `json:"billing_cycle"`
	AccountID    string        `json:"account_id,omitempty"`
	Bills        []string      `json:"bills"`
	Reconciled   bool          `json:"reconciled"`
	Tolerance    Decimal       `json:"tolerance"`
	Differing    []string      `json:"differing"` // the keys (Key.String) of the lines not reconciled, once each
	Lines        []LineResult  `json:"lines"`
	Totals       []TotalResult `json:"totals"`
}

// Compare reconciles the month: for each bill, a line per key of its sums or of the
// overview (a key only one of them has is 0 in the other), the totals per currency, and
// reconciled when every line's every difference is within the tolerance (|d| <= it).
// The totals are the lines' sums; they are not compared (many small roundings add up).
func Compare(in Input) Result {
	r := Result{Account: in.Account, BillingCycle: in.BillingCycle, AccountID: in.AccountID, Reconciled: true,
		Tolerance: in.Tolerance, Bills: []string{}, Differing: []string{}, Lines: []LineResult{}, Totals: []TotalResult{}}
	overview := in.Overview
	if overview == nil {
		overview = NewSums()
	}
	differing := map[Key]bool{}
	for _, b := range in.Bills {
		r.Bills = append(r.Bills, b.Name)
		sums := b.Sums
		if sums == nil {
			sums = NewSums()
		}
		totals := map[string]*TotalResult{}
		var currencies []string
		for _, k := range sortedKeys(sums, overview) {
			l := LineResult{Bill: b.Name, Key: k, Daily: sums.m[k], Overview: overview.m[k]}
			l.Difference = l.Daily.sub(l.Overview)
			l.Reconciled = l.Difference.worst().Cmp(in.Tolerance) <= 0
			if !l.Reconciled {
				r.Reconciled = false
				if !differing[k] {
					differing[k] = true
					r.Differing = append(r.Differing, k.String())
				}
			}
			r.Lines = append(r.Lines, l)
			t := totals[k.Currency]
			if t == nil {
				t = &TotalResult{Bill: b.Name, Currency: k.Currency}
				totals[k.Currency] = t
				currencies = append(currencies, k.Currency)
			}
			t.Daily, t.Overview, t.Difference = t.Daily.add(l.Daily), t.Overview.add(l.Overview), t.Difference.add(l.Difference)
		}
		sort.Strings(currencies)
		for _, c := range currencies {
			r.Totals = append(r.Totals, *totals[c])
		}
	}
	return r
}

// Worst is, per currency, the largest absolute difference of any figure of any line: the
// metric an operator alerts on (above the tolerance: the month is not reconciled).
func (r Result) Worst() map[string]Decimal {
	out := map[string]Decimal{}
	for _, l := range r.Lines {
		w := l.Difference.worst()
		if cur, ok := out[l.Currency]; !ok || w.Cmp(cur) > 0 {
			out[l.Currency] = w
		}
	}
	return out
}
