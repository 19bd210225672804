// Package contract is one suite of the BSS OpenAPI behaviour that the connector relies on:
// pagination, grouping by product, error codes and the RPC signature. Run runs it against
// any implementation: bssfake in every `bazel test`, and the real API when credentials are
// set (the manual target in ./realapi). Every call it makes is read-only.
package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/bssopenapi"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// wallClock is the connector's clock package: the one place that reads the time.
var wallClock = clock.New()

// Harness is one implementation of the API under test.
type Harness struct {
	Endpoint    string // full URL: https://business.aliyuncs.com or http://127.0.0.1:PORT
	KeyID       string
	Secret      string
	Day         calendar.Day // a day whose bill is read
	MinRows     int          // the day has at least this many rows (pagination needs > 1 page to be tested fully)
	RegionID    string
	Fake        bool // checks only a fake can offer (exact row counts)
	ExactRows   int  // with Fake: the day's exact number of rows
	ReplayCheck bool // replaying a signed request must be refused (nonce reuse)
}

// Run runs the whole suite as subtests.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("PaginationCoversTotalCount", func(t *testing.T) { paginationCoversTotalCount(t, newHarness(t)) })
	t.Run("GroupByProductFillsProductFields", func(t *testing.T) { groupByProduct(t, newHarness(t)) })
	t.Run("UnknownAccessKeyIsRefused", func(t *testing.T) { unknownKey(t, newHarness(t)) })
	t.Run("WrongSecretIsASignatureMismatch", func(t *testing.T) { wrongSecret(t, newHarness(t)) })
	t.Run("PageSizeAbove300IsRefused", func(t *testing.T) { pageSizeLimit(t, newHarness(t)) })
	t.Run("DailyNeedsBillingDate", func(t *testing.T) { dailyNeedsDate(t, newHarness(t)) })
	t.Run("HandSignedRequestIsAcceptedAndItsReplayRefused", func(t *testing.T) { handSigned(t, newHarness(t)) })
	t.Run("ConnectorClientReadsTheWholeDay", func(t *testing.T) { connectorClient(t, newHarness(t)) })
}

func sdkClient(t *testing.T, h Harness, id, secret string) (*bssopenapi.Client, *url.URL) {
	t.Helper()
	u, err := url.Parse(h.Endpoint)
	require.NoError(t, err)
	c, err := bssopenapi.NewClientWithOptions(h.RegionID, sdk.NewConfig().WithScheme(strings.ToUpper(u.Scheme)), credentialsOf(id, secret))
	require.NoError(t, err)
	return c, u
}

func request(u *url.URL, day calendar.Day, page, size int, group bool) *bssopenapi.QueryAccountBillRequest {
	r := bssopenapi.CreateQueryAccountBillRequest()
	r.Scheme, r.Domain = u.Scheme, u.Host
	r.BillingCycle = day.Cycle()
	r.BillingDate = day.String()
	r.Granularity = "DAILY"
	r.IsGroupByProduct = requests.NewBoolean(group)
	r.PageNum = requests.NewInteger(page)
	r.PageSize = requests.NewInteger(size)
	r.SetReadTimeout(30 * time.Second)
	return r
}

func paginationCoversTotalCount(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret)
	const size = 50 // small pages, so that even a small account's day spans several
	first, err := c.QueryAccountBill(request(u, h.Day, 1, size, true))
	require.NoError(t, err)
	require.True(t, first.Success, first.Code)
	total := first.Data.TotalCount
	require.GreaterOrEqual(t, total, h.MinRows)
	assert.Equal(t, 1, first.Data.PageNum)
	assert.Equal(t, size, first.Data.PageSize)
	assert.NotEmpty(t, first.RequestId)
	seen := len(first.Data.Items.Item)
	for page := 2; seen < total; page++ {
		resp, err := c.QueryAccountBill(request(u, h.Day, page, size, true))
		require.NoError(t, err)
		require.True(t, resp.Success)
		require.NotEmpty(t, resp.Data.Items.Item, "page %d empty at %d of %d", page, seen, total)
		assert.LessOrEqual(t, len(resp.Data.Items.Item), size)
		assert.Equal(t, total, resp.Data.TotalCount)
		seen += len(resp.Data.Items.Item)
	}
	assert.Equal(t, total, seen)
	if h.Fake {
		assert.Equal(t, h.ExactRows, total)
	}
	// A page past the end is empty, not an error.
	past, err := c.QueryAccountBill(request(u, h.Day, total/size+2, size, true))
	require.NoError(t, err)
	assert.Empty(t, past.Data.Items.Item)
}

func groupByProduct(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret)
	grouped, err := c.QueryAccountBill(request(u, h.Day, 1, 20, true))
	require.NoError(t, err)
	if len(grouped.Data.Items.Item) == 0 {
		require.False(t, h.Fake, "the fake day has rows")
		t.Skip("real API (ALIBABA_CLOUD_ACCESS_KEY_ID account): the day has no rows, nothing to check")
	}
	for _, it := range grouped.Data.Items.Item {
		assert.NotEmpty(t, it.ProductCode)
		assert.NotEmpty(t, it.SubscriptionType)
		assert.Equal(t, h.Day.String(), it.BillingDate)
		assert.NotEmpty(t, it.OwnerID)
	}
	// The raw JSON names the owner field OwnerID (the event renames it OwnerId).
	assert.Contains(t, grouped.GetHttpContentString(), `"OwnerID"`)
	flat, err := c.QueryAccountBill(request(u, h.Day, 1, 20, false))
	require.NoError(t, err)
	for _, it := range flat.Data.Items.Item {
		assert.Empty(t, it.ProductCode)
	}
}

func serverError(t *testing.T, err error) *sdkerrors.ServerError {
	t.Helper()
	require.Error(t, err)
	se, ok := err.(*sdkerrors.ServerError)
	require.True(t, ok, "want a server error, got %T: %v", err, err)
	assert.NotEmpty(t, se.RequestId())
	return se
}

func unknownKey(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, "LTAI-contract-no-such-key", "whatever")
	_, err := c.QueryAccountBill(request(u, h.Day, 1, 20, true))
	se := serverError(t, err)
	assert.Equal(t, "InvalidAccessKeyId.NotFound", se.ErrorCode())
	assert.Equal(t, 404, se.HttpStatus())
}

func wrongSecret(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret+"-wrong")
	_, err := c.QueryAccountBill(request(u, h.Day, 1, 20, true))
	se := serverError(t, err)
	assert.Equal(t, "SignatureDoesNotMatch", se.ErrorCode())
	assert.Equal(t, 400, se.HttpStatus())
}

func pageSizeLimit(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret)
	ok, err := c.QueryAccountBill(request(u, h.Day, 1, 300, true))
	require.NoError(t, err)
	assert.True(t, ok.Success)
	_, err = c.QueryAccountBill(request(u, h.Day, 1, 301, true))
	se := serverError(t, err)
	assert.Equal(t, 400, se.HttpStatus())
	assert.True(t, strings.HasPrefix(se.ErrorCode(), "InvalidParameter"), se.ErrorCode())
}

func dailyNeedsDate(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret)
	r := request(u, h.Day, 1, 20, true)
	r.BillingDate = ""
	_, err := c.QueryAccountBill(r)
	se := serverError(t, err)
	assert.Equal(t, 400, se.HttpStatus())
	assert.Contains(t, []string{"MissingParameter", "InvalidParameter", "MissingBillingDate"}, strings.Split(se.ErrorCode(), ".")[0])
}

// handSigned signs a request with the algorithm as the contract describes it (not the
// SDK's code), so that the fake's verifier and our understanding are checked against the
// real service, then replays it byte for byte.
func handSigned(t *testing.T, h Harness) {
	u, err := url.Parse(h.Endpoint)
	require.NoError(t, err)
	p := url.Values{}
	for k, v := range map[string]string{
		"Action": "QueryAccountBill", "Version": "2017-12-14", "Format": "JSON", "AccessKeyId": h.KeyID,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": strconv.FormatInt(wallClock.Now().UnixNano(), 36) + "contract",
		"Timestamp": wallClock.Now().UTC().Format("2006-01-02T15:04:05Z"), "RegionId": h.RegionID,
		"BillingCycle": h.Day.Cycle(), "BillingDate": h.Day.String(), "Granularity": "DAILY",
		"IsGroupByProduct": "true", "PageNum": "1", "PageSize": "1",
	} {
		p.Set(k, v)
	}
	p.Set("Signature", bssfake.Sign("POST", p, h.Secret))
	post := func() (int, map[string]any) {
		resp, err := http.Post(u.Scheme+"://"+u.Host+"/", "application/x-www-form-urlencoded", strings.NewReader(p.Encode()))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := map[string]any{}
		require.NoError(t, json.Unmarshal(b, &m), string(b))
		return resp.StatusCode, m
	}
	status, body := post()
	require.Equal(t, 200, status, "%v", body)
	assert.Equal(t, true, body["Success"])
	if h.ReplayCheck {
		status, body = post()
		assert.Equal(t, 400, status)
		assert.Equal(t, "SignatureNonceUsed", body["Code"])
	}
}

func connectorClient(t *testing.T, h Harness) {
	u, err := url.Parse(h.Endpoint)
	require.NoError(t, err)
	pol := billing.DefaultPolicy
	pol.BaseBackoff = 10 * time.Millisecond
	c, err := billing.New(billing.Params{
		Config: &config.Config{AccessKeyID: h.KeyID, AccessKeySecret: config.Secret(h.Secret),
			Endpoint: config.Endpoint{Scheme: u.Scheme, Host: u.Host}},
		Clock: clockwork.NewRealClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Policy: &pol,
	})
	require.NoError(t, err)
	rows, err := c.FetchDay(context.Background(), h.Day)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(rows), h.MinRows)
	if h.Fake {
		assert.Len(t, rows, h.ExactRows)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		key := fmt.Sprint(r.BillAccountID, r.OwnerID, r.ProductCode, r.PipCode, r.SubscriptionType, r.BizType, r.CostUnit)
		assert.False(t, seen[key], "row %s twice", key)
		seen[key] = true
	}
}

func credentialsOf(id, secret string) auth.Credential {
	return credentials.NewAccessKeyCredential(id, secret)
}
