package bssfake

import (
	"sort"
	"strings"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/reconcile"
)

// ActionQueryBillOverview is the month's overview: one answer, no pages.
const ActionQueryBillOverview = "QueryBillOverview"

// OverviewItem is one item of QueryBillOverview with the API's JSON names: the month's sum
// of the account bill's daily rows of one ProductCode, SubscriptionType and Currency.
// Amounts are exact decimals, written as JSON numbers.
type OverviewItem struct {
	AdjustAmount          reconcile.Decimal `json:"AdjustAmount"`
	BillAccountID         string            `json:"BillAccountID"`
	BillAccountName       string            `json:"BillAccountName"`
	BizType               string            `json:"BizType"`
	CashAmount            reconcile.Decimal `json:"CashAmount"`
	CommodityCode         string            `json:"CommodityCode"`
	Currency              string            `json:"Currency"`
	DeductedByCashCoupons reconcile.Decimal `json:"DeductedByCashCoupons"`
	DeductedByCoupons     reconcile.Decimal `json:"DeductedByCoupons"`
	DeductedByPrepaidCard reconcile.Decimal `json:"DeductedByPrepaidCard"`
	InvoiceDiscount       reconcile.Decimal `json:"InvoiceDiscount"`
	Item                  string            `json:"Item"`
	OutstandingAmount     reconcile.Decimal `json:"OutstandingAmount"`
	OwnerID               string            `json:"OwnerID"`
	PaymentAmount         reconcile.Decimal `json:"PaymentAmount"`
	PipCode               string            `json:"PipCode"`
	PretaxAmount          reconcile.Decimal `json:"PretaxAmount"`
	PretaxGrossAmount     reconcile.Decimal `json:"PretaxGrossAmount"`
	ProductCode           string            `json:"ProductCode"`
	ProductName           string            `json:"ProductName"`
	ProductType           string            `json:"ProductType"`
	SubscriptionType      string            `json:"SubscriptionType"`
}

// Disagreement makes the overview of a month differ from the sum of its daily rows: By is
// added to PretaxGrossAmount, PretaxAmount and PaymentAmount of the items of ProductCode
// (and of SubscriptionType and Currency, when set). An item that no daily row has is made
// (PayAsYouGo and CNY unless set), as an overview with a product the detail lacks.
type Disagreement struct {
	Account          string // the account ID whose overview; "" every account's
	Cycle            string // YYYY-MM
	ProductCode      string
	SubscriptionType string
	Currency         string
	By               bill.Amount
}

// OverviewDisagrees queues a disagreement between the overview and the daily rows (see
// Disagreement); it stays for every later overview of the month.
func (s *Server) OverviewDisagrees(d Disagreement) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disagree = append(s.disagree, d)
}

// Revise changes a day's account-bill rows of the primary account in place, as a month's
// final bill changes the daily bills delivered before it (rows changed, removed, billed
// late): fn gets a copy of the rows and returns the day's new rows.
func (s *Server) Revise(day string, fn func([]Item) []Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.days[day] = append([]Item(nil), fn(append([]Item(nil), s.days[day]...))...)
}

// Overview is what QueryBillOverview answers for the month of the account with this ID (its
// items, sorted by ProductCode, SubscriptionType and Currency), disagreements included.
func (s *Server) Overview(account, cycle string) []OverviewItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overview(account, cycle)
}

type overviewKey struct{ product, sub, currency string }

func (s *Server) overview(account, cycle string) []OverviewItem {
	items := map[overviewKey]*OverviewItem{}
	prefix := s.dayKey(account, cycle+"-")
	var keys []string // the month's days, in order: the first day's names win, every time
	for key := range s.days {
		if strings.HasPrefix(key, prefix) && len(key) == len(prefix)+2 {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		for _, r := range s.days[key] {
			k := overviewKey{r.ProductCode, r.SubscriptionType, r.Currency}
			it := items[k]
			if it == nil {
				it = s.newOverviewItem(account, k)
				it.ProductName, it.PipCode, it.BizType = r.ProductName, r.PipCode, r.BizType
				items[k] = it
			}
			addRow(it, r)
		}
	}
	for _, d := range s.disagree {
		if d.Cycle == cycle && (d.Account == "" || d.Account == account) {
			s.applyDisagreement(items, account, d)
		}
	}
	out := make([]OverviewItem, 0, len(items))
	for _, it := range items {
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.ProductCode+"\x00"+a.SubscriptionType+"\x00"+a.Currency < b.ProductCode+"\x00"+b.SubscriptionType+"\x00"+b.Currency
	})
	return out
}

func (s *Server) newOverviewItem(account string, k overviewKey) *OverviewItem {
	item := "PayAsYouGoBill"
	if k.sub == "Subscription" {
		item = "SubscriptionOrder"
	}
	name := s.opts.AccountName
	if a, ok := s.accounts[account]; ok && a.Name != "" {
		name = a.Name
	}
	return &OverviewItem{ProductCode: k.product, SubscriptionType: k.sub, Currency: k.currency, Item: item,
		BillAccountID: account, BillAccountName: name, OwnerID: account, CommodityCode: k.product, ProductType: k.product}
}

// addRow adds a daily row's amounts (each the API's decimal text) to the item.
func addRow(it *OverviewItem, r Item) {
	for _, a := range []struct {
		dst *reconcile.Decimal
		v   bill.Amount
	}{{&it.AdjustAmount, r.AdjustAmount}, {&it.CashAmount, r.CashAmount}, {&it.DeductedByCashCoupons, r.DeductedByCashCoupons},
		{&it.DeductedByCoupons, r.DeductedByCoupons}, {&it.DeductedByPrepaidCard, r.DeductedByPrepaidCard},
		{&it.InvoiceDiscount, r.InvoiceDiscount}, {&it.OutstandingAmount, r.OutstandingAmount}, {&it.PaymentAmount, r.PaymentAmount},
		{&it.PretaxAmount, r.PretaxAmount}, {&it.PretaxGrossAmount, r.PretaxGrossAmount}} {
		d, err := reconcile.ParseDecimal(a.v)
		if err != nil {
			panic("bssfake: a row's amount is not a number: " + err.Error()) // a test's own data
		}
		*a.dst = a.dst.Add(d)
	}
}

func (s *Server) applyDisagreement(items map[overviewKey]*OverviewItem, account string, d Disagreement) {
	by := reconcile.MustDecimal(string(d.By))
	hit := false
	for k, it := range items {
		if k.product == d.ProductCode && (d.SubscriptionType == "" || d.SubscriptionType == k.sub) &&
			(d.Currency == "" || d.Currency == k.currency) {
			it.PretaxGrossAmount, it.PretaxAmount, it.PaymentAmount = it.PretaxGrossAmount.Add(by), it.PretaxAmount.Add(by), it.PaymentAmount.Add(by)
			hit = true
		}
	}
	if !hit {
		k := overviewKey{d.ProductCode, d.SubscriptionType, d.Currency}
		if k.sub == "" {
			k.sub = "PayAsYouGo"
		}
		if k.currency == "" {
			k.currency = "CNY"
		}
		it := s.newOverviewItem(account, k)
		it.PretaxGrossAmount, it.PretaxAmount, it.PaymentAmount = by, by, by
		items[k] = it
	}
}

// overviewResponse is QueryBillOverview's answer.
type overviewResponse struct {
	Code      string       `json:"Code"`
	Message   string       `json:"Message"`
	RequestID string       `json:"RequestId"`
	Success   bool         `json:"Success"`
	Data      overviewData `json:"Data"`
}

type overviewData struct {
	AccountID    string `json:"AccountID"`
	AccountName  string `json:"AccountName"`
	BillingCycle string `json:"BillingCycle"`
	Items        struct {
		Item []OverviewItem `json:"Item"`
	} `json:"Items"`
}

// serveOverview answers QueryBillOverview: the month's items of the account (BillOwnerId
// or the key's), filtered by ProductCode and SubscriptionType when given. Faults of kinds
// that replace the answer apply (Page 1); SetTotal, EmptyPage and the paging kinds do not.
func (s *Server) serveOverview(x *exchange) {
	f, hasFault := s.takeFault(ActionQueryBillOverview, 1, false, x.acct)
	if hasFault && x.answerFault(f,
		overviewResponse{Code: "InternalError", Message: internalErrorMessage, RequestID: requestID(), Success: false},
		`{"Code":"Success","Data":{"Items":{"Item":[{"ProductCode":`) {
		return
	}
	cycle := x.p.Get("BillingCycle")
	all := s.Overview(x.acct, cycle)
	items := make([]OverviewItem, 0, len(all)) // never null: the API sends []
	for _, it := range all {
		if p := x.p.Get("ProductCode"); p != "" && p != it.ProductCode {
			continue
		}
		if st := x.p.Get("SubscriptionType"); st != "" && st != it.SubscriptionType {
			continue
		}
		items = append(items, it)
	}
	resp := overviewResponse{Code: "Success", Message: "Successful!", RequestID: requestID(), Success: true}
	resp.Data = overviewData{AccountID: x.acct, AccountName: s.accountName(x.acct), BillingCycle: cycle}
	resp.Data.Items.Item = items
	x.rec.Status, x.rec.Rows = 200, len(items)
	s.record(x.rec)
	writeJSON(x.w, 200, resp)
}
