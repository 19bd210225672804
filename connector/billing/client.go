// Package billing reads the daily account bill from the BSS OpenAPI (QueryAccountBill)
// with the Alibaba Cloud Go SDK: every page, paced under the API's rate limit, with
// retries on throttling and service faults, and errors that say what to fix.
package billing

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/bssopenapi"
	"go.uber.org/fx"
	"golang.org/x/time/rate"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// PageSize is the largest page QueryAccountBill serves.
const PageSize = 300

// Row is one line of the daily bill, grouped by product, as the API returns it.
type Row struct {
	AdjustAmount          float64
	BillAccountID         string
	BillAccountName       string
	BillingDate           string
	BizType               string
	CashAmount            float64
	CostUnit              string
	Currency              string
	DeductedByCashCoupons float64
	DeductedByCoupons     float64
	DeductedByPrepaidCard float64
	InvoiceDiscount       float64
	OutstandingAmount     float64
	OwnerID               string
	OwnerName             string
	PaymentAmount         float64
	PipCode               string
	PretaxAmount          float64
	PretaxGrossAmount     float64
	ProductCode           string
	ProductName           string
	SubscriptionType      string
}

func rowOf(it bssopenapi.Item) Row {
	return Row{
		AdjustAmount: it.AdjustAmount, BillAccountID: it.BillAccountID, BillAccountName: it.BillAccountName,
		BillingDate: it.BillingDate, BizType: it.BizType, CashAmount: it.CashAmount, CostUnit: it.CostUnit,
		Currency: it.Currency, DeductedByCashCoupons: it.DeductedByCashCoupons, DeductedByCoupons: it.DeductedByCoupons,
		DeductedByPrepaidCard: it.DeductedByPrepaidCard, InvoiceDiscount: it.InvoiceDiscount,
		OutstandingAmount: it.OutstandingAmount, OwnerID: it.OwnerID, OwnerName: it.OwnerName,
		PaymentAmount: it.PaymentAmount, PipCode: it.PipCode, PretaxAmount: it.PretaxAmount,
		PretaxGrossAmount: it.PretaxGrossAmount, ProductCode: it.ProductCode, ProductName: it.ProductName,
		SubscriptionType: it.SubscriptionType,
	}
}

// Policy sets retries, pacing and timeouts. The zero value is replaced by DefaultPolicy.
type Policy struct {
	Attempts       int           // calls per page before giving up (throttling, 5xx, timeouts)
	BaseBackoff    time.Duration // first wait; doubles each attempt, with full jitter
	MaxBackoff     time.Duration
	RequestsPerSec float64 // pacing, below the API's 10/s per account
	ReadTimeout    time.Duration
	ConnectTimeout time.Duration
	Restarts       int // times a day is re-read from page 1 when TotalCount changes under us
}

// DefaultPolicy is what production uses.
var DefaultPolicy = Policy{
	Attempts: 8, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second,
	RequestsPerSec: 8, ReadTimeout: 30 * time.Second, ConnectTimeout: 10 * time.Second, Restarts: 3,
}

// Client reads bills. Safe for use by one day at a time.
type Client struct {
	sdk     *bssopenapi.Client
	ep      config.Endpoint
	clock   clock.Clock
	log     *slog.Logger
	policy  Policy
	limiter *rate.Limiter
}

// Params are the inputs of New.
type Params struct {
	fx.In
	Config    *config.Config
	Clock     clock.Clock
	Logger    *slog.Logger
	Policy    *Policy           `optional:"true"`
	Transport http.RoundTripper `name:"billing" optional:"true"` // tests: httpmock
}

// New builds a client for the configured endpoint and credentials.
func New(p Params) (*Client, error) {
	pol := DefaultPolicy
	if p.Policy != nil {
		pol = *p.Policy
	}
	cfg := sdk.NewConfig().WithScheme(strings.ToUpper(p.Config.Endpoint.Scheme)).WithAutoRetry(false)
	if p.Transport != nil {
		cfg.Transport = p.Transport
	} else {
		cfg.HttpTransport = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: pol.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: pol.ConnectTimeout,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	var cred auth.Credential
	if p.Config.SecurityToken != "" {
		cred = credentials.NewStsTokenCredential(p.Config.AccessKeyID, p.Config.AccessKeySecret.Reveal(), p.Config.SecurityToken.Reveal())
	} else {
		cred = credentials.NewAccessKeyCredential(p.Config.AccessKeyID, p.Config.AccessKeySecret.Reveal())
	}
	c, err := bssopenapi.NewClientWithOptions(region(p.Config.Endpoint.Host), cfg, cred)
	if err != nil {
		return nil, fmt.Errorf("create BSS client: %w", err)
	}
	return &Client{
		sdk: c, ep: p.Config.Endpoint, clock: p.Clock, log: p.Logger, policy: pol,
		limiter: rate.NewLimiter(rate.Limit(pol.RequestsPerSec), 1),
	}, nil
}

// region is only sent as the RegionId parameter; the endpoint decides where requests go.
func region(host string) string {
	if strings.Contains(host, "ap-southeast-1") {
		return "ap-southeast-1"
	}
	return "cn-hangzhou"
}

// FetchDay returns every row of the day's bill, reading every page. It fails rather than
// return a partial day.
func (c *Client) FetchDay(ctx context.Context, day Day) ([]Row, error) {
	for restart := 0; ; restart++ {
		rows, changed, err := c.fetchPages(ctx, day)
		if err != nil {
			return nil, err
		}
		if !changed {
			return rows, nil
		}
		if restart >= c.policy.Restarts {
			return nil, fmt.Errorf("query bill %s: TotalCount kept changing while paging (%d re-reads); the bill is being updated, try later", day, restart)
		}
		c.log.Warn("bill changed while paging, reading the day again from page 1", "day", day.String(), "restart", restart+1)
	}
}

// fetchPages reads pages 1..n. changed is true when TotalCount moved between pages, in which
// case rows may have shifted across page boundaries and the caller reads the day again.
func (c *Client) fetchPages(ctx context.Context, day Day) (rows []Row, changed bool, err error) {
	total := -1
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		data, err := c.queryPage(ctx, day, page)
		if err != nil {
			return nil, false, fmt.Errorf("query bill %s page %d: %w", day, page, err)
		}
		if total == -1 {
			total = data.TotalCount
			rows = make([]Row, 0, total)
		} else if data.TotalCount != total {
			return nil, true, nil
		}
		for _, it := range data.Items.Item {
			rows = append(rows, rowOf(it))
		}
		c.log.Debug("page read", "day", day.String(), "page", page, "rows", len(data.Items.Item), "total", total)
		switch {
		case len(rows) == total:
			return rows, false, nil
		case len(rows) > total:
			return nil, true, nil
		case len(data.Items.Item) == 0:
			// TotalCount promises more, but the page is empty: never report a partial day.
			return nil, false, fmt.Errorf("query bill %s page %d: empty page with %d of %d rows read; the API's data is inconsistent, try later", day, page, len(rows), total)
		}
	}
}

// queryPage calls QueryAccountBill for one page, pacing and retrying as the policy says.
func (c *Client) queryPage(ctx context.Context, day Day, page int) (*bssopenapi.DataInQueryAccountBill, error) {
	for attempt := 1; ; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, err
		}
		resp, err := c.call(ctx, day, page)
		var apiErr *APIError
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			apiErr = classify(err)
		case !resp.Success:
			kind, hint := classifyCode(resp.Code, resp.GetHttpStatus())
			if resp.Code == "" {
				kind = Retryable
			}
			apiErr = &APIError{Kind: kind, Code: orDefault(resp.Code, "Success=false"), Message: resp.Message, RequestID: resp.RequestId, HTTPStatus: resp.GetHttpStatus(), Hint: hint}
		default:
			return &resp.Data, nil
		}
		if !apiErr.Retryable() || attempt >= c.policy.Attempts {
			if apiErr.Retryable() {
				return nil, fmt.Errorf("gave up after %d attempts: %w", attempt, apiErr)
			}
			return nil, apiErr
		}
		wait := c.backoff(attempt)
		c.log.Warn("bill query failed, retrying", "day", day.String(), "page", page, "code", apiErr.Code,
			"request_id", apiErr.RequestID, "attempt", attempt, "wait", wait.String())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.clock.After(wait):
		}
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// backoff is exponential with full jitter: a random wait in [base*2^(n-1)/2, base*2^(n-1)], capped.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.policy.BaseBackoff << (attempt - 1)
	if d > c.policy.MaxBackoff || d <= 0 {
		d = c.policy.MaxBackoff
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// call runs one SDK request. The SDK takes no context: the call runs on its own goroutine
// and is abandoned (it ends by its own timeouts) when ctx is cancelled.
func (c *Client) call(ctx context.Context, day Day, page int) (*bssopenapi.QueryAccountBillResponse, error) {
	req := bssopenapi.CreateQueryAccountBillRequest()
	req.Scheme = c.ep.Scheme
	req.Domain = c.ep.Host
	req.BillingCycle = day.Cycle()
	req.BillingDate = day.String()
	req.Granularity = "DAILY"
	req.IsGroupByProduct = requests.NewBoolean(true)
	req.PageNum = requests.NewInteger(page)
	req.PageSize = requests.NewInteger(PageSize)
	timeout := c.policy.ReadTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := dl.Sub(c.clock.Now()); left < timeout && left > 0 {
			timeout = left
		}
	}
	req.SetReadTimeout(timeout)
	req.SetConnectTimeout(c.policy.ConnectTimeout)

	type result struct {
		resp *bssopenapi.QueryAccountBillResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.sdk.QueryAccountBill(req)
		done <- result{resp, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		return r.resp, r.err
	}
}
