package bssfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/bssopenapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"
)

const instDay = "2026-11-01"

// fakeNow is the fake's clock: the wall clock when the test started (the SDK signs with
// the wall clock, so the fake must stay within the timestamp window), moved by hand.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeNow() *fakeNow { return &fakeNow{t: clock.New().Now()} }

func (c *fakeNow) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeNow) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sdkFake is a started fake and a real SDK client configured for it.
type sdkFake struct {
	*Server
	c   *bssopenapi.Client
	now *fakeNow
}

func startSDKFake(t *testing.T, opts Options) *sdkFake {
	t.Helper()
	now := newFakeNow()
	if opts.Now == nil {
		opts.Now = now.Now
	}
	s := New(opts)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = s.Close() })
	c, err := bssopenapi.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithScheme("HTTP"),
		credentials.NewAccessKeyCredential("testid", "testsecret"))
	require.NoError(t, err)
	return &sdkFake{Server: s, c: c, now: now}
}

func (f *sdkFake) instRequest(day string, size int, next string) *bssopenapi.DescribeInstanceBillRequest {
	r := bssopenapi.CreateDescribeInstanceBillRequest()
	r.Scheme, r.Domain = "http", strings.TrimPrefix(f.URL(), "http://")
	r.BillingCycle = day[:7]
	r.BillingDate = day
	r.Granularity = "DAILY"
	r.IsBillingItem = requests.NewBoolean(true)
	if size > 0 {
		r.MaxResults = requests.NewInteger(size)
	}
	r.NextToken = next
	r.SetReadTimeout(30 * time.Second)
	return r
}

func (f *sdkFake) page(t *testing.T, day string, size int, next string) *bssopenapi.DescribeInstanceBillResponse {
	t.Helper()
	resp, err := f.c.DescribeInstanceBill(f.instRequest(day, size, next))
	require.NoError(t, err)
	require.True(t, resp.Success, resp.Code)
	return resp
}

// refused asserts that the call failed with the API error code at HTTP status.
func refused(t *testing.T, err error, status int, code string) {
	t.Helper()
	require.Error(t, err)
	se, ok := err.(*sdkerrors.ServerError)
	require.True(t, ok, "want a server error, got %T: %v", err, err)
	assert.Equal(t, status, se.HttpStatus())
	assert.Equal(t, code, se.ErrorCode())
	assert.NotEmpty(t, se.RequestId())
}

func rowKey(it bssopenapi.Item) string {
	return it.BillingDate + "/" + it.OwnerID + "/" + it.InstanceID + "/" + it.BillingItemCode + "/" + it.SubscriptionType
}

// readDay pages through day by NextToken and returns the rows and the number of calls.
func (f *sdkFake) readDay(t *testing.T, day string, size int) ([]bssopenapi.Item, int) {
	t.Helper()
	var rows []bssopenapi.Item
	calls := f.eachRow(t, day, size, func(it *bssopenapi.Item) { rows = append(rows, *it) })
	return rows, calls
}

// eachRow pages through day by NextToken, gives each row to fn and returns the number of
// calls.
func (f *sdkFake) eachRow(t *testing.T, day string, size int, fn func(*bssopenapi.Item)) int {
	t.Helper()
	next, calls := "", 0
	for {
		resp := f.page(t, day, size, next)
		calls++
		for i := range resp.Data.Items {
			fn(&resp.Data.Items[i])
		}
		if resp.Data.NextToken == "" {
			return calls
		}
		require.NotEqual(t, next, resp.Data.NextToken, "the token advances")
		next = resp.Data.NextToken
	}
}

func TestInstance_PagingByNextTokenReadsEveryRowOnce(t *testing.T) {
	f := startSDKFake(t, Options{})
	want := SampleInstanceDay(instDay, 700, 3)
	f.SetInstanceDay(instDay, want)

	first := f.page(t, instDay, 300, "")
	assert.Equal(t, 700, first.Data.TotalCount)
	assert.Equal(t, 300, first.Data.MaxResults)
	assert.Equal(t, "2026-11", first.Data.BillingCycle)
	assert.Equal(t, "1234567890123456", first.Data.AccountID)
	assert.Len(t, first.Data.Items, 300)
	tok := first.Data.NextToken
	assert.NotEmpty(t, tok)
	assert.NotEqual(t, "300", tok, "opaque, not the offset in clear")
	raw := first.GetHttpContentString()
	assert.Contains(t, raw, `"Items":[{`, "Data.Items is an array of items")
	assert.Contains(t, raw, `"Tag":""`, "empty strings are sent")

	rows, calls := f.readDay(t, instDay, 300)
	assert.Equal(t, 3, calls)
	require.Len(t, rows, 700)
	seen := map[string]bool{}
	for i, it := range rows {
		assert.False(t, seen[rowKey(it)], "row %s twice", rowKey(it))
		seen[rowKey(it)] = true
		assert.Equal(t, want[i].InstanceID, it.InstanceID, "row %d in order", i)
		assert.Equal(t, want[i].BillingItemCode, it.BillingItemCode)
		assert.Equal(t, want[i].PretaxAmount, it.PretaxAmount)
		assert.Equal(t, want[i].Tag, it.Tag)
	}

	// MaxResults defaults to 20 and may change from call to call: the token is a position.
	def := f.page(t, instDay, 0, "")
	assert.Len(t, def.Data.Items, DefaultMaxResults)
	assert.Equal(t, DefaultMaxResults, def.Data.MaxResults)
	next := f.page(t, instDay, 7, def.Data.NextToken)
	require.Len(t, next.Data.Items, 7)
	assert.Equal(t, want[20].InstanceID, next.Data.Items[0].InstanceID)

	// A day without rows is one empty page.
	empty := f.page(t, "2026-11-02", 300, "")
	assert.Empty(t, empty.Data.Items)
	assert.Empty(t, empty.Data.NextToken)
	assert.Contains(t, empty.GetHttpContentString(), `"Items":[]`)

	for _, r := range f.Requests() {
		assert.Equal(t, ActionDescribeInstanceBill, r.Action)
	}
}

func TestInstance_MaxResultsAbove300IsRefused(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 10, 1))
	f.page(t, instDay, 300, "")
	_, err := f.c.DescribeInstanceBill(f.instRequest(instDay, 301, ""))
	refused(t, err, 400, "InvalidParameter")
	r := f.instRequest(instDay, 0, "")
	r.MaxResults = "0"
	_, err = f.c.DescribeInstanceBill(r)
	refused(t, err, 400, "InvalidParameter")
}

func TestInstance_RetryIsAcceptedUntilTheNextTokenIsUsed(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 700, 3))
	t1 := f.page(t, instDay, 300, "").Data.NextToken

	p2 := f.page(t, instDay, 300, t1)
	again := f.page(t, instDay, 300, t1) // the answer was lost: the client asks again
	assert.Equal(t, p2.Data.Items, again.Data.Items, "the same page")
	assert.Equal(t, p2.Data.NextToken, again.Data.NextToken, "and the same next token")
	t2 := p2.Data.NextToken
	require.NotEmpty(t, t2)

	p3 := f.page(t, instDay, 300, t2)
	assert.Len(t, p3.Data.Items, 100)
	assert.Empty(t, p3.Data.NextToken, "the last page")
	assert.Len(t, f.page(t, instDay, 300, t2).Data.Items, 100, "the last page can be asked again too")

	_, err := f.c.DescribeInstanceBill(f.instRequest(instDay, 300, t1))
	refused(t, err, 400, CodeInvalidNextToken)
	assert.Equal(t, MessageInvalidNextToken, err.(*sdkerrors.ServerError).Message())
	assert.Equal(t, CodeInvalidNextToken, f.Requests()[len(f.Requests())-1].Code)
}

func TestInstance_TokensThatAreRefused(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 700, 3))
	f.SetInstanceDay("2026-11-02", SampleInstanceDay("2026-11-02", 700, 3))
	t1 := f.page(t, instDay, 300, "").Data.NextToken

	for name, r := range map[string]*bssopenapi.DescribeInstanceBillRequest{
		"unknown":     f.instRequest(instDay, 300, "bm90LWEtdG9rZW4="),
		"offset":      f.instRequest(instDay, 300, "300"),
		"another day": f.instRequest("2026-11-02", 300, t1),
		"another query": func() *bssopenapi.DescribeInstanceBillRequest {
			r := f.instRequest(instDay, 300, t1)
			r.IsBillingItem = "false"
			return r
		}(),
	} {
		_, err := f.c.DescribeInstanceBill(r)
		t.Run(name, func(t *testing.T) { refused(t, err, 400, CodeInvalidNextToken) })
	}
	assert.Len(t, f.page(t, instDay, 300, t1).Data.Items, 300, "the refusals did not spend the token")
}

func TestInstance_TokenExpiresAfterTTL(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 700, 3))
	t1 := f.page(t, instDay, 300, "").Data.NextToken
	f.now.Advance(DefaultTokenTTL)
	p2 := f.page(t, instDay, 300, t1) // exactly the TTL old: still usable
	f.now.Advance(time.Second)
	_, err := f.c.DescribeInstanceBill(f.instRequest(instDay, 300, t1))
	refused(t, err, 400, CodeInvalidNextToken)
	assert.Len(t, f.page(t, instDay, 300, p2.Data.NextToken).Data.Items, 100, "a token younger than the TTL works")

	g := startSDKFake(t, Options{TokenTTL: time.Minute})
	g.SetInstanceDay(instDay, SampleInstanceDay(instDay, 700, 3))
	t1 = g.page(t, instDay, 300, "").Data.NextToken
	g.now.Advance(time.Minute + time.Second)
	_, err = g.c.DescribeInstanceBill(g.instRequest(instDay, 300, t1))
	refused(t, err, 400, CodeInvalidNextToken)
}

func TestInstance_GeneratedDayIsTheSampleMadeOnDemand(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.GenerateInstanceDay(instDay, 57, 11)
	want := SampleInstanceDay(instDay, 57, 11)
	assert.Equal(t, want, f.InstanceDay(instDay))

	var got []InstanceItem
	for next := ""; ; {
		resp := f.page(t, instDay, 20, next)
		var body struct {
			Data struct{ Items []InstanceItem }
		}
		require.NoError(t, json.Unmarshal(resp.GetHttpContentBytes(), &body))
		got = append(got, body.Data.Items...)
		if next = resp.Data.NextToken; next == "" {
			break
		}
	}
	assert.Equal(t, want, got)
}

// A generated day of another account is that account's bill alone (tools/bench --big).
func TestInstance_AGeneratedDayOfAnotherAccountIsItsOwn(t *testing.T) {
	f := startSDKFake(t, Options{Members: []string{"222"}, More: []Account{{ID: "222"}}})
	f.GenerateInstanceDay(instDay, 5, 1)
	f.GenerateAccountInstanceDay("222", instDay, 7, 2)
	assert.Len(t, f.page(t, instDay, 300, "").Data.Items, 5, "the caller's own bill")
	req := f.instRequest(instDay, 300, "")
	req.BillOwnerId = requests.NewInteger(222)
	resp, err := f.c.DescribeInstanceBill(req)
	require.NoError(t, err)
	require.Len(t, resp.Data.Items, 7, "the member's bill")
	assert.Equal(t, SampleInstanceDay(instDay, 7, 2)[6].InstanceID, resp.Data.Items[6].InstanceID)
}

// 667 calls of 300 rows: about 4 s, 45 s under -race (encoding and decoding 300 MB of
// JSON); -short skips it.
func TestInstance_GeneratedDayOf200kRowsPagesThrough(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 667 calls, 300 MB of JSON")
	}
	const n = 200_000
	f := startSDKFake(t, Options{})
	f.GenerateInstanceDay(instDay, n, 5)
	sample := SampleInstanceDay(instDay, 3, 5)
	last := instanceRow(instDay, n-1, 5)
	seen := make(map[string]struct{}, n)
	rows := 0
	calls := f.eachRow(t, instDay, 300, func(it *bssopenapi.Item) {
		if rows < len(sample) {
			assert.Equal(t, sample[rows].InstanceID+sample[rows].BillingItemCode, it.InstanceID+it.BillingItemCode)
		}
		if rows == n-1 {
			assert.Equal(t, last.InstanceID+last.BillingItemCode, it.InstanceID+it.BillingItemCode)
		}
		seen[rowKey(*it)] = struct{}{}
		rows++
	})
	assert.Equal(t, (n+299)/300, calls)
	assert.Equal(t, n, rows)
	assert.Len(t, seen, n, "no row twice")
}

func TestSampleInstanceDay_Variety(t *testing.T) {
	rows := SampleInstanceDay(instDay, 700, 1)
	keys, products, regions, zones := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	var colonValue, emptyTag, emptyGroup, subscription bool
	for _, it := range rows {
		k := it.BillingDate + "/" + it.OwnerID + "/" + it.InstanceID + "/" + it.BillingItemCode + "/" + it.SubscriptionType
		assert.False(t, keys[k], k)
		keys[k] = true
		products[it.ProductCode], regions[it.Region], zones[it.Zone] = true, true, true
		assert.Equal(t, instDay, it.BillingDate)
		assert.NotEmpty(t, it.InstanceID)
		if it.Tag == "" {
			emptyTag = true
		}
		for _, pair := range strings.Split(it.Tag, ";") {
			if _, v, ok := strings.Cut(pair, ":"); ok && strings.Contains(v, ":") {
				colonValue = true
			}
		}
		emptyGroup = emptyGroup || it.ResourceGroup == ""
		subscription = subscription || it.SubscriptionType == "Subscription"
	}
	assert.GreaterOrEqual(t, len(products), 5)
	assert.GreaterOrEqual(t, len(regions), 3)
	assert.GreaterOrEqual(t, len(zones), 4)
	assert.True(t, colonValue && emptyTag && emptyGroup && subscription)
	assert.Equal(t, rows[:10], SampleInstanceDay(instDay, 10, 1), "a row does not depend on n")
	assert.NotEqual(t, rows[:10], SampleInstanceDay(instDay, 10, 2), "but on the seed")

	// JSON: the API's names, every field sent, amounts as numbers and the rest strings.
	b, err := json.Marshal(InstanceItem{})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	typ := reflect.TypeFor[InstanceItem]()
	assert.Len(t, m, typ.NumField())
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		v, ok := m[name]
		require.True(t, ok, name)
		amount := strings.HasSuffix(name, "Amount") || name == "InvoiceDiscount" ||
			(strings.HasPrefix(name, "DeductedBy") && name != "DeductedByResourcePackage")
		if amount {
			assert.IsType(t, float64(0), v, name)
		} else {
			assert.IsType(t, "", v, name)
		}
	}
}

func TestInstance_StuckTokenRepeatsThePage(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 700, 3))
	f.Inject(Fault{Kind: StuckToken})
	p1 := f.page(t, instDay, 300, "") // no token presented: the fault waits
	t1 := p1.Data.NextToken
	stuck := f.page(t, instDay, 300, t1)
	assert.Equal(t, t1, stuck.Data.NextToken, "the page does not advance")
	assert.Equal(t, "StuckToken", f.Requests()[1].Code)
	p2 := f.page(t, instDay, 300, t1)
	assert.Equal(t, stuck.Data.Items, p2.Data.Items, "with the same items")
	assert.NotEqual(t, t1, p2.Data.NextToken, "until the fault is used up")
	assert.Len(t, f.page(t, instDay, 300, p2.Data.NextToken).Data.Items, 100)
}

func TestInstance_ExpireTokenMakesTheClientStartAgain(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 700, 3))
	f.Inject(Fault{Kind: ExpireToken, Page: 3})
	t1 := f.page(t, instDay, 300, "").Data.NextToken
	t2 := f.page(t, instDay, 300, t1).Data.NextToken
	_, err := f.c.DescribeInstanceBill(f.instRequest(instDay, 300, t2))
	refused(t, err, 400, CodeInvalidNextToken)
	_, err = f.c.DescribeInstanceBill(f.instRequest(instDay, 300, t2))
	refused(t, err, 400, CodeInvalidNextToken) // the fault is used up, the token stays expired
	rows, calls := f.readDay(t, instDay, 300)
	assert.Len(t, rows, 700, "from an empty NextToken the day reads")
	assert.Equal(t, 3, calls)
}

func TestInstance_FaultsAimAtAPageAndAnAction(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 700, 3))
	f.SetDay(instDay, SampleDay(instDay, 10, 1))
	f.Inject(Fault{Kind: Throttle, Action: ActionQueryAccountBill}) // not for instance requests
	f.Inject(Fault{Kind: RepeatPage})                               // not for instance requests
	f.Inject(Fault{Kind: ServerError, Page: 2, Action: ActionDescribeInstanceBill})

	t1 := f.page(t, instDay, 300, "").Data.NextToken
	_, err := f.c.DescribeInstanceBill(f.instRequest(instDay, 300, t1))
	refused(t, err, 503, "ServiceUnavailable")
	p2 := f.page(t, instDay, 300, t1) // a retry after a 5xx
	assert.Len(t, p2.Data.Items, 300)

	q := bssopenapi.CreateQueryAccountBillRequest()
	q.Scheme, q.Domain = "http", strings.TrimPrefix(f.URL(), "http://")
	q.BillingCycle, q.BillingDate, q.Granularity = "2026-11", instDay, "DAILY"
	q.IsGroupByProduct, q.PageNum, q.PageSize = "true", "2", "5"
	_, err = f.c.QueryAccountBill(q)
	refused(t, err, 400, "Throttling.User")
	resp, err := f.c.QueryAccountBill(q)
	require.NoError(t, err)
	assert.Equal(t, 2, resp.Data.PageNum)
	assert.Equal(t, f.Day(instDay)[0].ProductCode, resp.Data.Items.Item[0].ProductCode, "RepeatPage was left for QueryAccountBill")

	// A fault for page 3 of an instance day: 1 + offset/MaxResults of the token's position.
	f.Inject(Fault{Kind: WrongTotal, Delta: 5, Page: 3, Action: ActionDescribeInstanceBill})
	small := f.page(t, instDay, 250, "")
	assert.Equal(t, 700, small.Data.TotalCount)
	p := f.page(t, instDay, 100, small.Data.NextToken) // offset 250 at 100 a page: page 3
	assert.Equal(t, 705, p.Data.TotalCount)
}

// instQuery sends a signed DescribeInstanceBill for 2026-11-01 (MaxResults 300) to the
// handler directly.
func instQuery(t *testing.T, s *Server, next string) *httptest.ResponseRecorder {
	t.Helper()
	p := signed(testNow, "i"+strconv.Itoa(len(s.Requests())))
	p.Del("Signature")
	p.Set("Action", ActionDescribeInstanceBill)
	p.Set("MaxResults", "300")
	p.Set("IsBillingItem", "true")
	if next != "" {
		p.Set("NextToken", next)
	}
	p.Set("Signature", Sign("POST", p, "testsecret"))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/?"+p.Encode(), nil))
	return w
}

func decodeInstance(t *testing.T, w *httptest.ResponseRecorder) instanceResponse {
	t.Helper()
	var r instanceResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &r), w.Body.String())
	return r
}

func TestInstance_DataFaults(t *testing.T) {
	s := New(Options{Now: func() time.Time { return testNow }})
	s.SetInstanceDay(instDay, SampleInstanceDay(instDay, 700, 3))
	t1 := decodeInstance(t, instQuery(t, s, "")).Data.NextToken

	s.Inject(Fault{Kind: Malformed})
	w := instQuery(t, s, t1)
	assert.Equal(t, 200, w.Code)
	assert.True(t, strings.HasPrefix(w.Body.String(), `{"Code":"Success","Data":{"Items":[`))
	assert.Error(t, json.Unmarshal(w.Body.Bytes(), new(any)))

	s.Inject(Fault{Kind: SuccessFalse})
	r := decodeInstance(t, instQuery(t, s, t1))
	assert.False(t, r.Success)
	assert.Equal(t, "InternalError", r.Code)

	s.Inject(Fault{Kind: EmptyPage})
	r = decodeInstance(t, instQuery(t, s, t1))
	assert.Empty(t, r.Data.Items)
	assert.Equal(t, 700, r.Data.TotalCount)
	assert.NotEmpty(t, r.Data.NextToken, "the page's rows are skipped")

	s.Inject(Fault{Kind: SetTotal, Total: -1})
	assert.Equal(t, -1, decodeInstance(t, instQuery(t, s, t1)).Data.TotalCount)

	s.Inject(Fault{Kind: OversizePage, Delta: 2})
	r = decodeInstance(t, instQuery(t, s, t1))
	assert.Len(t, r.Data.Items, 302)
	t2 := r.Data.NextToken
	assert.Len(t, decodeInstance(t, instQuery(t, s, t2)).Data.Items, 100, "the token skips only the real rows")

	s.Inject(Fault{Kind: HugeBody, Size: 1 << 20})
	w = instQuery(t, s, "")
	assert.Equal(t, 1<<20, w.Body.Len())
	assert.Len(t, decodeInstance(t, w).Data.Items, 300)

	s.Inject(Fault{Kind: RawReply, Status: 200, Body: `{"Success":true}`})
	assert.Equal(t, `{"Success":true}`, instQuery(t, s, "").Body.String())

	s.Inject(Fault{Kind: ErrorReply, Code: "Odd", Message: "odd"})
	w = instQuery(t, s, "")
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), `"Code":"Odd"`)

	s.Inject(Fault{Kind: Redirect})
	assert.Equal(t, 302, instQuery(t, s, "").Code)

	// A refused token takes no fault.
	s.Inject(Fault{Kind: Throttle})
	w = instQuery(t, s, "no-such-token")
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), CodeInvalidNextToken)
	assert.Contains(t, instQuery(t, s, "").Body.String(), "Throttling.User")
}

func TestRateLimit_CountsBothActions(t *testing.T) {
	f := startSDKFake(t, Options{RateLimit: 3})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 10, 1))
	f.SetDay(instDay, SampleDay(instDay, 10, 1))
	q := bssopenapi.CreateQueryAccountBillRequest()
	q.Scheme, q.Domain = "http", strings.TrimPrefix(f.URL(), "http://")
	q.BillingCycle, q.BillingDate, q.Granularity = "2026-11", instDay, "DAILY"

	_, err := f.c.QueryAccountBill(q)
	require.NoError(t, err)
	f.page(t, instDay, 300, "")
	_, err = f.c.QueryAccountBill(q)
	require.NoError(t, err)
	_, err = f.c.DescribeInstanceBill(f.instRequest(instDay, 300, ""))
	refused(t, err, 400, "Throttling.User")
	_, err = f.c.QueryAccountBill(q)
	refused(t, err, 400, "Throttling.User")

	f.now.Advance(time.Second) // the window slides past all of them
	f.page(t, instDay, 300, "")
	got := map[string]int{}
	for _, r := range f.Requests() {
		got[r.Action+" "+r.Code]++
	}
	assert.Equal(t, map[string]int{"QueryAccountBill ": 2, "DescribeInstanceBill ": 2,
		"DescribeInstanceBill Throttling.User": 1, "QueryAccountBill Throttling.User": 1}, got)
}

func TestLatency_DelaysEveryAnswer(t *testing.T) {
	const latency = 50 * time.Millisecond
	f := startSDKFake(t, Options{Latency: latency})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 10, 1))
	wall := clock.New()
	start := wall.Now()
	f.page(t, instDay, 300, "")
	assert.GreaterOrEqual(t, wall.Since(start), latency)
	start = wall.Now()
	_, err := f.c.DescribeInstanceBill(f.instRequest(instDay, 301, ""))
	refused(t, err, 400, "InvalidParameter")
	assert.GreaterOrEqual(t, wall.Since(start), latency, "errors too")
}

func TestValidate_InstanceParameters(t *testing.T) {
	base := func() url.Values {
		p := signed(testNow, "x")
		p.Set("Action", ActionDescribeInstanceBill)
		return p
	}
	for name, c := range map[string]struct{ key, value, code string }{
		"max results":   {"MaxResults", "301", "InvalidParameter"},
		"zero results":  {"MaxResults", "0", "InvalidParameter"},
		"billing item":  {"IsBillingItem", "yes", "InvalidParameter"},
		"no cycle":      {"BillingCycle", "", "MissingParameter"},
		"date in cycle": {"BillingDate", "2026-10-31", "InvalidParameter"},
		"action":        {"Action", "DescribeInstanceBills", CodeInvalidAction},
	} {
		p := base()
		p.Set(c.key, c.value)
		_, code, _ := validate(p)
		assert.Equal(t, c.code, code, name)
	}
	p := base()
	p.Set("MaxResults", "300")
	p.Set("NextToken", "anything: checked against the server's state, not here")
	_, code, _ := validate(p)
	assert.Empty(t, code)
}

// ThrottleEvery refuses every k-th request, both actions counted, however slowly they
// come: the fake's clock never moves here, and the refusals come all the same.
func TestThrottleEvery_RefusesEveryKthRequestWhateverThePace(t *testing.T) {
	f := startSDKFake(t, Options{ThrottleEvery: 3})
	f.SetInstanceDay(instDay, SampleInstanceDay(instDay, 10, 1))
	f.SetDay(instDay, SampleDay(instDay, 10, 1))
	q := bssopenapi.CreateQueryAccountBillRequest()
	q.Scheme, q.Domain = "http", strings.TrimPrefix(f.URL(), "http://")
	q.BillingCycle, q.BillingDate, q.Granularity = "2026-11", instDay, "DAILY"
	for round := 0; round < 2; round++ {
		_, err := f.c.QueryAccountBill(q)
		require.NoError(t, err)
		f.page(t, instDay, 300, "")
		_, err = f.c.DescribeInstanceBill(f.instRequest(instDay, 300, ""))
		refused(t, err, 400, "Throttling.User")
	}
	codes := []string{}
	for _, r := range f.Requests() {
		codes = append(codes, r.Code)
	}
	assert.Equal(t, []string{"", "", "Throttling.User", "", "", "Throttling.User"}, codes)
}
