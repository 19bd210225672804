// Package contract is one suite of the BSS OpenAPI behaviour that the connector relies on:
// pagination (QueryAccountBill's PageNum, DescribeInstanceBill's NextToken), grouping by
// product, the instance bill's fields, error codes and the RPC signature. Run runs it against
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

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

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

	// DescribeInstanceBill reads Day too.
	MinInstanceRows   int // Day's instance bill has at least this many rows
	ExactInstanceRows int // with Fake: Day's exact number of instance bill rows

	// Clock gives the time of the requests the suite signs by hand (their Timestamp and
	// SignatureNonce): the real clock (clock.New()), or the implementation's.
	Clock clock.Clock
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
	t.Run("InstancePagingByNextTokenCoversTheDay", func(t *testing.T) { instancePaging(t, newHarness(t)) })
	t.Run("InstanceMaxResultsAbove300IsRefused", func(t *testing.T) { instanceMaxResults(t, newHarness(t)) })
	t.Run("InstanceStaleNextTokenIsRefused", func(t *testing.T) { instanceStaleToken(t, newHarness(t)) })
	t.Run("InstanceItemsHaveTheFieldsTheConnectorReads", func(t *testing.T) { instanceFields(t, newHarness(t)) })
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
	require.NotNil(t, h.Clock, "Harness.Clock")
	now := h.Clock.Now()
	p := url.Values{}
	for k, v := range map[string]string{
		"Action": "QueryAccountBill", "Version": "2017-12-14", "Format": "JSON", "AccessKeyId": h.KeyID,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": strconv.FormatInt(now.UnixNano(), 36) + "contract",
		"Timestamp": now.UTC().Format("2006-01-02T15:04:05Z"), "RegionId": h.RegionID,
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
	// As production makes it: the factory of the endpoint, asked for the client of an account.
	f := billing.NewFactory(billing.Params{Options: billing.Options{Endpoint: config.Endpoint{Scheme: u.Scheme, Host: u.Host}},
		Clock: clockwork.NewRealClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Policy: &pol})
	c, err := f.For(config.Account{Name: config.DefaultAccount,
		Credentials: config.Credentials{AccessKeyID: h.KeyID, AccessKeySecret: config.Secret(h.Secret)}})
	require.NoError(t, err)
	var rows []billing.Row
	err = c.Stream(context.Background(), bill.Account, h.Day, func(p billing.Page) error {
		for _, r := range p.Rows {
			rows = append(rows, r.(billing.Row))
		}
		return nil
	})
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

// instanceRequest asks for one page of h.Day's instance bill, per billing item.
func instanceRequest(u *url.URL, day calendar.Day, size int, next string) *bssopenapi.DescribeInstanceBillRequest {
	r := bssopenapi.CreateDescribeInstanceBillRequest()
	r.Scheme, r.Domain = u.Scheme, u.Host
	r.BillingCycle = day.Cycle()
	r.BillingDate = day.String()
	r.Granularity = "DAILY"
	r.IsBillingItem = requests.NewBoolean(true)
	r.MaxResults = requests.NewInteger(size)
	r.NextToken = next
	r.SetReadTimeout(30 * time.Second)
	return r
}

// instancePages reads h.Day's instance bill by NextToken at size rows a page, giving each
// answer to fn, until NextToken is empty; it returns the number of calls.
func instancePages(t *testing.T, c *bssopenapi.Client, u *url.URL, day calendar.Day, size int,
	fn func(*bssopenapi.DescribeInstanceBillResponse)) int {
	t.Helper()
	next := ""
	for calls := 1; ; calls++ {
		resp, err := c.DescribeInstanceBill(instanceRequest(u, day, size, next))
		require.NoError(t, err)
		require.True(t, resp.Success, resp.Code)
		assert.NotEmpty(t, resp.RequestId)
		fn(resp)
		if resp.Data.NextToken == "" {
			return calls
		}
		require.NotEqual(t, next, resp.Data.NextToken, "call %d: NextToken does not advance", calls)
		require.Less(t, calls, 100_000, "NextToken never ends")
		next = resp.Data.NextToken
	}
}

func instanceKey(it bssopenapi.Item) string {
	return fmt.Sprint(it.InstanceID, "|", it.BillingItemCode, "|", it.SubscriptionType, "|", it.BillingDate)
}

func instancePaging(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret)
	const size = 300 // the connector's page size
	seen := map[string]bool{}
	total := -1
	instancePages(t, c, u, h.Day, size, func(resp *bssopenapi.DescribeInstanceBillResponse) {
		assert.LessOrEqual(t, len(resp.Data.Items), size)
		if total < 0 {
			total = resp.Data.TotalCount
		}
		for _, it := range resp.Data.Items {
			k := instanceKey(it)
			assert.False(t, seen[k], "row %s twice", k)
			seen[k] = true
		}
	})
	assert.GreaterOrEqual(t, len(seen), h.MinInstanceRows)
	if h.Fake {
		assert.Equal(t, h.ExactInstanceRows, len(seen))
		assert.Equal(t, h.ExactInstanceRows, total, "TotalCount is the day's row count")
	} else if total != len(seen) {
		t.Logf("real API: TotalCount %d, %d distinct rows read", total, len(seen))
	}
}

func instanceMaxResults(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret)
	ok, err := c.DescribeInstanceBill(instanceRequest(u, h.Day, 300, ""))
	require.NoError(t, err)
	assert.True(t, ok.Success)
	_, err = c.DescribeInstanceBill(instanceRequest(u, h.Day, 301, ""))
	se := serverError(t, err)
	assert.Equal(t, 400, se.HttpStatus())
	assert.True(t, strings.HasPrefix(se.ErrorCode(), "InvalidParameter"), se.ErrorCode())
}

// instanceStaleToken uses the first NextToken, then the second, then the first again:
// the API accepts only an empty NextToken or the one the last call returned.
func instanceStaleToken(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret)
	size := 300
	first, err := c.DescribeInstanceBill(instanceRequest(u, h.Day, size, ""))
	require.NoError(t, err)
	if total := first.Data.TotalCount; total <= 2*size {
		// Pages small enough for three of them, if the day has three rows.
		if size = total / 3; size < 1 {
			require.False(t, h.Fake, "the fake day has rows")
			t.Skipf("the day has %d instance bill rows: fewer than 3 pages, no second NextToken to use", total)
		}
		first, err = c.DescribeInstanceBill(instanceRequest(u, h.Day, size, ""))
		require.NoError(t, err)
	}
	token1 := first.Data.NextToken
	if token1 == "" {
		t.Skipf("one page of %d rows at MaxResults %d: no NextToken", first.Data.TotalCount, size)
	}
	second, err := c.DescribeInstanceBill(instanceRequest(u, h.Day, size, token1))
	require.NoError(t, err)
	token2 := second.Data.NextToken
	if token2 == "" {
		t.Skipf("two pages of %d rows at MaxResults %d: no second NextToken", first.Data.TotalCount, size)
	}
	_, err = c.DescribeInstanceBill(instanceRequest(u, h.Day, size, token2))
	require.NoError(t, err)
	_, err = c.DescribeInstanceBill(instanceRequest(u, h.Day, size, token1))
	se := serverError(t, err)
	assert.Equal(t, 400, se.HttpStatus())
	assert.True(t, strings.HasPrefix(se.ErrorCode(), "InvalidParameter"), se.ErrorCode())
	if h.Fake {
		assert.Equal(t, bssfake.CodeInvalidNextToken, se.ErrorCode())
	} else {
		t.Logf("real API: a stale NextToken is %s: %s", se.ErrorCode(), se.Message())
	}
}

// instanceFields checks what the connector reads of an instance bill row: its day, an
// instance or product, and a Tag of "key:value" pairs separated by ';' (or none).
func instanceFields(t *testing.T, h Harness) {
	c, u := sdkClient(t, h, h.KeyID, h.Secret)
	rows := 0
	instancePages(t, c, u, h.Day, 300, func(resp *bssopenapi.DescribeInstanceBillResponse) {
		if rows == 0 && len(resp.Data.Items) > 0 {
			// Data.Items is an array of rows, not QueryAccountBill's Items.Item.
			var raw struct {
				Data struct{ Items []map[string]any }
			}
			require.NoError(t, json.Unmarshal(resp.GetHttpContentBytes(), &raw))
			require.Len(t, raw.Data.Items, len(resp.Data.Items))
			for _, name := range []string{"InstanceID", "BillingItemCode", "Tag", "OwnerID", "PretaxAmount"} {
				assert.Contains(t, raw.Data.Items[0], name, "the raw JSON names it %s", name)
			}
		}
		for _, it := range resp.Data.Items {
			rows++
			assert.Equal(t, h.Day.String(), it.BillingDate)
			assert.True(t, it.InstanceID != "" || it.ProductCode != "", "row %d: no InstanceID nor ProductCode", rows)
			assert.NoError(t, tagPairs(it.Tag), "row %d (%s)", rows, it.InstanceID)
		}
	})
	if rows == 0 {
		require.False(t, h.Fake, "the fake day has rows")
		t.Skip("real API (ALIBABA_CLOUD_ACCESS_KEY_ID account): the day has no instance bill rows, nothing to check")
	}
}

// tagPairs checks a Tag: empty, or "key:value" pairs separated by ';' whose key is not
// empty (a value may hold ':').
func tagPairs(tag string) error {
	if tag == "" {
		return nil
	}
	for _, pair := range strings.Split(tag, ";") {
		if k, _, ok := strings.Cut(pair, ":"); !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("tag %q: %q is not key:value", tag, pair)
		}
	}
	return nil
}
