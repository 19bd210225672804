package billing_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

var day = calendar.Day{Year: 2026, Month: time.November, Day: 3}

// fastPolicy keeps the production shape with waits short enough for tests.
var fastPolicy = billing.Policy{Attempts: 4, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	RequestsPerSec: 1000, ReadTimeout: 2 * time.Second, ConnectTimeout: time.Second}

func newClient(t *testing.T, endpoint, id, secret string, pol billing.Policy, rt http.RoundTripper) *billing.Client {
	t.Helper()
	return newClientWith(t, clientOpts{endpoint: endpoint, id: id, secret: secret, pol: pol, rt: rt})
}

// clientOpts are the inputs of a test client; zero values are "none" (logs discarded,
// the real clock, no STS token, the production transport).
type clientOpts struct {
	endpoint, id, secret, token string
	pol                         billing.Policy
	rt                          http.RoundTripper
	log                         io.Writer
	clock                       clockwork.Clock
}

func newClientWith(t testing.TB, o clientOpts) *billing.Client {
	c, err := buildClient(o)
	require.NoError(t, err)
	return c
}

func buildClient(o clientOpts) (*billing.Client, error) {
	u, err := url.Parse(o.endpoint)
	if err != nil {
		return nil, err
	}
	if o.log == nil {
		o.log = io.Discard
	}
	if o.clock == nil {
		o.clock = clockwork.NewRealClock()
	}
	f := billing.NewFactory(billing.Params{Options: billing.Options{Endpoint: config.Endpoint{Scheme: u.Scheme, Host: u.Host}},
		Clock: o.clock, Logger: slog.New(slog.NewJSONHandler(o.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Policy: &o.pol, Transport: o.rt})
	return f.For(config.Account{Name: config.DefaultAccount, Credentials: config.Credentials{
		AccessKeyID: o.id, AccessKeySecret: config.Secret(o.secret), SecurityToken: config.Secret(o.token)}})
}

// fetchDay collects the day's account bill through Stream (a bill that moves while it is
// read is Stream's error: the job reads it again, not the client).
func fetchDay(ctx context.Context, c *billing.Client, day calendar.Day) ([]billing.Row, error) {
	var rows []billing.Row
	err := c.Stream(ctx, bill.Account, day, func(p billing.Page) error {
		for _, r := range p.Rows {
			rows = append(rows, r.(billing.Row))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func startFake(t *testing.T, opts bssfake.Options) *bssfake.Server {
	t.Helper()
	f := bssfake.New(opts)
	require.NoError(t, f.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func TestStream_ReadsEveryPageWithTheRightParameters(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 650, 1))
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)

	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	require.Len(t, rows, 650)
	want := f.Day(day.String())
	for i := range want {
		assert.Equal(t, want[i].OwnerID, rows[i].OwnerID)
		assert.Equal(t, want[i].ProductName, rows[i].ProductName)
		sent, _ := json.Marshal(want[i].PretaxGrossAmount) // the amount's text in the fake's answer
		assert.Equal(t, string(sent), string(rows[i].PretaxGrossAmount), "the amount as the API wrote it")
	}
	reqs := f.Requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		assert.Equal(t, 200, r.Status)
		p := r.Params
		assert.Equal(t, "QueryAccountBill", p.Get("Action"))
		assert.Equal(t, "2017-12-14", p.Get("Version"))
		assert.Equal(t, "DAILY", p.Get("Granularity"))
		assert.Equal(t, "true", p.Get("IsGroupByProduct"))
		assert.Equal(t, "2026-11", p.Get("BillingCycle"))
		assert.Equal(t, "2026-11-03", p.Get("BillingDate"))
		assert.Equal(t, "300", p.Get("PageSize"))
		assert.Equal(t, []string{"1", "2", "3"}[i], p.Get("PageNum"))
	}
}

func TestStream_EmptyDay(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	assert.Empty(t, rows)
	assert.Len(t, f.Requests(), 1)
}

func TestStream_RetriesThrottlingAnd5xxAndGarbage(t *testing.T) {
	for _, fault := range []bssfake.Fault{
		{Kind: bssfake.Throttle, Times: 3},
		{Kind: bssfake.ServerError, Status: 503, Times: 2, Page: 2},
		{Kind: bssfake.ServerError, Status: 500, Times: 1},
		{Kind: bssfake.Malformed, Times: 2, Page: 2},
		{Kind: bssfake.SuccessFalse, Times: 1, Page: 2},
	} {
		f := startFake(t, bssfake.Options{})
		f.SetDay(day.String(), bssfake.SampleDay(day.String(), 400, 2))
		f.Inject(fault)
		c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
		rows, err := fetchDay(context.Background(), c, day)
		require.NoError(t, err, "fault %+v", fault)
		assert.Len(t, rows, 400, "fault %+v", fault)
		assert.Len(t, f.Requests(), 2+fault.Times, "fault %+v", fault)
	}
}

func TestStream_GivesUpAfterAttemptsWithCodeAndRequestID(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.Inject(bssfake.Fault{Kind: bssfake.Throttle, Times: 100})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	_, err := fetchDay(context.Background(), c, day)
	var ae *billing.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Throttling.User", ae.Code)
	assert.NotEmpty(t, ae.RequestID)
	assert.Contains(t, err.Error(), "gave up after 4 attempts")
	assert.Contains(t, err.Error(), "RequestId "+ae.RequestID)
	assert.Len(t, f.Requests(), 4)
}

func TestStream_BadCredentialsAreNotRetriedAndSayWhatToFix(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	cases := []struct{ id, secret, code, hint string }{
		{"nobody", "testsecret", "InvalidAccessKeyId.NotFound", "check access_key_id"},
		{"testid", "wrong-secret-value", "SignatureDoesNotMatch", "check secret_access_Key"},
	}
	for _, tc := range cases {
		before := len(f.Requests())
		c := newClient(t, f.URL(), tc.id, tc.secret, fastPolicy, nil)
		_, err := fetchDay(context.Background(), c, day)
		var ae *billing.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, billing.Credentials, ae.Class)
		assert.Equal(t, tc.code, ae.Code)
		assert.Contains(t, err.Error(), tc.hint)
		assert.NotContains(t, err.Error(), tc.secret)
		assert.Len(t, f.Requests(), before+1, "no retry on %s", tc.code)
	}
}

// TotalCount changing while paging is the bill moving under the read: Stream stops there
// with a *bill.MovedError and never reads the bill again itself (the job does: see
// job.MaxReReads and job's TestRun_ABillThatMovesOnceIsReadAgainFromItsStart).
func TestStream_TotalCountChangingIsAMovedBill(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 700, 3))
	f.Inject(bssfake.Fault{Kind: bssfake.WrongTotal, Delta: 5, Page: 2})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	var pages []int
	err := c.Stream(context.Background(), bill.Account, day, func(p billing.Page) error {
		pages = append(pages, p.Number)
		return nil
	})
	require.ErrorIs(t, err, bill.ErrMoved)
	var moved *bill.MovedError
	require.ErrorAs(t, err, &moved)
	assert.Equal(t, 2, moved.Page)
	assert.Equal(t, "the bill changed while paging: TotalCount 700 on page 1, 705 on page 2", err.Error())
	assert.NotErrorIs(t, err, billing.ErrInconsistent)
	assert.Equal(t, []int{1}, pages, "page 1 was given, page 2 not")
	assert.Len(t, f.Requests(), 2, "pages 1 and 2, not read again")
}

// The API refusing a NextToken (it expires) is the bill moving under the read too: the
// instance bill can only be read again from an empty token, and Stream leaves that to the
// caller.
func TestStream_ARefusedNextTokenIsAMovedBill(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetInstanceDay(day.String(), bssfake.SampleInstanceDay(day.String(), 700, 3))
	f.Inject(bssfake.Fault{Kind: bssfake.ExpireToken, Page: 2})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	rows := 0
	err := c.Stream(context.Background(), bill.Instance, day, func(p billing.Page) error {
		rows += len(p.Rows)
		return nil
	})
	var moved *bill.MovedError
	require.ErrorAs(t, err, &moved)
	assert.Equal(t, 2, moved.Page)
	assert.Contains(t, err.Error(), "the API refused the NextToken of page 2 (expired?): ")
	assert.Equal(t, 300, rows, "page 1 was given")
	assert.Len(t, f.Requests(), 2, "not read again")
}

func TestStream_EmptyPageBeforeTotalIsAnErrorNotAShortDay(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 500, 4))
	f.Inject(bssfake.Fault{Kind: bssfake.EmptyPage, Page: 2})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	_, err := fetchDay(context.Background(), c, day)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "empty page with 300 of 500 rows")
}

func TestStream_SlowReplyTimesOutAndIsRetried(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 10, 5))
	f.Inject(bssfake.Fault{Kind: bssfake.Slow, Delay: 3 * time.Second})
	pol := fastPolicy
	pol.ReadTimeout = 200 * time.Millisecond
	c := newClient(t, f.URL(), "testid", "testsecret", pol, nil)
	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	assert.Len(t, rows, 10)
}

func TestStream_CancelledContextStops(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.Inject(bssfake.Fault{Kind: bssfake.Slow, Delay: 5 * time.Second})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := fetchDay(ctx, c, day)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestStream_PacingStaysUnderTheAPIRateLimit(t *testing.T) {
	// The fake throttles beyond 10 requests/s, as the API does; 12 pages paced at half
	// that must not see a single Throttling answer (unpaced, they would arrive within
	// milliseconds). Half, not the default 10: the fake sees arrivals, and a loaded machine
	// delays one request's arrival but not the next one's; at 10/s the margin was 1% of an
	// interval (the test failed 1 in 3 runs beside a CPU burner). The pacer's own spacing
	// at its ceiling is TestPacer_SpacesRequestsFromTheLastStart's, on a fake clock.
	f := startFake(t, bssfake.Options{RateLimit: 10})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 12*300, 6))
	pol := fastPolicy
	pol.RequestsPerSec = billing.DefaultPolicy.RequestsPerSec / 2
	pol.Attempts = 1 // a throttled page would fail the day
	c := newClient(t, f.URL(), "testid", "testsecret", pol, nil)
	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	assert.Len(t, rows, 3600)
	for _, r := range f.Requests() {
		assert.Equal(t, 200, r.Status, r.Code)
	}
}

// httpmock: only the HTTP exchange matters here (status codes and bodies the fake
// cannot easily produce, and the scheme the SDK uses).

func mockClient(t *testing.T, scheme string) (*billing.Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	return newClient(t, scheme+"://business.aliyuncs.com", "id", "secret-xyz", fastPolicy, mt), mt
}

func TestStream_UsesHTTPSByDefault(t *testing.T) {
	c, mt := mockClient(t, "https")
	mt.RegisterResponder("POST", `=~^https://business\.aliyuncs\.com/`,
		httpmock.NewStringResponder(200, `{"Code":"Success","Success":true,"RequestId":"r1","Data":{"TotalCount":0,"BillingCycle":"2026-11","Items":{"Item":[]}}}`))
	_, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestStream_ProxyErrorPageIsRetriedThenReported(t *testing.T) {
	c, mt := mockClient(t, "https")
	mt.RegisterResponder("POST", `=~^https://business\.aliyuncs\.com/`,
		httpmock.NewStringResponder(502, `<html><body>Bad Gateway</body></html>`))
	_, err := fetchDay(context.Background(), c, day)
	var ae *billing.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 502, ae.HTTPStatus)
	assert.Equal(t, 4, mt.GetTotalCallCount())
}

func TestStream_NotAuthorizedSaysWhichPolicy(t *testing.T) {
	c, mt := mockClient(t, "https")
	mt.RegisterResponder("POST", `=~^https://business\.aliyuncs\.com/`,
		httpmock.NewStringResponder(400, `{"Code":"NotAuthorized","Message":"not authorized","RequestId":"R-9"}`))
	_, err := fetchDay(context.Background(), c, day)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AliyunBSSReadOnlyAccess")
	assert.Contains(t, err.Error(), "R-9")
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestStream_TransportErrorsNeverShowTheSignedURL(t *testing.T) {
	c, mt := mockClient(t, "https")
	mt.RegisterResponder("POST", `=~^https://business\.aliyuncs\.com/`, httpmock.NewErrorResponder(errors.New("connection reset")))
	_, err := fetchDay(context.Background(), c, day)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection reset")
	assert.False(t, strings.Contains(err.Error(), "Signature="), err.Error())
}
