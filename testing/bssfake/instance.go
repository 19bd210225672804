package bssfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// InstanceItem is one row of DescribeInstanceBill with the API's JSON names. Every field
// is always sent, empty strings included.
type InstanceItem struct {
	AdjustAmount              float64 `json:"AdjustAmount"`
	BillAccountID             string  `json:"BillAccountID"`
	BillAccountName           string  `json:"BillAccountName"`
	BillingDate               string  `json:"BillingDate"`
	BillingItem               string  `json:"BillingItem"`
	BillingItemCode           string  `json:"BillingItemCode"`
	BillingType               string  `json:"BillingType"`
	BizType                   string  `json:"BizType"`
	CashAmount                float64 `json:"CashAmount"`
	CommodityCode             string  `json:"CommodityCode"`
	CostUnit                  string  `json:"CostUnit"`
	Currency                  string  `json:"Currency"`
	DeductedByCashCoupons     float64 `json:"DeductedByCashCoupons"`
	DeductedByCoupons         float64 `json:"DeductedByCoupons"`
	DeductedByPrepaidCard     float64 `json:"DeductedByPrepaidCard"`
	DeductedByResourcePackage string  `json:"DeductedByResourcePackage"`
	InstanceConfig            string  `json:"InstanceConfig"`
	InstanceID                string  `json:"InstanceID"`
	InstanceSpec              string  `json:"InstanceSpec"`
	InternetIP                string  `json:"InternetIP"`
	IntranetIP                string  `json:"IntranetIP"`
	InvoiceDiscount           float64 `json:"InvoiceDiscount"`
	Item                      string  `json:"Item"`
	ListPrice                 string  `json:"ListPrice"`
	ListPriceUnit             string  `json:"ListPriceUnit"`
	NickName                  string  `json:"NickName"`
	OutstandingAmount         float64 `json:"OutstandingAmount"`
	OwnerID                   string  `json:"OwnerID"`
	PaymentAmount             float64 `json:"PaymentAmount"`
	PipCode                   string  `json:"PipCode"`
	PretaxAmount              float64 `json:"PretaxAmount"`
	PretaxGrossAmount         float64 `json:"PretaxGrossAmount"`
	ProductCode               string  `json:"ProductCode"`
	ProductDetail             string  `json:"ProductDetail"`
	ProductName               string  `json:"ProductName"`
	ProductType               string  `json:"ProductType"`
	Region                    string  `json:"Region"`
	ResourceGroup             string  `json:"ResourceGroup"`
	ServicePeriod             string  `json:"ServicePeriod"`
	ServicePeriodUnit         string  `json:"ServicePeriodUnit"`
	SubscriptionType          string  `json:"SubscriptionType"`
	Tag                       string  `json:"Tag"` // "key1:value1;key2:value2", or ""
	Usage                     string  `json:"Usage"`
	UsageUnit                 string  `json:"UsageUnit"`
	Zone                      string  `json:"Zone"`
}

// Row is the item as the connector reads it from an answer (bill.ParseInstance of its
// JSON): the row its events are made of.
func (it InstanceItem) Row() (bill.InstanceRow, error) {
	b, err := json.Marshal(it)
	if err != nil {
		return bill.InstanceRow{}, err
	}
	return bill.ParseInstance(b)
}

// instanceSource is a day of instance rows: a slice, or rows made on demand by index.
// A source never changes once stored; SetInstanceDay and GenerateInstanceDay replace it.
type instanceSource interface {
	len() int
	row(i int) InstanceItem
}

type instanceRows []InstanceItem

func (r instanceRows) len() int               { return len(r) }
func (r instanceRows) row(i int) InstanceItem { return r[i] }

type generatedRows struct {
	day  string
	n    int
	seed uint64
}

func (g generatedRows) len() int               { return g.n }
func (g generatedRows) row(i int) InstanceItem { return instanceRow(g.day, i, g.seed) }

// SetInstanceDay sets the DescribeInstanceBill rows of one billing day (YYYY-MM-DD),
// replacing what was there (rows set or generated). NextTokens already handed out keep
// pointing at the same row offsets.
func (s *Server) SetInstanceDay(day string, items []InstanceItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instDays[day] = instanceRows(append([]InstanceItem(nil), items...))
}

// GenerateInstanceDay makes day's DescribeInstanceBill rows n rows made on demand: row i
// is SampleInstanceDay(day, n, seed)[i], computed when a page needs it and never kept,
// so that a day of hundreds of thousands of rows costs no memory. It replaces what was
// there.
func (s *Server) GenerateInstanceDay(day string, n int, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instDays[day] = generatedRows{day: day, n: max(n, 0), seed: seed}
}

// GenerateAccountInstanceDay is GenerateInstanceDay for the bill of account (an
// Options.More account: what its keys, or a BillOwnerId of it, read).
func (s *Server) GenerateAccountInstanceDay(account, day string, n int, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instDays[s.dayKey(account, day)] = generatedRows{day: day, n: max(n, 0), seed: seed}
}

// InstanceDay returns a copy of a day's DescribeInstanceBill rows (a generated day is
// made in full: meant for small days).
func (s *Server) InstanceDay(day string) []InstanceItem {
	s.mu.Lock()
	src := s.instDays[day]
	s.mu.Unlock()
	if src == nil {
		return nil
	}
	out := make([]InstanceItem, src.len())
	for i := range out {
		out[i] = src.row(i)
	}
	return out
}

// token is what a NextToken stands for.
type token struct {
	action      string
	day         string // BillingDate ("" for a month)
	billingItem bool   // IsBillingItem
	offset      int    // the first row of the page it asks for, whatever MaxResults
	issued      time.Time
	parent      string // the token presented by the call that issued this one ("" for a first page)
	next        string // the last token issued by a call that presented this one
	dead        bool   // a token it led to was used: going back to it is refused
	expired     bool   // an ExpireToken fault expired it
}

// newToken returns an opaque random token: 16 random bytes in standard base64, so that
// it holds '=' and often '+' or '/' that a client must encode.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// resolveLocked finds where the NextToken presented points for a query of day and
// billingItem: the row offset and the token (nil for an empty NextToken). ok is false
// when the API refuses the token.
func (s *Server) resolveLocked(presented, day string, billingItem bool) (offset int, t *token, ok bool) {
	if presented == "" {
		return 0, nil, true
	}
	t = s.tokens[presented]
	switch {
	case t == nil, t.expired, t.dead,
		s.opts.Now().Sub(t.issued) > s.opts.TokenTTL,
		t.action != ActionDescribeInstanceBill, t.day != day, t.billingItem != billingItem:
		return 0, nil, false
	}
	return t.offset, t, true
}

// acceptLocked records that the call presenting t (nil for none) was served: the token
// that led to t can no longer be used.
func (s *Server) acceptLocked(t *token) {
	if t == nil || t.parent == "" {
		return
	}
	if p := s.tokens[t.parent]; p != nil {
		p.dead = true
	}
}

// issueLocked returns the NextToken for the page after a call that presented the token
// presented (t, nil for none) and served up to row end of total: "" past the last row.
// A retry of the same token to the same place gets the same successor again.
func (s *Server) issueLocked(presented string, t *token, day string, billingItem bool, end, total int) string {
	if end >= total {
		return ""
	}
	now := s.opts.Now()
	if t != nil {
		if n := s.tokens[t.next]; n != nil && n.offset == end && !n.dead && !n.expired {
			n.issued = now
			return t.next
		}
	}
	if len(s.tokens) >= s.pruneAt {
		for k, old := range s.tokens {
			if now.Sub(old.issued) > s.opts.TokenTTL { // refused anyway: unknown is the same answer
				delete(s.tokens, k)
			}
		}
		s.pruneAt = max(1024, 2*len(s.tokens))
	}
	id := newToken()
	s.tokens[id] = &token{action: ActionDescribeInstanceBill, day: day, billingItem: billingItem,
		offset: end, issued: now, parent: presented}
	if t != nil {
		t.next = id
	}
	return id
}

type instanceResponse struct {
	Code      string       `json:"Code"`
	Message   string       `json:"Message"`
	RequestID string       `json:"RequestId"`
	Success   bool         `json:"Success"`
	Data      instanceData `json:"Data"`
}

type instanceData struct {
	BillingCycle string         `json:"BillingCycle"`
	AccountID    string         `json:"AccountID"`
	AccountName  string         `json:"AccountName"`
	TotalCount   int            `json:"TotalCount"`
	NextToken    string         `json:"NextToken"`
	MaxResults   int            `json:"MaxResults"`
	Items        []InstanceItem `json:"Items"` // an array, not QueryAccountBill's Items.Item
}

// serveInstanceBill answers DescribeInstanceBill: pages by NextToken.
func (s *Server) serveInstanceBill(x *exchange) {
	p := x.p
	day := p.Get("BillingDate")
	billingItem := p.Get("IsBillingItem") == "true"
	size := DefaultMaxResults
	if v := p.Get("MaxResults"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	presented := p.Get("NextToken")

	s.mu.Lock()
	offset, _, ok := s.resolveLocked(presented, day, billingItem)
	s.mu.Unlock()
	if !ok {
		x.fail(400, CodeInvalidNextToken, MessageInvalidNextToken)
		return
	}
	f, hasFault := s.takeFault(ActionDescribeInstanceBill, 1+offset/size, presented != "", x.acct)
	if hasFault && f.Kind == ExpireToken {
		s.mu.Lock()
		if t := s.tokens[presented]; t != nil {
			t.expired = true
		}
		s.mu.Unlock()
		x.fail(400, CodeInvalidNextToken, MessageInvalidNextToken)
		return
	}
	if hasFault && x.answerFault(f,
		instanceResponse{Code: "InternalError", Message: internalErrorMessage, RequestID: requestID(), Success: false},
		`{"Code":"Success","Data":{"Items":[{"BillingDate":`) {
		return
	}

	s.mu.Lock()
	// Look again: the token may have been left behind while a fault waited.
	offset, t, ok := s.resolveLocked(presented, day, billingItem)
	if !ok {
		s.mu.Unlock()
		x.fail(400, CodeInvalidNextToken, MessageInvalidNextToken)
		return
	}
	src := s.instDays[s.dayKey(x.acct, day)]
	if src == nil {
		src = instanceRows(nil)
	}
	total := src.len()
	end := min(offset+size, total)
	s.acceptLocked(t)
	next := presented
	if !hasFault || f.Kind != StuckToken {
		next = s.issueLocked(presented, t, day, billingItem, max(end, offset), total)
	}
	s.mu.Unlock()

	items := make([]InstanceItem, 0, max(end-offset, 0))
	for i := offset; i < end; i++ {
		items = append(items, src.row(i))
	}
	if hasFault && f.Kind == OversizePage {
		for i := 0; len(items) < size+max(f.Delta, 1); i++ { // rows that are not in the day
			items = append(items, InstanceItem{BillingDate: day, Currency: "CNY", OwnerID: "1234567890123456",
				InstanceID: fmt.Sprintf("extra-%d", i), ProductCode: "extra", BillingItemCode: "extra", SubscriptionType: "PayAsYouGo"})
		}
	}
	if !billingItem {
		for i := range items { // these are only filled per billing item
			it := &items[i]
			it.BillingItem, it.BillingItemCode, it.ListPrice, it.ListPriceUnit, it.Usage, it.UsageUnit = "", "", "", "", "", ""
		}
	}
	switch {
	case hasFault && f.Kind == WrongTotal:
		total += f.Delta
	case hasFault && f.Kind == SetTotal:
		total = f.Total
	case hasFault && f.Kind == EmptyPage:
		items = []InstanceItem{}
	}
	resp := instanceResponse{Code: "Success", Message: "Successful!", RequestID: requestID(), Success: true,
		Data: instanceData{BillingCycle: p.Get("BillingCycle"), AccountID: x.acct, AccountName: s.accountName(x.acct),
			TotalCount: total, NextToken: next, MaxResults: size, Items: items}}
	x.rec.Status, x.rec.Rows = 200, len(items)
	switch {
	case hasFault && f.Kind == HugeBody:
		x.rec.Code = "HugeBody"
		s.record(x.rec)
		writeHuge(x.w, resp, f.Size, f.DeclareLength)
		return
	case hasFault && f.Kind == StuckToken:
		x.rec.Code = "StuckToken"
	}
	s.record(x.rec)
	writeJSON(x.w, 200, resp)
}
