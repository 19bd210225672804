package billing_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// Error answers whose members the SDK's errors.NewServerError asserts to the wrong type
// without checking: each of them, unguarded, panics the process.
var panickingErrorBodies = map[string]string{
	"AccessDeniedDetail a string": `{"Code":"NotAuthorized","Message":"no","AccessDeniedDetail":"x"}`,
	"Code a list":                 `{"Code":["x"]}`,
	"Code a number":               `{"Code":5}`,
	"RequestId a number":          `{"Code":"x","RequestId":5}`,
	"Message an object":           `{"Code":"x","Message":{"a":1}}`,
	"HostId true":                 `{"Code":"x","HostId":true}`,
	"Recommend a number":          `{"Code":"x","Recommend":1.5}`,
	"AccessDeniedDetail a list":   `{"Code":"NotAuthorized","RequestId":"R-77","AccessDeniedDetail":[1]}`,
}

func TestStream_ErrorAnswerOfUnexpectedTypesIsRetriedNeverAPanic(t *testing.T) {
	for name, body := range panickingErrorBodies {
		t.Run(name, func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 403, Body: body, Times: 2})
			pol := fastPolicy
			pol.Attempts = 2
			var log bytes.Buffer
			c := newClientWith(t, clientOpts{endpoint: f.URL(), id: "testid", secret: "testsecret", pol: pol, log: &log})
			_, err := fetchDay(context.Background(), c, day)

			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "UnexpectedResponse", ae.Code)
			assert.True(t, ae.Retryable())
			assert.Equal(t, 403, ae.HTTPStatus, "the status is kept")
			assert.Contains(t, err.Error(), "gave up after 2 attempts: UnexpectedResponse (HTTP 403): "+
				"the endpoint's error answer (HTTP 403) has members of unexpected types; not shown")
			assert.Len(t, f.Requests(), 2, "retried")
			for _, part := range []string{"NotAuthorized", "AccessDeniedDetail", "Recommend", "HostId", `"x"`, "1.5", "{"} {
				assert.NotContains(t, err.Error(), part, "the original answer")
			}
			for _, part := range []string{"NotAuthorized", "AccessDeniedDetail", "Recommend", "HostId"} {
				assert.NotContains(t, log.String(), part, "the original answer")
			}
			if strings.Contains(body, "R-77") {
				assert.Equal(t, "R-77", ae.RequestID, "a RequestId that is a string is kept")
			}
		})
	}
}

func TestStream_ErrorAnswerOfUnexpectedTypesOnceThenTheDay(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 400, 21))
	f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 403, Body: panickingErrorBodies["Code a number"], Page: 2})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	assert.Len(t, rows, 400)
	assert.Len(t, f.Requests(), 3)
}

func TestStream_ErrorAnswersTheSDKCanReadPassUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
		class      billing.Class
		msg        string
	}{
		{"AccessDeniedDetail an object", `{"Code":"NotAuthorized","Message":"no","RequestId":"R-1","AccessDeniedDetail":{"AuthAction":"bss:QueryAccountBill"}}`,
			403, "NotAuthorized", billing.Credentials, "NotAuthorized (HTTP 403): no [RequestId R-1]; grant the RAM user"},
		{"members null", `{"Code":"Forbidden","Message":null,"RequestId":null,"AccessDeniedDetail":null}`,
			403, "Forbidden", billing.Credentials, "Forbidden (HTTP 403)"},
		{"other members of any type", `{"Code":"InvalidParameter","Message":"bad","Data":5,"Extra":[1]}`,
			400, "InvalidParameter", billing.Request, "InvalidParameter (HTTP 400): bad"},
		{"a JSON list", `[1,2]`, 400, "UnexpectedResponse", billing.Retryable, "UnexpectedResponse (HTTP 400): [1,2]"},
		{"a JSON number", `5`, 503, "UnexpectedResponse", billing.Retryable, "UnexpectedResponse (HTTP 503): 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: tc.status, Body: tc.body, Times: 10})
			c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
			_, err := fetchDay(context.Background(), c, day)
			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.code, ae.Code)
			assert.Equal(t, tc.class, ae.Class)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// panicking is a transport whose first call panics, with a value that must not be shown.
type panicking struct {
	calls atomic.Int32
	next  http.RoundTripper
}

func (p *panicking) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.calls.Add(1) == 1 {
		panic("body: " + stsToken)
	}
	return p.next.RoundTrip(req)
}

func TestStream_APanicUnderTheSDKIsARetryableErrorNotACrash(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 5, 22))
	var log bytes.Buffer
	c := newClientWith(t, clientOpts{endpoint: f.URL(), id: "testid", secret: "testsecret", pol: fastPolicy, log: &log,
		rt: &panicking{next: http.DefaultTransport}})
	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	assert.Len(t, rows, 5)
	assert.Contains(t, log.String(), `"code":"UnexpectedResponse"`, "the panic was retried")
	assertNoCredential(t, log.String(), stsToken)
	assert.NotContains(t, log.String(), "body:")

	pol := fastPolicy
	pol.Attempts = 1
	c = newClientWith(t, clientOpts{endpoint: f.URL(), id: "testid", secret: "testsecret", pol: pol,
		rt: &panicking{next: http.DefaultTransport}})
	_, err = fetchDay(context.Background(), c, day)
	var ae *billing.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "UnexpectedResponse", ae.Code)
	assert.True(t, ae.Retryable())
	assert.Equal(t, "the SDK could not read the endpoint's answer (it panicked; the panic's value is not shown)", ae.Message)
}

func TestStream_SuccessWithoutDataIsNeverAnEmptyDay(t *testing.T) {
	for _, tc := range []struct{ name, body, msg string }{
		{"no Data", `{"Code":"Success","Success":true,"RequestId":"R-2"}`, "the answer says Success but has no Data"},
		{"Data null", `{"Success":true,"Data":null}`, "the answer says Success but has no Data"},
		{"no TotalCount", `{"Success":true,"Data":{"Items":{"Item":[]}}}`, "its Data has no TotalCount"},
		{"TotalCount null", `{"Success":true,"Data":{"TotalCount":null,"Items":{"Item":[]}}}`, "its Data has no TotalCount"},
		{"Data under another case", `{"Success":true,"data":{"TotalCount":3,"Items":{"Item":[{},{},{}]}}}`,
			`has a member "data" where the API writes "Data"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := fetchAnswered(t, tc.body)
			assert.Nil(t, rows)
			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "UnexpectedResponse", ae.Code)
			assert.True(t, ae.Retryable(), "a garbled answer is tried again")
			assert.Equal(t, 200, ae.HTTPStatus)
			assert.Contains(t, err.Error(), "gave up after 2 attempts")
			assert.Contains(t, ae.Message, tc.msg)
		})
	}
	t.Run("once, then the day", func(t *testing.T) {
		f := startFake(t, bssfake.Options{})
		f.SetDay(day.String(), bssfake.SampleDay(day.String(), 7, 23))
		f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: `{"Success":true}`})
		c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
		rows, err := fetchDay(context.Background(), c, day)
		require.NoError(t, err)
		assert.Len(t, rows, 7)
	})
	t.Run("an empty day as the API sends it is fine", func(t *testing.T) {
		f := startFake(t, bssfake.Options{})
		f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: `{"Success":true,"Data":{"TotalCount":0,"BillingCycle":"2026-11"}}`})
		c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
		rows, err := fetchDay(context.Background(), c, day)
		require.NoError(t, err)
		assert.Empty(t, rows)
	})
}

// Members the SDK would not read (another case, given twice) make an answer that the SDK
// and encoding/json read differently: the day fails naming the member, never an empty day.
func TestStream_MembersReadDifferentlyByTheSDKFailTheDay(t *testing.T) {
	for _, tc := range []struct{ name, body, msg string }{
		{"TotalCount under another case", `{"Success":true,"Data":{"totalcount":0,"BillingCycle":"2026-11","Items":{"Item":[{"BillingDate":"x"}]}}}`,
			`the answer's Data has a member "totalcount" where the API writes "TotalCount"`},
		{"Items under another case", `{"Success":true,"Data":{"TotalCount":0,"BillingCycle":"2026-11","items":{"Item":[{"BillingDate":"x"}]}}}`,
			`the answer's Data has a member "items" where the API writes "Items"`},
		{"Data repeated", `{"Success":true,"Data":{"TotalCount":1,"Items":{"Item":[{"OwnerID":"1"}]}},"Data":{"TotalCount":1}}`,
			`has the member "Data" twice`},
		{"Success repeated", `{"Success":false,"Code":"InternalError","Success":true,"Data":{"TotalCount":0,"BillingCycle":"2026-11"}}`,
			`has the member "Success" twice`},
		{"no BillingCycle", `{"Success":true,"Data":{"TotalCount":0}}`,
			"the answer's Data has no BillingCycle: it does not say which month it is of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := fetchAnswered(t, tc.body)
			assert.Nil(t, rows)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestStream_MoreRowsThanTotalCountIsInconsistentNotAReRead(t *testing.T) {
	for _, tc := range []struct {
		rows, total, reqs int
		want              string
	}{
		{5, 0, 1, "page 1: inconsistent answer: page has 5 items but TotalCount is 0"},
		{300, 299, 1, "page 1: inconsistent answer: page has 300 items but TotalCount is 299"},
		{500, 400, 2, "page 2: inconsistent answer: 500 rows read by this page (200 on it) but TotalCount is 400"},
	} {
		t.Run(fmt.Sprintf("%d rows, TotalCount %d", tc.rows, tc.total), func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			f.SetDay(day.String(), bssfake.SampleDay(day.String(), tc.rows, 24))
			f.Inject(bssfake.Fault{Kind: bssfake.SetTotal, Total: tc.total, Times: 100})
			c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
			rows, err := fetchDay(context.Background(), c, day)
			assert.Nil(t, rows)
			require.ErrorIs(t, err, billing.ErrInconsistent)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "kept changing")
			assert.Len(t, f.Requests(), tc.reqs, "the day is not read again")
		})
	}
}

func TestStream_TokenEchoedAlteredIsHiddenInErrorsAndLogs(t *testing.T) {
	spaced := strings.ReplaceAll(stsToken, "+", " ")
	for name, msg := range map[string]string{
		"'+' as ' '":            "SecurityToken " + spaced + " is malformed",
		"'+' as ' ', no key":    "the token " + spaced + " is malformed",
		"cut short":             "token " + stsToken[:24] + "... is malformed",
		"secret after a space":  "AccessKeySecret " + stsSecret + " is wrong",
		"someone else's, space": "SecurityToken someoneElsesTOKEN123 is malformed",
	} {
		t.Run(name, func(t *testing.T) {
			f := startSTSFake(t)
			f.Inject(bssfake.Fault{Kind: bssfake.ErrorReply, Status: 503, Code: "ServiceUnavailable", Message: msg, Times: 2})
			var log bytes.Buffer
			pol := fastPolicy
			pol.Attempts = 2
			c := stsClient(t, f, pol, &log)
			_, err := fetchDay(context.Background(), c, day)

			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			require.Contains(t, log.String(), "bill query failed, retrying")
			assert.Contains(t, ae.Message, "[redacted]")
			assert.Contains(t, ae.Message, "is ", "the rest of the message is kept")
			for _, text := range []string{err.Error(), log.String()} {
				assertNoCredential(t, text, stsID, stsSecret, stsToken, "someoneElsesTOKEN123")
			}
		})
	}
}

func TestStream_ErrorAnswerOverTheLimitIsTooLarge(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 403, Body: `{"Code":5,"Message":"` + strings.Repeat("x", billing.MaxResponseBytes) + `"}`, Times: 2})
	pol := fastPolicy
	pol.Attempts = 2
	// 16 MiB over loopback: under -race on a loaded machine that can take longer than
	// fastPolicy's 2 s read timeout, which would end the read before the limit does.
	pol.ReadTimeout = time.Minute
	c := newClient(t, f.URL(), "testid", "testsecret", pol, nil)
	_, err := fetchDay(context.Background(), c, day)
	var ae *billing.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "ResponseTooLarge", ae.Code)
	assert.True(t, ae.Retryable())
}

// fetchAnswered reads the day from a fake that answers every request (of at most two
// attempts a page) with body and status 200.
func fetchAnswered(t *testing.T, body string) ([]billing.Row, error) {
	t.Helper()
	f := startFake(t, bssfake.Options{})
	f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: body, Times: 10})
	pol := fastPolicy
	pol.Attempts = 2
	return fetchDay(context.Background(), newClient(t, f.URL(), "testid", "testsecret", pol, nil), day)
}
