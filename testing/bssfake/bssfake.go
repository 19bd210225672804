// Package bssfake is a fake BSS OpenAPI (QueryAccountBill, DescribeInstanceBill and
// QueryBillOverview, version 2017-12-14) on real HTTP that the unmodified Alibaba Cloud Go
// SDK talks to. It checks what the real service checks (RPC signature, access key,
// timestamp window, nonce reuse, action, version and parameters), answers with the API's
// JSON shapes and error codes, serves configurable data per day (and the month's overview
// of it), injects faults on request, and records every request it got.
//
// QueryAccountBill pages by PageNum and PageSize. DescribeInstanceBill pages by NextToken
// with the API's documented rule: a NextToken must be empty or the one the last call
// returned. The fake hands out opaque random tokens and refuses (CodeInvalidNextToken) a
// token that is unknown, expired (Options.TokenTTL), bound to another day or query, or
// already left behind (its successor was used). Presenting the same token again before
// its successor was used is a retry and gets the same page.
package bssfake

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
)

// API facts the fake enforces.
const (
	Action      = "QueryAccountBill"
	Version     = "2017-12-14"
	MaxPageSize = 300
	// TimestampWindow is how far a request's Timestamp may be from the server's time.
	TimestampWindow = 15 * time.Minute

	// ActionQueryAccountBill is Action under a name that says which one.
	ActionQueryAccountBill = Action
	// ActionDescribeInstanceBill is the instance bill, paged by NextToken.
	ActionDescribeInstanceBill = "DescribeInstanceBill"
	// MaxResults is DescribeInstanceBill's largest MaxResults; above it is InvalidParameter.
	MaxResults = 300
	// DefaultMaxResults is the page size when MaxResults is not sent.
	DefaultMaxResults = 20
	// DefaultTokenTTL is how long a NextToken stays usable unless Options.TokenTTL says.
	DefaultTokenTTL = 10 * time.Minute

	// CodeInvalidNextToken is the error (HTTP 400) for a NextToken that is unknown,
	// expired, bound to another day or query, or was left behind by a later call.
	CodeInvalidNextToken = "InvalidParameter.NextToken"
	// MessageInvalidNextToken is that error's message.
	MessageInvalidNextToken = "The specified NextToken is invalid or has expired."
	// CodeInvalidAction is the error (HTTP 404) for an Action the API does not have.
	CodeInvalidAction = "InvalidAction.NotFound"

	// DefaultKeyID and DefaultKeySecret are the AccessKey the fake accepts when
	// Options.Keys is nil: public test values, not secrets.
	DefaultKeyID     = "testid"
	DefaultKeySecret = "testsecret"
)

// Item is one row of the account bill (QueryAccountBill grouped by product): the
// connector's own row, so that its members are declared once (connector/bill) and a test
// compares what the fake served with what was delivered field by field. Amounts are
// decimal text, as the API writes them. The fake answers it with the API's member names
// (see apiItem).
type Item = bill.AccountRow

// apiItem is an Item as QueryAccountBill writes it: the row's members with their values,
// every one of them always sent, in the API's (alphabetical) order; the one name the event
// and the API do not share is the owner's, OwnerId in the event and OwnerID in the API.
// The SDK's own item type would not do: it has a hundred members of a dozen other APIs
// and no omitempty, so answers would carry made-up empty members five times their size.
type apiItem Item

// MarshalJSON writes the item with the API's names.
func (it apiItem) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(Item(it))
	var m map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return nil, err
	}
	m["OwnerID"] = m["OwnerId"]
	delete(m, "OwnerId")
	return json.Marshal(m) // a map's keys are written sorted: the API's order
}

// FaultKind is what a fault does to a request.
//
// For DescribeInstanceBill the kinds keep their meaning, the page being 1 +
// offset/MaxResults of the position the NextToken points at: Throttle, ServerError,
// Slow, Malformed, SuccessFalse, WrongTotal, SetTotal, EmptyPage (no items, the true
// TotalCount and the NextToken of the page: its rows are skipped), OversizePage (made-up
// rows beyond MaxResults, the NextToken as if only the real rows were served), HugeBody,
// Redirect, SignatureMismatch, ErrorReply and RawReply. RepeatPage and IgnorePageNum are
// about PageNum and do not apply to it: instance requests neither match nor use them up.
// ExpireToken and StuckToken apply only to DescribeInstanceBill requests that present a
// NextToken the fake accepts. A request whose NextToken is refused takes no fault.
type FaultKind int

const (
	Throttle     FaultKind = iota // 400 Throttling.User
	ServerError                   // HTTP Status (default 503 ServiceUnavailable)
	Slow                          // waits Delay, then answers normally
	Malformed                     // 200 with a truncated JSON body
	SuccessFalse                  // 200 with Success=false, Code InternalError
	WrongTotal                    // 200 with TotalCount off by Delta
	EmptyPage                     // 200 with no items but the true TotalCount

	// RepeatPage answers 200 with the items of page Of (default 1) and the PageNum that
	// was asked for: an API that ignores PageNum but echoes it.
	RepeatPage
	// IgnorePageNum answers 200 with page Of (default 1), its items and its PageNum,
	// whatever page was asked for.
	IgnorePageNum
	// SetTotal answers 200 with TotalCount set to Total (zero, negative or huge).
	SetTotal
	// OversizePage answers 200 with Delta (default 1) more items than PageSize asked for.
	OversizePage
	// HugeBody answers 200 with the page's JSON followed by white space up to Size bytes
	// in all, streamed from a small buffer: without a Content-Length, or with one when
	// DeclareLength. The document stays valid JSON, so only a size limit stops a reader.
	HugeBody
	// Redirect answers Status (default 302) with Location set to Location (default
	// "http://redirect.invalid") followed by the request's path and signed query, as a
	// moved host would.
	Redirect
	// SignatureMismatch answers 400 SignatureDoesNotMatch, quoting the string the server
	// signed as the real API does (its values, AccessKeyId and any SecurityToken
	// included, percent-encoded twice), even when the signature was right.
	SignatureMismatch
	// ErrorReply answers Status (default 400) with the API's error JSON carrying Code
	// and Message verbatim (control characters and escape sequences included).
	ErrorReply
	// RawReply answers Status (default 400) with Body byte for byte, as
	// application/json: error answers whose members have other types than the API's
	// (a number for Code, a string for AccessDeniedDetail), or success answers that lack
	// what the API always sends (Data, TotalCount).
	RawReply
	// ExpireToken answers the NextToken presented with the token error
	// (CodeInvalidNextToken), as if it had expired, and forgets it: a retry of it is
	// refused too, and the client has to read the day again from an empty NextToken.
	ExpireToken
	// StuckToken answers 200 with the page the NextToken points at and that same
	// NextToken again: a page that does not advance. The token stays usable.
	StuckToken
)

var faultNames = [...]string{"Throttle", "ServerError", "Slow", "Malformed", "SuccessFalse", "WrongTotal", "EmptyPage",
	"RepeatPage", "IgnorePageNum", "SetTotal", "OversizePage", "HugeBody", "Redirect", "SignatureMismatch", "ErrorReply",
	"RawReply", "ExpireToken", "StuckToken"}

func (k FaultKind) String() string {
	if k >= 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// appliesTo says whether a fault of kind k can be served to a request of action that
// presents a NextToken (withToken).
func (k FaultKind) appliesTo(action string, withToken bool) bool {
	switch k {
	case RepeatPage, IgnorePageNum:
		return action == ActionQueryAccountBill
	case ExpireToken, StuckToken:
		return action == ActionDescribeInstanceBill && withToken
	}
	return true
}

// Fault is injected into the next Times matching requests (Page 0 matches any page,
// Action "" any action). Fields beyond Kind, Times, Page and Action apply to the kinds
// that name them.
type Fault struct {
	Kind   FaultKind
	Times  int
	Page   int    // QueryAccountBill: PageNum; DescribeInstanceBill: 1 + offset/MaxResults
	Action string // ActionQueryAccountBill, ActionDescribeInstanceBill or "" for both
	Status int
	Delay  time.Duration
	Delta  int

	Of            int    // RepeatPage, IgnorePageNum: the page served (default 1)
	Total         int    // SetTotal: the TotalCount answered
	Size          int64  // HugeBody: the body's length in bytes
	DeclareLength bool   // HugeBody: send a Content-Length
	Location      string // Redirect: scheme and host the redirect names
	Code          string // ErrorReply
	Message       string // ErrorReply
	Body          string // RawReply: the body, verbatim

	// Account, when set, limits the fault to requests for the bill of this account ID
	// (after BillOwnerId).
	Account string
}

// Request is what the fake recorded of one request.
type Request struct {
	Action string     // the Action parameter, as sent
	Params url.Values // query and form parameters together
	Status int
	Code   string // "" on success; the fault's name for HugeBody and StuckToken answers
	Rows   int    // items returned
	// Account is the ID of the account whose bill was asked for (the key's account, or
	// BillOwnerId); "" when the request was refused before that was known.
	Account string
}

// Options configure a Server. Zero values are fine.
type Options struct {
	// Keys maps AccessKey IDs to secrets; default {DefaultKeyID: DefaultKeySecret}.
	Keys map[string]string
	// Now is the server's clock for the timestamp window, RateLimit and TokenTTL; default
	// the real clock.
	Now func() time.Time
	// RateLimit, when > 0, answers Throttling.User to requests beyond this many per second
	// (a sliding window on Now), counting both actions together as the API's per-account
	// limit does.
	RateLimit int
	// RateLimitPerKey, when > 0, answers Throttling.User to requests of an AccessKey beyond
	// this many per second of that key (a sliding window on Now): the API's limit per
	// caller, which RateLimit (every key together) is not (perkey.go).
	RateLimitPerKey int
	// ThrottleEvery, when > 0, answers Throttling.User to every ThrottleEvery-th request
	// that passed the signature and owner checks (both actions counted), whatever the
	// requests' pace: a limit that binds on a slow machine as on a fast one, where RateLimit
	// binds only while requests come faster than it allows.
	ThrottleEvery int
	// AccountID and AccountName of the account the fake serves.
	AccountID, AccountName string
	// TokenTTL is how long a NextToken is usable after it was issued, measured with Now;
	// default DefaultTokenTTL.
	TokenTTL time.Duration
	// Latency delays every answer this long before it is written (the request is handled
	// first, so a client that gives up during the wait has lost the answer, not the work).
	Latency time.Duration
	// Members are the member accounts whose bills the account AccountID (the payer) may
	// read with BillOwnerId.
	Members []string
	// More are further accounts the fake serves, each with its own keys and data.
	More []Account
}

// Account is a further account of the fake: its keys, and the members whose bills it may
// read with BillOwnerId. SetAccountDay gives it data.
type Account struct {
	ID, Name string
	Keys     map[string]string // AccessKey ID -> secret
	Members  []string
}

// TemporaryKey is an STS credential: a key that is valid only with its SecurityToken and
// until it expires (measured with Options.Now).
type TemporaryKey struct {
	ID, Secret, Token string
	Account           string // the account the role belongs to
	Expires           time.Time
}

// keyInfo is what the fake knows of an AccessKey.
type keyInfo struct {
	secret, token string
	account       string
	expires       time.Time // zero: a permanent key
}

// Server is the fake. Create with New, then Start or use as an http.Handler.
type Server struct {
	opts Options

	mu       sync.Mutex
	days     map[string][]Item
	instDays map[string]instanceSource
	tokens   map[string]*token
	pruneAt  int // prune expired tokens when there are this many
	faults   []Fault
	requests []Request
	nonces   map[string]bool
	recent   []time.Time    // request arrival times, for RateLimit
	stale    string         // AnswerEveryDayWith
	checked  int            // requests counted by ThrottleEvery
	disagree []Disagreement // OverviewDisagrees
	perKey   *keyRates      // RateLimitPerKey

	keys     map[string]keyInfo
	accounts map[string]Account // by ID, the primary account included

	srv *http.Server
	ln  net.Listener
}

// New returns a fake with no data.
func New(opts Options) *Server {
	if opts.Keys == nil {
		opts.Keys = map[string]string{DefaultKeyID: DefaultKeySecret}
	}
	if opts.Now == nil {
		opts.Now = clock.New().Now
	}
	if opts.AccountID == "" {
		opts.AccountID, opts.AccountName = "1234567890123456", "billing-fake@example.com"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	s := &Server{opts: opts, days: map[string][]Item{}, instDays: map[string]instanceSource{},
		tokens: map[string]*token{}, pruneAt: 1024, nonces: map[string]bool{},
		keys: map[string]keyInfo{}, accounts: map[string]Account{}, perKey: newKeyRates(opts.RateLimitPerKey)}
	s.accounts[opts.AccountID] = Account{ID: opts.AccountID, Name: opts.AccountName, Keys: opts.Keys, Members: opts.Members}
	for _, a := range opts.More {
		s.accounts[a.ID] = a
	}
	for _, a := range s.accounts {
		for id, secret := range a.Keys {
			s.keys[id] = keyInfo{secret: secret, account: a.ID}
		}
	}
	return s
}

// AddTemporaryKey makes the fake accept an STS credential (the fake STS calls it for each
// credential it issues).
func (s *Server) AddTemporaryKey(k TemporaryKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = keyInfo{secret: k.Secret, token: k.Token, account: k.Account, expires: k.Expires}
}

// SetAccountDay sets the account bill rows of a day of the account with this ID.
func (s *Server) SetAccountDay(account, day string, items []Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.days[s.dayKey(account, day)] = append([]Item(nil), items...)
}

// dayKey is where a day of an account's bill is kept: the primary account's under the day.
func (s *Server) dayKey(account, day string) string {
	if account == s.opts.AccountID {
		return day
	}
	return account + "/" + day
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves in the background.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// URL is the endpoint to configure in the connector (http://127.0.0.1:PORT).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// SetDay sets the rows of one billing day (YYYY-MM-DD), replacing what was there.
func (s *Server) SetDay(day string, items []Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.days[day] = append([]Item(nil), items...)
}

// Day returns a copy of a day's rows.
func (s *Server) Day(day string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Item(nil), s.days[day]...)
}

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Requests returns a copy of the recorded requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r
		out[i].Params = url.Values{}
		for k, v := range r.Params {
			out[i].Params[k] = append([]string(nil), v...)
		}
	}
	return out
}

// apiError is the API's error body.
type apiError struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
}

type response struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestId"`
	Success   bool   `json:"Success"`
	Data      data   `json:"Data"`
}

type data struct {
	AccountID    string `json:"AccountID"`
	AccountName  string `json:"AccountName"`
	BillingCycle string `json:"BillingCycle"`
	PageNum      int    `json:"PageNum"`
	PageSize     int    `json:"PageSize"`
	TotalCount   int    `json:"TotalCount"`
	Items        struct {
		Item []apiItem `json:"Item"`
	} `json:"Items"`
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := strings.ToUpper(hex.EncodeToString(b))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// exchange is one request being answered.
type exchange struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	p    url.Values
	rec  Request
	acct string // whose bill: the key's account or BillOwnerId (set by owner)
}

// fail answers the API's error JSON.
func (x *exchange) fail(status int, code, msg string) {
	x.rec.Status, x.rec.Code = status, code
	x.s.record(x.rec)
	x.w.Header().Set("Content-Type", "application/json;charset=utf-8")
	x.w.WriteHeader(status)
	_ = json.NewEncoder(x.w).Encode(apiError{Code: code, Message: msg, RequestID: requestID(), HostID: "business.aliyuncs.com"})
}

// ServeHTTP answers one RPC request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Latency > 0 {
		w = &lateWriter{ResponseWriter: w, done: r.Context().Done(), delay: s.opts.Latency}
	}
	params, err := allParams(r)
	x := &exchange{s: s, w: w, r: r, p: params, rec: Request{Params: params}}
	if err != nil {
		x.fail(400, "InvalidParameter", "cannot parse the request: "+err.Error())
		return
	}
	x.rec.Action = params.Get("Action")
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		x.fail(405, "UnsupportedHTTPMethod", "method "+r.Method+" is not supported")
		return
	}
	if status, code, msg := s.authenticate(params); code != "" {
		x.fail(status, code, msg)
		return
	}
	if status, code, msg := validate(params); code != "" {
		x.fail(status, code, msg)
		return
	}
	if status, code, msg := s.owner(x); code != "" {
		x.fail(status, code, msg)
		return
	}
	if s.overRate() || s.perKey.over(params.Get("AccessKeyId"), s.opts.Now()) {
		x.fail(400, "Throttling.User", "Request was denied due to user flow control.")
		return
	}
	x.p = s.staleParams(params)
	switch params.Get("Action") {
	case ActionDescribeInstanceBill:
		s.serveInstanceBill(x)
	case ActionQueryBillOverview:
		s.serveOverview(x)
	default:
		s.serveAccountBill(x)
	}
}

// AnswerEveryDayWith makes the fake answer every bill request as if it asked for day
// (BillingDate day, BillingCycle its month), as a cache or proxy that ignores the query
// string does; "" ends it. Requests() still shows what was asked.
func (s *Server) AnswerEveryDayWith(day string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = day
}

// staleParams are the parameters the request is answered with (see AnswerEveryDayWith).
func (s *Server) staleParams(p url.Values) url.Values {
	s.mu.Lock()
	day := s.stale
	s.mu.Unlock()
	if day == "" {
		return p
	}
	q := url.Values{}
	for k, v := range p {
		q[k] = v
	}
	q.Set("BillingDate", day)
	q.Set("BillingCycle", day[:min(7, len(day))])
	return q
}

// owner finds whose bill the request asks for: the key's account, or the member named by
// BillOwnerId, which must be the key's account or one of its members.
func (s *Server) owner(x *exchange) (int, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.keys[x.p.Get("AccessKeyId")].account
	if o := x.p.Get("BillOwnerId"); o != "" && o != acct {
		member := false
		for _, m := range s.accounts[acct].Members {
			member = member || m == o
		}
		if !member {
			return 400, "InvalidOwner", "The specified BillOwnerId is not a member account of the caller."
		}
		acct = o
	}
	x.rec.Account = acct
	x.acct = acct
	return 0, "", ""
}

// accountName is the name of the account with this ID.
func (s *Server) accountName(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[id]; ok && a.Name != "" {
		return a.Name
	}
	return "member-" + id
}

// answerFault serves the kinds of fault that replace the answer whatever the action
// (successFalse is the action's Success=false body, malformed its truncated one). It
// reports whether the request has been answered; Slow waits and reports false.
func (x *exchange) answerFault(f Fault, successFalse any, malformed string) bool {
	switch f.Kind {
	case Throttle:
		x.fail(400, "Throttling.User", "Request was denied due to user flow control.")
		return true
	case ServerError:
		st := f.Status
		if st == 0 {
			st = 503
		}
		code := "ServiceUnavailable"
		if st == 500 {
			code = "InternalError"
		}
		x.fail(st, code, "The request has failed due to a temporary failure of the server.")
		return true
	case Slow:
		select {
		case <-time.After(f.Delay):
			return false
		case <-x.r.Context().Done():
			return true
		}
	case Malformed:
		x.rec.Status = 200
		x.rec.Code = "Malformed"
		x.s.record(x.rec)
		x.w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_, _ = x.w.Write([]byte(malformed))
		return true
	case SuccessFalse:
		x.rec.Status, x.rec.Code = 200, "InternalError"
		x.s.record(x.rec)
		writeJSON(x.w, 200, successFalse)
		return true
	case Redirect:
		st := f.Status
		if st == 0 {
			st = http.StatusFound
		}
		loc := f.Location
		if loc == "" {
			loc = "http://redirect.invalid"
		}
		x.rec.Status, x.rec.Code = st, "Redirect"
		x.s.record(x.rec)
		x.w.Header().Set("Location", strings.TrimSuffix(loc, "/")+x.r.URL.RequestURI())
		x.w.WriteHeader(st)
		return true
	case SignatureMismatch:
		x.fail(400, "SignatureDoesNotMatch", signatureMismatch(x.r.Method, x.p))
		return true
	case ErrorReply:
		st := f.Status
		if st == 0 {
			st = 400
		}
		x.fail(st, f.Code, f.Message)
		return true
	case RawReply:
		st := f.Status
		if st == 0 {
			st = 400
		}
		x.rec.Status, x.rec.Code = st, "RawReply"
		x.s.record(x.rec)
		x.w.Header().Set("Content-Type", "application/json;charset=utf-8")
		x.w.WriteHeader(st)
		_, _ = x.w.Write([]byte(f.Body))
		return true
	}
	return false
}

const internalErrorMessage = "The request processing has failed due to some unknown error."

// serveAccountBill answers QueryAccountBill: pages by PageNum and PageSize.
func (s *Server) serveAccountBill(x *exchange) {
	params := x.p
	page, _ := strconv.Atoi(params.Get("PageNum"))
	if page == 0 {
		page = 1
	}
	size, _ := strconv.Atoi(params.Get("PageSize"))
	if size == 0 {
		size = 20
	}
	f, hasFault := s.takeFault(ActionQueryAccountBill, page, false, x.acct)
	if hasFault && x.answerFault(f,
		response{Code: "InternalError", Message: internalErrorMessage, RequestID: requestID(), Success: false},
		`{"Code":"Success","Data":{"Items":{"Item":[{"BillingDate":`) {
		return
	}

	day := params.Get("BillingDate")
	served := page // the page whose items are served
	if hasFault && (f.Kind == RepeatPage || f.Kind == IgnorePageNum) {
		served = max(f.Of, 1)
	}
	extra := 0
	if hasFault && f.Kind == OversizePage {
		extra = max(f.Delta, 1)
	}
	s.mu.Lock()
	all := s.days[s.dayKey(x.acct, day)]
	total := len(all)
	var items []Item
	if start := (served - 1) * size; start < total {
		items = append(items, all[start:min(start+size, total)]...)
	}
	s.mu.Unlock()
	if extra > 0 {
		for i := 0; len(items) < size+extra; i++ { // rows that are not in the day
			items = append(items, Item{BillingDate: day, Currency: "CNY", OwnerID: "1234567890123456",
				ProductCode: fmt.Sprintf("extra-%d", i), SubscriptionType: "PayAsYouGo"})
		}
	}
	if params.Get("IsGroupByProduct") != "true" {
		for i := range items { // these are only filled when grouping by product
			items[i].ProductCode, items[i].ProductName, items[i].SubscriptionType = "", "", ""
		}
	}
	if hasFault && f.Kind == WrongTotal {
		total += f.Delta
	}
	if hasFault && f.Kind == SetTotal {
		total = f.Total
	}
	if hasFault && f.Kind == EmptyPage {
		items = nil
	}
	pageNum := page
	if hasFault && f.Kind == IgnorePageNum {
		pageNum = served
	}
	resp := response{Code: "Success", Message: "Successful!", RequestID: requestID(), Success: true}
	resp.Data = data{AccountID: x.acct, AccountName: s.accountName(x.acct), BillingCycle: params.Get("BillingCycle"),
		PageNum: pageNum, PageSize: size, TotalCount: total}
	resp.Data.Items.Item = make([]apiItem, len(items)) // never null: the API sends []
	for i, it := range items {
		resp.Data.Items.Item[i] = apiItem(it)
	}
	x.rec.Status, x.rec.Rows = 200, len(items)
	if hasFault && f.Kind == HugeBody {
		x.rec.Code = "HugeBody"
		s.record(x.rec)
		writeHuge(x.w, resp, f.Size, f.DeclareLength)
		return
	}
	s.record(x.rec)
	writeJSON(x.w, 200, resp)
}

// lateWriter holds the answer back for delay (Options.Latency), once, before the first
// byte or status is written; it stops waiting when the client has gone.
type lateWriter struct {
	http.ResponseWriter
	done   <-chan struct{}
	delay  time.Duration
	waited bool
}

func (w *lateWriter) wait() {
	if w.waited {
		return
	}
	w.waited = true
	t := time.NewTimer(w.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.done:
	}
}

func (w *lateWriter) WriteHeader(status int) {
	w.wait()
	w.ResponseWriter.WriteHeader(status)
}

func (w *lateWriter) Write(b []byte) (int, error) {
	w.wait()
	return w.ResponseWriter.Write(b)
}

// writeHuge writes v's JSON padded with spaces to size bytes, from a fixed buffer.
func writeHuge(w http.ResponseWriter, v any, size int64, declare bool) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if declare {
		w.Header().Set("Content-Length", strconv.FormatInt(max(size, int64(len(body))), 10))
	}
	w.WriteHeader(200)
	if _, err := w.Write(body); err != nil {
		return
	}
	pad := make([]byte, 64<<10)
	for i := range pad {
		pad[i] = ' '
	}
	for left := size - int64(len(body)); left > 0; left -= int64(len(pad)) {
		if _, err := w.Write(pad[:min(left, int64(len(pad)))]); err != nil {
			return // the client stopped reading
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// takeFault uses up the first queued fault that matches a request of action for page;
// withToken says the request presents a NextToken that was accepted.
func (s *Server) takeFault(action string, page int, withToken bool, account string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Account != "" && f.Account != account {
			continue
		}
		if f.Page != 0 && f.Page != page {
			continue
		}
		if f.Action != "" && f.Action != action {
			continue
		}
		if !f.Kind.appliesTo(action, withToken) {
			continue
		}
		s.faults[i].Times--
		if s.faults[i].Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return f, true
	}
	return Fault{}, false
}

func (s *Server) overRate() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.ThrottleEvery > 0 {
		s.checked++
		if s.checked%s.opts.ThrottleEvery == 0 {
			return true
		}
	}
	if s.opts.RateLimit <= 0 {
		return false
	}
	now := s.opts.Now()
	keep := s.recent[:0]
	for _, t := range s.recent {
		if now.Sub(t) < time.Second {
			keep = append(keep, t)
		}
	}
	s.recent = keep
	if len(s.recent) >= s.opts.RateLimit {
		return true
	}
	s.recent = append(s.recent, now)
	return false
}

func allParams(r *http.Request) (url.Values, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.Form, nil // query and body together, as the service reads them
}

// authenticate checks the RPC signature (HMAC-SHA1, SignatureVersion 1.0), the key,
// the timestamp window and nonce reuse.
func (s *Server) authenticate(p url.Values) (int, string, string) {
	for _, k := range []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"} {
		if p.Get(k) == "" {
			return 400, "MissingParameter", "The input parameter \"" + k + "\" that is mandatory for processing this request is not supplied."
		}
	}
	s.mu.Lock()
	key, ok := s.keys[p.Get("AccessKeyId")]
	s.mu.Unlock()
	if !ok {
		return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
	}
	secret := key.secret
	if p.Get("SignatureMethod") != "HMAC-SHA1" || p.Get("SignatureVersion") != "1.0" {
		return 400, "InvalidParameter", "SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0."
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", p.Get("Timestamp"))
	if err != nil {
		return 400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
	}
	if d := s.opts.Now().Sub(ts); d > TimestampWindow || d < -TimestampWindow {
		return 400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
	}
	want := Sign("POST", p, secret)
	if !hmac.Equal([]byte(want), []byte(p.Get("Signature"))) {
		// The method may have been GET; the service signs with the request's method.
		if !hmac.Equal([]byte(Sign("GET", p, secret)), []byte(p.Get("Signature"))) {
			return 400, "SignatureDoesNotMatch", signatureMismatch("POST", p)
		}
	}
	if key.token != "" { // a temporary key: only with its token, only until it expires
		if !hmac.Equal([]byte(key.token), []byte(p.Get("SecurityToken"))) {
			return 400, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey."
		}
		if !s.opts.Now().Before(key.expires) {
			return 400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	nonce := p.Get("AccessKeyId") + "/" + p.Get("SignatureNonce")
	if s.nonces[nonce] {
		return 400, "SignatureNonceUsed", "Specified signature nonce was used already."
	}
	s.nonces[nonce] = true
	return 0, "", ""
}

// signatureMismatch is the API's SignatureDoesNotMatch message: it quotes the string the
// server signed, AccessKeyId and SecurityToken included.
func signatureMismatch(method string, p url.Values) string {
	return "Specified signature is not matched with our calculation. server string to sign is:" + StringToSign(method, p)
}

// Sign computes the RPC signature of params (without "Signature") as the API defines it:
// HMAC-SHA1 with key secret+"&" over StringToSign.
func Sign(method string, params url.Values, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(StringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// StringToSign is what the RPC signature signs: METHOD&%2F&percentEncode(sorted canonical
// query of params without "Signature"). Its values are percent-encoded twice.
func StringToSign(method string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k) + "=" + percentEncode(params.Get(k)))
	}
	return method + "&" + percentEncode("/") + "&" + percentEncode(b.String())
}

// percentEncode is RFC 3986 encoding as the API specifies it (space as %20, ~ kept).
func percentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	e = strings.ReplaceAll(e, "%7E", "~")
	return e
}

// validate checks the action, the version and the action's parameters (not NextToken,
// whose validity is the server's state).
func validate(p url.Values) (int, string, string) {
	action := p.Get("Action")
	if action != ActionQueryAccountBill && action != ActionDescribeInstanceBill && action != ActionQueryBillOverview {
		return 404, CodeInvalidAction, fmt.Sprintf("Specified api %q is not found, please check your url and method.", action)
	}
	if p.Get("Version") != Version {
		return 400, "InvalidVersion", fmt.Sprintf("Specified parameter Version %q is not valid.", p.Get("Version"))
	}
	if f := p.Get("Format"); f != "" && f != "JSON" {
		return 400, "InvalidParameter", "this fake answers Format=JSON only"
	}
	cycle := p.Get("BillingCycle")
	if cycle == "" {
		return 400, "MissingParameter", "The input parameter \"BillingCycle\" that is mandatory for processing this request is not supplied."
	}
	if _, err := time.Parse("2006-01", cycle); err != nil {
		return 400, "InvalidParameter", "BillingCycle must be YYYY-MM."
	}
	switch g := p.Get("Granularity"); g {
	case "", "MONTHLY":
	case "DAILY":
		day := p.Get("BillingDate")
		if day == "" {
			return 400, "MissingParameter", "BillingDate is mandatory when Granularity is DAILY."
		}
		if _, err := time.Parse(time.DateOnly, day); err != nil || !strings.HasPrefix(day, cycle+"-") {
			return 400, "InvalidParameter", "BillingDate must be YYYY-MM-DD within BillingCycle."
		}
	default:
		return 400, "InvalidParameter", "Granularity must be MONTHLY or DAILY."
	}
	switch action {
	case ActionDescribeInstanceBill:
		return validateInstance(p)
	case ActionQueryBillOverview:
		return 0, "", ""
	}
	if v := p.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return 400, "InvalidParameter", "PageSize must be between 1 and 300."
		}
	}
	if v := p.Get("PageNum"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 400, "InvalidParameter", "PageNum must be a positive integer."
		}
	}
	if v := p.Get("IsGroupByProduct"); v != "" && v != "true" && v != "false" {
		return 400, "InvalidParameter", "IsGroupByProduct must be true or false."
	}
	return 0, "", ""
}

// validateInstance checks DescribeInstanceBill's own parameters.
func validateInstance(p url.Values) (int, string, string) {
	if v := p.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxResults {
			return 400, "InvalidParameter", "MaxResults must be between 1 and 300."
		}
	}
	if v := p.Get("IsBillingItem"); v != "" && v != "true" && v != "false" {
		return 400, "InvalidParameter", "IsBillingItem must be true or false."
	}
	return 0, "", ""
}
