// Package billing reads the daily account bill from the BSS OpenAPI (QueryAccountBill)
// with the Alibaba Cloud Go SDK: every page, paced under the API's rate limit, with
// retries on throttling and service faults, and errors that say what to fix.
//
// It trusts the endpoint no further than it must: answers are capped at MaxResponseBytes,
// redirects are refused, error answers the SDK would panic on are replaced (and a panic of
// the SDK is an error, not the end of the process), a success answer must hold Data and
// its TotalCount, pages are checked against each other (ErrInconsistent), and the API's
// text is cleaned of credentials and control characters before it reaches an error or a
// log. The SDK's own debug printing (DEBUG=sdk) is switched off for the process.
package billing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/bssopenapi"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/retry"
)

// PageSize is the largest page QueryAccountBill serves.
const PageSize = 300

// MaxTotalCount is the most rows a day's product-grouped bill is believed to have: one row
// per member account, product and subscription type, so a million rows would be e.g.
// 20,000 member accounts using 25 products each in both payment modes. A larger TotalCount
// is taken for a broken answer and fails the day, rather than be read for hours into memory.
const MaxTotalCount = 1_000_000

// ErrInconsistent marks a day whose answers contradict each other or the API's rules: a
// TotalCount below zero or above MaxTotalCount, a page with more rows than asked for, a
// page that is not the one asked for or repeats an earlier one, an empty page before
// TotalCount is reached, more rows than TotalCount (which stayed the same). The day fails, naming what was wrong, rather than deliver a
// partial or inflated bill; errors.Is(err, ErrInconsistent) finds it.
var ErrInconsistent = errors.New("inconsistent answer")

// Row is one line of the account bill (the one definition is bill.AccountRow).
type Row = bill.AccountRow

// Policy sets retries, pacing and timeouts. The zero value is replaced by DefaultPolicy.
type Policy struct {
	Attempts       int           // calls per page before giving up (throttling, 5xx, timeouts)
	BaseBackoff    time.Duration // first wait; doubles each attempt, with jitter (retry.Backoff)
	MaxBackoff     time.Duration
	RequestsPerSec float64 // the pacing's ceiling (api_qps); it starts there and adapts (see pacer)
	ReadTimeout    time.Duration
	ConnectTimeout time.Duration
}

// DefaultPolicy is what production uses; RequestsPerSec is api_qps.
var DefaultPolicy = Policy{
	Attempts: 8, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second,
	RequestsPerSec: config.DefaultAPIQPS, ReadTimeout: 30 * time.Second, ConnectTimeout: 10 * time.Second,
}

// Client reads bills. Safe for use by one day at a time.
type Client struct {
	sdk    *bssopenapi.Client
	ep     config.Endpoint
	clock  clock.Clock
	log    *slog.Logger
	policy Policy
	pace   *pacer
	redact *redactor
	ops    *ops.Metrics
	health *ops.Health

	account string // config.Account.Name
	owner   int64  // BillOwnerId, 0: the credentials' own account
}

// Options are what the clients read with, from the configuration: where the API is, and
// the pace they keep.
type Options struct {
	Endpoint config.Endpoint // endpoint
	APIQPS   float64         // api_qps: the pacing's ceiling; 0 is DefaultAPIQPS (a Policy overrides it)
}

// Params are the inputs of NewFactory: what every account's client shares.
type Params struct {
	fx.In
	Options   Options
	Clock     clock.Clock
	Logger    *slog.Logger
	Policy    *Policy           `optional:"true"`
	Transport http.RoundTripper `name:"billing" optional:"true"` // tests: httpmock, a TLS test server's roots
	Lifecycle fx.Lifecycle      `optional:"true"`                // closes the kept-alive connections on stop
	Metrics   *ops.Metrics      `optional:"true"`
	Health    *ops.Health       `optional:"true"`
}

// Factory makes a Client per account, each with its own credentials and retries. The API
// limits requests per caller, so accounts read with the same credentials (members read
// through the payer's key with BillOwnerId) share one pacer: together they keep to api_qps.
type Factory struct {
	p      Params
	mu     sync.Mutex
	pacers map[string]*pacer // by Caller
}

// NewFactory keeps what every account's client shares.
func NewFactory(p Params) *Factory { return &Factory{p: p, pacers: map[string]*pacer{}} }

// For builds the client of one account: whose bills it reads, with its credentials.
func (f *Factory) For(a config.Account) (*Client, error) {
	f.mu.Lock()
	key := Caller(a.Credentials)
	if f.pacers[key] == nil {
		f.pacers[key] = newPacer(clock.New(), policyOf(f.p).RequestsPerSec)
	}
	pace := f.pacers[key]
	f.mu.Unlock()
	return newClient(f.p, a, false, pace)
}

// Caller names who the API sees calling with these credentials (no secret): accounts with
// the same Caller share a pacer.
func Caller(c config.Credentials) string {
	return strings.Join([]string{string(c.Kind()), c.AccessKeyID, c.RoleARN, c.ECSRAMRole, c.OIDCProviderARN, c.OIDCTokenFile}, "|")
}

// policyOf is the policy of the clients: Params.Policy, else DefaultPolicy at api_qps.
func policyOf(p Params) Policy {
	if p.Policy != nil {
		return *p.Policy
	}
	pol := DefaultPolicy
	if p.Options.APIQPS > 0 {
		pol.RequestsPerSec = p.Options.APIQPS
	}
	return pol
}

// newClient builds the client of account a for the configured endpoint (Factory.For).
//
// Every request goes through a guard under the SDK (whatever the transport): bodies are
// limited to MaxResponseBytes and a 3xx answer is an error, never followed. As the guard
// is not an *http.Transport, the SDK leaves the transport alone (it would otherwise
// replace its dialer and TLS settings); the read timeout still applies, through the
// SDK's http.Client.
//
// rawErrorBodies turns the guard's check of error answers off (tests); pace is shared with
// the accounts of the same caller (Factory), nil for a pace of its own.
func newClient(p Params, acct config.Account, rawErrorBodies bool, pace *pacer) (*Client, error) {
	pol := policyOf(p)
	next := p.Transport
	if next == nil {
		next = &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: pol.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:    pol.ConnectTimeout,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 1 << 20,
		}
	}
	if ci, ok := next.(interface{ CloseIdleConnections() }); ok && p.Lifecycle != nil {
		p.Lifecycle.Append(fx.StopHook(ci.CloseIdleConnections))
	}
	cfg := sdk.NewConfig().WithScheme(strings.ToUpper(p.Options.Endpoint.Scheme)).WithAutoRetry(false)
	cfg.Transport = guard{next: next, limit: MaxResponseBytes, rawErrorBodies: rawErrorBodies}
	red := newRedactor(acct.Credentials.AccessKeyID, acct.Credentials.AccessKeySecret.Reveal(), acct.Credentials.SecurityToken.Reveal())
	red.learnSecret(acct.Credentials.ExternalID.Reveal())
	build := func() (credentials.CredentialsProvider, error) {
		return providerFor(acct.Credentials, region(p.Options.Endpoint.Host), red)
	}
	inner, err := build()
	if err != nil {
		return nil, fmt.Errorf("account %s: credentials (%s): %s", acct.Name, acct.Credentials.Kind(), red.clean(err.Error(), maxMessage))
	}
	prov := &guardedProvider{inner: inner, build: build, kind: acct.Credentials.Kind(), redact: red}
	if pace == nil {
		pace = newPacer(clock.New(), pol.RequestsPerSec) // real time, whatever clock the retries use
	}
	endpointsOnce.Do(func() { bssopenapi.GetEndpointMap() })
	c, err := bssopenapi.NewClientWithOptions(region(p.Options.Endpoint.Host), cfg, prov)
	if err != nil {
		return nil, fmt.Errorf("create BSS client: %w", err)
	}
	return &Client{
		sdk: c, ep: p.Options.Endpoint, clock: p.Clock, log: p.Logger, policy: pol,
		pace:   pace,
		redact: red,
		ops:    ops.Or(p.Metrics), health: orHealth(p.Health),
		account: acct.Name, owner: acct.BillOwnerID,
	}, nil
}

// Account is the name of the account the client reads.
func (c *Client) Account() string { return c.account }

// region is only sent as the RegionId parameter; the endpoint decides where requests go.
func region(host string) string {
	if strings.Contains(host, "ap-southeast-1") {
		return "ap-southeast-1"
	}
	return "cn-hangzhou"
}

// Page is one page of a bill, read and checked (bill.Page).
type Page = bill.Page

// Stream reads the day's bill of the kind page by page, and calls fn with each page as soon
// as it is read and checked, before the next is asked for: memory holds one page, not a
// day. fn's error ends the read and is returned as it is.
//
// It fails rather than end early: an error means the bill was not read to its end. When
// the bill moved under the read (its TotalCount changed while paging, or the API refused a
// NextToken as expired), the error is a *bill.MovedError (errors.Is(err, bill.ErrMoved)):
// Stream never reads a bill again itself; the caller decides whether to (job.MaxReReads).
func (c *Client) Stream(ctx context.Context, kind bill.Kind, day calendar.Day, fn func(Page) error) error {
	if kind == bill.Instance {
		return c.streamInstance(ctx, day, fn)
	}
	return c.streamAccount(ctx, day, fn)
}

// pages checks the pages of one read of a bill against the request and each other (see
// ErrInconsistent) before the caller sees them.
//
// A repeated page is found by a hash of its items: a page whose items are, in order and in
// every field, those of an earlier page of the same read is an API serving the same page
// again (as one that ignores PageNum does), never new rows. A product-grouped bill has one
// row per owner, product and subscription type, so two distinct full pages cannot be
// equal. (A row that comes again on a later page of another page's rows is found by the
// job, from the state, by the row's identity: no per-row memory here.)
type pages struct {
	c      *Client
	bill   string // "bill" or "instance bill", in messages
	day    calendar.Day
	total  int            // the TotalCount of page 1; -1 before it is read
	count  int            // rows read so far
	hashes map[uint64]int // page hash -> page number
}

func (c *Client) newPages(what string, day calendar.Day) *pages {
	return &pages{c: c, bill: what, day: day, total: -1, hashes: map[uint64]int{}}
}

// inconsistent is the error of a page that contradicts the API's rules or the pages before.
func (ps *pages) inconsistent(page int, format string, args ...any) error {
	return fmt.Errorf("query %s %s page %d: %w: %s", ps.bill, ps.day, page, ErrInconsistent, ps.c.redact.clean(fmt.Sprintf(format, args...), maxMessage))
}

// sameTotal takes a page's TotalCount: page 1's is the read's; another one later means the
// bill changed while paging (rows may have shifted across pages): a *bill.MovedError.
func (ps *pages) sameTotal(page, total int) error {
	switch {
	case ps.total == -1:
		ps.total = total
	case total != ps.total:
		return &bill.MovedError{Page: page, What: fmt.Sprintf("the %s changed while paging: TotalCount %d on page 1, %d on page %d", ps.bill, ps.total, total, page)}
	}
	return nil
}

// add takes a page's rows and counts them; a page that repeats an earlier one of the read
// is inconsistent (why: what that says of the API).
func (ps *pages) add(page int, rows []bill.Row, why string) error {
	if h, ok := pageHash(rows); ok {
		if prev, dup := ps.hashes[h]; dup {
			return ps.inconsistent(page, "page %d repeats page %d (the same %d rows)%s", page, prev, len(rows), why)
		}
		ps.hashes[h] = page
	}
	ps.count += len(rows)
	return nil
}

// streamAccount reads QueryAccountBill's pages 1..n, each checked (checkAccount) before fn
// sees it.
func (c *Client) streamAccount(ctx context.Context, day calendar.Day, fn func(Page) error) error {
	ps := c.newPages("bill", day)
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := c.accountPage(ctx, day, page, PageSize)
		if err != nil {
			return fmt.Errorf("query bill %s page %d: %w", day, page, err)
		}
		if err := ps.checkAccount(page, data); err != nil {
			return err
		}
		c.log.Debug("page read", "bill", "account", "day", day.String(), "page", page, "rows", len(data.rows), "total", ps.total)
		if err := fn(Page{Rows: data.rows, Number: page, Total: ps.total}); err != nil {
			return err
		}
		if ps.count == ps.total {
			return nil
		}
	}
}

// checkAccount checks an account-bill page (see ErrInconsistent) and counts its rows; a
// TotalCount that changed is a *bill.MovedError.
func (ps *pages) checkAccount(page int, data *answerPage) error {
	rows := data.rows
	switch {
	case data.total < 0:
		return ps.inconsistent(page, "TotalCount is %d, below zero", data.total)
	case data.total > MaxTotalCount:
		return ps.inconsistent(page, "TotalCount is %d, above the %d rows a day's bill can have", data.total, MaxTotalCount)
	case data.pageNum != 0 && data.pageNum != page:
		return ps.inconsistent(page, "asked for page %d, the answer is page %d", page, data.pageNum)
	case len(rows) > PageSize:
		return ps.inconsistent(page, "%d rows on a page of at most %d", len(rows), PageSize)
	}
	if msg := checkDay(data, ps.day); msg != "" {
		return ps.inconsistent(page, "%s", msg)
	}
	if err := ps.sameTotal(page, data.total); err != nil {
		return err
	}
	if err := ps.add(page, rows, "; the API may ignore PageNum"); err != nil {
		return err
	}
	count, total := ps.count, ps.total
	switch {
	case count > total && page == 1:
		return ps.inconsistent(page, "page has %d items but TotalCount is %d", len(rows), total)
	case count > total:
		// TotalCount is the same on every page so far (a change is a MovedError, above):
		// the pages hold more rows than the answers say the day has.
		return ps.inconsistent(page, "%d rows read by this page (%d on it) but TotalCount is %d", count, len(rows), total)
	case count < total && len(rows) == 0:
		// TotalCount promises more, but the page is empty: never report a partial day.
		return ps.inconsistent(page, "empty page with %d of %d rows read; try later", count, total)
	}
	return nil
}

// shape says that a part of an answer is not what the API sends, cleaned for a message.
func (c *Client) shape(what string, err error) string {
	return c.redact.clean("the answer's "+what+" is not in the API's shape: "+err.Error(), maxMessage)
}

// rawRef is a JSON value as a slice of the document it is in (json.RawMessage copies).
type rawRef []byte

func (r *rawRef) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// accountPage calls QueryAccountBill for one page of size rows and reads its answer (readAnswer).
func (c *Client) accountPage(ctx context.Context, day calendar.Day, page, size int) (*answerPage, error) {
	var read *answerPage
	err := c.query(ctx, []any{"bill", "account", "day", day.String(), "page", page}, func() requests.AcsRequest {
		req := bssopenapi.CreateQueryAccountBillRequest()
		req.BillingCycle = day.Cycle()
		req.BillingDate = day.String()
		req.Granularity = "DAILY"
		req.IsGroupByProduct = requests.NewBoolean(true)
		req.PageNum = requests.NewInteger(page)
		req.PageSize = requests.NewInteger(size)
		if c.owner != 0 {
			req.BillOwnerId = requests.NewInteger64(c.owner)
		}
		return req
	}, func(top map[string][]byte) (pr *problem) {
		read, pr = c.readAnswer(bill.Account, top)
		return pr
	})
	return read, err
}

// query calls the API until it answers with success and an answer that check accepts
// (judge), pacing and retrying as the policy says. what are log attributes naming the
// page. Throttling slows the pacer down and is retried after one of its intervals; other
// retryable errors back off exponentially.
func (c *Client) query(ctx context.Context, what []any, build func() requests.AcsRequest, check func(map[string][]byte) *problem) error {
	for attempt := 1; ; attempt++ {
		if err := c.pace.Wait(ctx); err != nil {
			return err
		}
		req := build()
		// A CommonResponse: the SDK keeps the body and never reads it into its structs
		// (see answerPage).
		resp := responses.NewCommonResponse()
		err := c.call(ctx, req, resp)
		var apiErr *APIError
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			apiErr = c.redact.classify(err)
		default:
			apiErr = c.judge(resp, check)
		}
		c.count(req.GetActionName(), apiErr)
		if apiErr == nil {
			c.pace.OK()
			return nil
		}
		throttled := strings.HasPrefix(apiErr.Code, "Throttling")
		if throttled {
			c.pace.Throttled()
		}
		if !apiErr.Retryable() || attempt >= c.policy.Attempts {
			if apiErr.Retryable() {
				return fmt.Errorf("gave up after %d attempts: %w", attempt, apiErr)
			}
			return apiErr
		}
		wait := retry.Backoff{Base: c.policy.BaseBackoff, Max: c.policy.MaxBackoff}.Delay(attempt)
		if throttled {
			wait = 0 // the pacer, slowed down, spaces the retry
		}
		c.log.Warn("bill query failed, retrying", append(what, "code", apiErr.Code,
			"request_id", apiErr.RequestID, "attempt", attempt, "wait", wait.String(), "rate", c.pace.Rate())...)
		if err := retry.Sleep(ctx, c.clock, wait); err != nil {
			return err
		}
	}
}

// judge reads an answer with a 2xx status: nil when it says Success and check accepts its
// members, else the error that says why (a final problem is a Request error, not retried).
func (c *Client) judge(resp responses.AcsResponse, check func(map[string][]byte) *problem) *APIError {
	status := resp.GetHttpStatus()
	top, env, err := envelopeOf(resp.GetHttpContentBytes())
	if err != nil {
		return &APIError{Class: Retryable, Code: unexpectedResponse, Message: c.shape("body", err), HTTPStatus: status}
	}
	requestID := c.redact.clean(env.requestID, maxID)
	if !env.success {
		code := c.redact.clean(env.code, maxCode)
		class, hint := classifyCode(code, status)
		if code == "" {
			class = Retryable
		}
		return &APIError{Class: class, Code: orDefault(code, "Success=false"), Message: c.redact.clean(withoutStringToSign(env.message), maxMessage),
			RequestID: requestID, HTTPStatus: status, Hint: hint}
	}
	if pr := check(top); pr != nil {
		e := &APIError{Class: Retryable, Code: unexpectedResponse, Message: pr.msg, RequestID: requestID, HTTPStatus: status}
		if pr.final {
			e.Class, e.Code = Request, unexpectedShape
		}
		return e
	}
	return nil
}

func orHealth(h *ops.Health) *ops.Health {
	if h == nil {
		return &ops.Health{}
	}
	return h
}

// count records one API call's outcome in the metrics, and in the readiness: credentials
// the API refused make the process not ready until a call succeeds.
func (c *Client) count(action string, apiErr *APIError) {
	outcome := ops.OutcomeOK
	switch {
	case apiErr == nil:
		c.health.CredentialsRefused(c.account, "")
	case strings.HasPrefix(apiErr.Code, "Throttling"):
		outcome = ops.OutcomeThrottled
	case apiErr.Retryable():
		outcome = ops.OutcomeServerError
	default:
		outcome = ops.OutcomeRefused
		if apiErr.Class == Credentials {
			c.health.CredentialsRefused(c.account, apiErr.Code+": "+apiErr.Hint)
		}
	}
	c.ops.APIRequests.WithLabelValues(c.account, action, outcome).Inc()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// call runs one SDK request. The SDK takes no context: the call runs on its own goroutine
// and is abandoned (it ends by its own timeouts) when ctx is cancelled. A panic on that
// goroutine is an sdkPanic error (classified as a retryable UnexpectedResponse).
func (c *Client) call(ctx context.Context, req requests.AcsRequest, resp responses.AcsResponse) error {
	req.SetScheme(c.ep.Scheme)
	req.SetDomain(c.ep.Host)
	timeout := c.policy.ReadTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := dl.Sub(c.clock.Now()); left < timeout && left > 0 {
			timeout = left
		}
	}
	req.SetReadTimeout(timeout)
	req.SetConnectTimeout(c.policy.ConnectTimeout)

	done := make(chan error, 1)
	go func() {
		defer func() {
			// The SDK panics on some answers (NewServerError's unchecked type assertions,
			// which the guard screens for); no answer may end the process.
			if p := recover(); p != nil {
				done <- &sdkPanic{value: p}
			}
		}()
		done <- c.sdk.DoAction(req, resp)
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-done:
		return err
	}
}

// pageHash names a page's rows, in order and in every member, to notice a page that
// comes again; ok is false for an empty page.
func pageHash(rows []bill.Row) (h uint64, ok bool) {
	if len(rows) == 0 {
		return 0, false
	}
	sum := sha256.New()
	var b []byte
	for _, r := range rows {
		b, _ = r.AppendData(b[:0])
		sum.Write(b)
	}
	return binary.BigEndian.Uint64(sum.Sum(nil)[:8]), true
}

// endpointsOnce fills the SDK's endpoint map once: the SDK fills it, unguarded, when a
// client is made, and clients made at once (in-process daemons of the tests) raced on it.
var endpointsOnce sync.Once
