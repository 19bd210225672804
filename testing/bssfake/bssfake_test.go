package bssfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example of the API's signature documentation: the fake computes what the service
// computes for it.
func TestSign_DocumentedExample(t *testing.T) {
	p := url.Values{}
	for k, v := range map[string]string{
		"Action": "DescribeRegions", "AccessKeyId": "testid", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
		"SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
		"Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
	} {
		p.Set(k, v)
	}
	assert.Equal(t, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", Sign("GET", p, "testsecret"))
}

func signed(now time.Time, nonce string) url.Values {
	p := url.Values{}
	for k, v := range map[string]string{
		"Action": Action, "Version": Version, "Format": "JSON", "AccessKeyId": "testid",
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": nonce,
		"Timestamp": now.UTC().Format("2006-01-02T15:04:05Z"), "BillingCycle": "2026-11",
		"BillingDate": "2026-11-01", "Granularity": "DAILY",
	} {
		p.Set(k, v)
	}
	p.Set("Signature", Sign("POST", p, "testsecret"))
	return p
}

func TestAuthenticate_WindowNonceAndTampering(t *testing.T) {
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	_, code, _ := s.authenticate(signed(now, "n1"))
	assert.Empty(t, code)
	_, code, _ = s.authenticate(signed(now, "n1"))
	assert.Equal(t, "SignatureNonceUsed", code)
	_, code, _ = s.authenticate(signed(now.Add(-16*time.Minute), "n2"))
	assert.Equal(t, "InvalidTimeStamp.Expired", code)
	p := signed(now, "n3")
	p.Set("PageSize", "300") // added after signing
	_, code, msg := s.authenticate(p)
	assert.Equal(t, "SignatureDoesNotMatch", code)
	assert.Equal(t, "Specified signature is not matched with our calculation. server string to sign is:"+StringToSign("POST", p), msg,
		"the API quotes the string it signed")
}

func TestValidate_Parameters(t *testing.T) {
	base := func() url.Values { return signed(time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC), "x") }
	for name, c := range map[string]struct{ key, value, code string }{
		"page size":     {"PageSize", "301", "InvalidParameter"},
		"no date":       {"BillingDate", "", "MissingParameter"},
		"date in cycle": {"BillingDate", "2026-10-31", "InvalidParameter"},
		"action":        {"Action", "QueryBill", "InvalidAction.NotFound"},
		"version":       {"Version", "2014-05-26", "InvalidVersion"},
	} {
		p := base()
		p.Set(c.key, c.value)
		_, code, _ := validate(p)
		assert.Equal(t, c.code, code, name)
	}
	_, code, _ := validate(base())
	assert.Empty(t, code)
}

var testNow = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

// query sends a signed QueryAccountBill for page of 2026-11-01 (PageSize 300), its
// parameters in the URL's query as the SDK sends them.
func query(t *testing.T, s *Server, page int, extra map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	p := signed(testNow, "n"+strconv.Itoa(page)+strconv.Itoa(len(s.Requests())))
	p.Set("PageNum", strconv.Itoa(page))
	p.Set("PageSize", "300")
	p.Set("IsGroupByProduct", "true")
	for k, v := range extra {
		p.Set(k, v)
	}
	p.Set("Signature", Sign("POST", p, "testsecret"))
	req := httptest.NewRequest(http.MethodPost, "/?"+p.Encode(), nil)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) response {
	t.Helper()
	var r response
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &r), w.Body.String())
	return r
}

func itemsOf(r response) []string {
	var out []string
	for _, it := range r.Data.Items.Item {
		out = append(out, it.OwnerID+"/"+it.ProductCode+"/"+it.SubscriptionType)
	}
	return out
}

func newTestServer(rows int) *Server {
	s := New(Options{Now: func() time.Time { return testNow }})
	s.SetDay("2026-11-01", SampleDay("2026-11-01", rows, 1))
	return s
}

func TestFaults_PagesAndTotals(t *testing.T) {
	s := newTestServer(700)
	page1, page2 := decode(t, query(t, s, 1, nil)), decode(t, query(t, s, 2, nil))

	s.Inject(Fault{Kind: RepeatPage, Page: 2})
	r := decode(t, query(t, s, 2, nil))
	assert.Equal(t, itemsOf(page1), itemsOf(r), "RepeatPage serves page 1")
	assert.Equal(t, 2, r.Data.PageNum, "and echoes the page asked for")

	s.Inject(Fault{Kind: IgnorePageNum, Of: 2})
	r = decode(t, query(t, s, 3, nil))
	assert.Equal(t, itemsOf(page2), itemsOf(r), "IgnorePageNum serves page Of")
	assert.Equal(t, 2, r.Data.PageNum, "with its own PageNum")

	for _, total := range []int{-7, 0, 1_000_000_000} {
		s.Inject(Fault{Kind: SetTotal, Total: total})
		r = decode(t, query(t, s, 1, nil))
		assert.Equal(t, total, r.Data.TotalCount)
		assert.Len(t, r.Data.Items.Item, 300)
	}

	s.Inject(Fault{Kind: OversizePage, Page: 3, Delta: 2})
	r = decode(t, query(t, s, 3, nil))
	assert.Len(t, r.Data.Items.Item, 302, "PageSize 300 asked, 2 more served (100 real rows, 202 made up)")
	assert.Equal(t, 700, r.Data.TotalCount)

	r = decode(t, query(t, s, 3, nil))
	assert.Len(t, r.Data.Items.Item, 100, "faults are used up")
}

func TestFaults_HugeBodyIsValidJSONOfTheAskedSize(t *testing.T) {
	for _, declare := range []bool{false, true} {
		s := newTestServer(10)
		s.Inject(Fault{Kind: HugeBody, Size: 1 << 20, DeclareLength: declare})
		w := query(t, s, 1, nil)
		assert.Equal(t, 1<<20, w.Body.Len())
		assert.Len(t, decode(t, w).Data.Items.Item, 10)
		if declare {
			assert.Equal(t, strconv.Itoa(1<<20), w.Header().Get("Content-Length"))
		} else {
			assert.Empty(t, w.Header().Get("Content-Length"))
		}
		assert.Equal(t, "HugeBody", s.Requests()[0].Code)
	}
}

func TestFaults_RedirectRepeatsTheSignedRequestElsewhere(t *testing.T) {
	s := newTestServer(10)
	s.Inject(Fault{Kind: Redirect, Status: 307, Location: "https://elsewhere.test/"})
	w := query(t, s, 1, nil)
	assert.Equal(t, 307, w.Code)
	loc, err := url.Parse(w.Header().Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "elsewhere.test", loc.Host)
	assert.NotEmpty(t, loc.Query().Get("Signature"), "the signed query goes along")

	s.Inject(Fault{Kind: Redirect})
	w = query(t, s, 1, nil)
	assert.Equal(t, 302, w.Code)
	assert.True(t, strings.HasPrefix(w.Header().Get("Location"), "http://redirect.invalid/?"))
}

func TestFaults_SignatureMismatchQuotesTheStringToSignWithTheToken(t *testing.T) {
	s := newTestServer(10)
	s.Inject(Fault{Kind: SignatureMismatch})
	w := query(t, s, 1, map[string]string{"SecurityToken": "tok+en/=="})
	assert.Equal(t, 400, w.Code)
	var e apiError
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
	assert.Equal(t, "SignatureDoesNotMatch", e.Code)
	assert.Contains(t, e.Message, "server string to sign is:POST&%2F&AccessKeyId%3Dtestid%26")
	assert.Contains(t, e.Message, "SecurityToken%3Dtok%252Ben%252F%253D%253D", "encoded twice")
}

func TestFaults_ErrorReplyIsVerbatim(t *testing.T) {
	s := newTestServer(10)
	s.Inject(Fault{Kind: ErrorReply, Code: "Odd\x1b[2J", Message: "line\r\nbell\x07 \u202e"})
	w := query(t, s, 1, nil)
	assert.Equal(t, 400, w.Code)
	var e apiError
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
	assert.Equal(t, "Odd\x1b[2J", e.Code)
	assert.Equal(t, "line\r\nbell\x07 \u202e", e.Message)
	assert.Equal(t, "Odd\x1b[2J", s.Requests()[0].Code)
}

func TestFaults_RawReplyIsByteForByte(t *testing.T) {
	s := newTestServer(10)
	s.Inject(Fault{Kind: RawReply, Status: 403, Body: `{"Code":5,"AccessDeniedDetail":"x"}`})
	w := query(t, s, 1, nil)
	assert.Equal(t, 403, w.Code)
	assert.Equal(t, `{"Code":5,"AccessDeniedDetail":"x"}`, w.Body.String())
	assert.Equal(t, "application/json;charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "RawReply", s.Requests()[0].Code)

	s.Inject(Fault{Kind: RawReply, Status: 200, Body: `{"Success":true}`})
	w = query(t, s, 1, nil)
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, `{"Success":true}`, w.Body.String())

	s.Inject(Fault{Kind: RawReply, Body: "not json"})
	assert.Equal(t, 400, query(t, s, 1, nil).Code, "400 by default")
	assert.Len(t, decode(t, query(t, s, 1, nil)).Data.Items.Item, 10, "used up")
}
