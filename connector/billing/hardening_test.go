package billing_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// Temporary credentials shaped like real ones: the token holds the '+', '/' and '=' that
// percent-encoding changes, so a leak in any encoding shows.
const (
	stsID     = "STS.NUgYrLnoC37mZZCNnAbez2"
	stsSecret = "4gRdsWqVm1TeyDzyFc3nB4Ev6BvtV2Gp8R2spN5bNNxC"
	stsToken  = "CAIS+AF1q6Ft5B2yfSjIr5bSEdX/hrZJxaqtZ0T/0zM/a+tmoZTHqjz2IHpLfHFoBOsXs/8+nWBX6PsYlrgpEpYUGR=="
)

var alnumRun = regexp.MustCompile(`[A-Za-z0-9]{6,}`)

// assertNoCredential fails when text holds any part of the credentials in any encoding:
// percent-encoding (once, twice, in either hex case) leaves runs of letters and digits
// alone, so every such run of 6 or more is looked for. An AccessKey ID may keep its
// first 4 characters ("STS.").
func assertNoCredential(t *testing.T, text string, creds ...string) {
	t.Helper()
	for _, c := range creds {
		for _, run := range alnumRun.FindAllString(c, -1) {
			if strings.Contains(text, run) {
				t.Errorf("credential part %q leaked in:\n%s", run, text)
			}
		}
	}
}

func startSTSFake(t *testing.T) *bssfake.Server {
	t.Helper()
	return startFake(t, bssfake.Options{Keys: map[string]string{stsID: stsSecret}})
}

func stsClient(t *testing.T, f *bssfake.Server, pol billing.Policy, log *bytes.Buffer) *billing.Client {
	t.Helper()
	o := clientOpts{endpoint: f.URL(), id: stsID, secret: stsSecret, token: stsToken, pol: pol}
	if log != nil {
		o.log = log
	}
	return newClientWith(t, o)
}

// allocated is how many bytes the process allocated while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestStream_BodyOverTheLimitFailsThePageWithoutReadingItWhole(t *testing.T) {
	for _, declared := range []bool{false, true} {
		t.Run(fmt.Sprintf("content-length=%v", declared), func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			f.SetDay(day.String(), bssfake.SampleDay(day.String(), 10, 7))
			// A valid JSON answer, padded: only a size limit tells it from a good page.
			f.Inject(bssfake.Fault{Kind: bssfake.HugeBody, Size: 16 * billing.MaxResponseBytes, DeclareLength: declared, Times: 10})
			pol := fastPolicy
			pol.Attempts = 2
			pol.ReadTimeout = time.Minute // reading 16 MiB under -race on a loaded machine: the limit, not the clock, must end it
			c := newClient(t, f.URL(), "testid", "testsecret", pol, nil)
			var err error
			used := allocated(func() { _, err = fetchDay(context.Background(), c, day) })

			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "ResponseTooLarge", ae.Code)
			assert.True(t, ae.Retryable(), "a too large answer is a failed page")
			assert.Contains(t, err.Error(), "larger than 16 MiB")
			assert.Contains(t, err.Error(), "gave up after 2 attempts")
			assert.Len(t, f.Requests(), 2)
			// Two attempts reading at most 16 MiB each, not 256 MiB. The SDK's io.ReadAll
			// grows its buffer by 1.25x, allocating about 5x what it reads in all.
			assert.Less(t, used, uint64(2*8*billing.MaxResponseBytes), "bytes allocated")
		})
	}
}

func TestStream_BodyOfExactlyTheLimitIsRead(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 10, 7))
	f.Inject(bssfake.Fault{Kind: bssfake.HugeBody, Size: billing.MaxResponseBytes})
	pol := fastPolicy
	pol.Attempts = 1
	pol.ReadTimeout = time.Minute // 16 MiB under -race on a loaded machine
	c := newClient(t, f.URL(), "testid", "testsecret", pol, nil)
	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	assert.Len(t, rows, 10)
}

func TestStream_RedirectIsNeverFollowedAndNamesOnlyTheHost(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"Code":"Success","Success":true,"RequestId":"r","Data":{"TotalCount":0,"Items":{"Item":[]}}}`))
	}))
	t.Cleanup(target.Close)
	targetHost := strings.TrimPrefix(target.URL, "http://")

	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := startSTSFake(t)
			f.Inject(bssfake.Fault{Kind: bssfake.Redirect, Status: status, Location: target.URL, Times: 10})
			c := stsClient(t, f, fastPolicy, nil)
			_, err := fetchDay(context.Background(), c, day)

			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, billing.Setup, ae.Class)
			assert.True(t, ae.NeedsConfigFix())
			assert.Equal(t, "Redirect", ae.Code)
			assert.Equal(t, status, ae.HTTPStatus)
			msg := err.Error()
			assert.Contains(t, msg, fmt.Sprintf("the endpoint answered HTTP %d (redirect to host %s); redirects are not followed", status, targetHost))
			assert.Contains(t, msg, "set endpoint to the right host")
			for _, part := range []string{"?", "Signature", "Timestamp", "BillingDate", "SecurityToken"} {
				assert.NotContains(t, msg, part, "the Location's query")
			}
			assertNoCredential(t, msg, stsID, stsSecret, stsToken)
			assert.Len(t, f.Requests(), 1, "not retried")
		})
	}
	assert.Zero(t, hits.Load(), "the signed request reached the host the redirect named")
}

func TestStream_AbsurdTotalCountFailsTheDayNamingIt(t *testing.T) {
	for _, tc := range []struct {
		name       string
		total      int
		page, reqs int
		want       string
	}{
		{"negative", -5, 1, 1, "TotalCount is -5, below zero"},
		{"huge", 1_000_000_000, 1, 1, "TotalCount is 1000000000, above the 1000000 rows a day's bill can have"},
		{"just above the maximum", billing.MaxTotalCount + 1, 1, 1, "TotalCount is 1000001, above"},
		{"negative on a later page", -1, 2, 2, "page 2: inconsistent answer: TotalCount is -1, below zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			f.SetDay(day.String(), bssfake.SampleDay(day.String(), 500, 9))
			f.Inject(bssfake.Fault{Kind: bssfake.SetTotal, Total: tc.total, Page: tc.page})
			c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
			rows, err := fetchDay(context.Background(), c, day)
			require.Error(t, err)
			assert.Nil(t, rows)
			assert.ErrorIs(t, err, billing.ErrInconsistent)
			assert.Contains(t, err.Error(), tc.want)
			assert.Len(t, f.Requests(), tc.reqs, "no re-read of the day")
		})
	}
}

func TestStream_LargeTotalCountIsNotPreallocated(t *testing.T) {
	// TotalCount at the maximum on every page, 10 real rows: the day fails at the empty
	// page 2, and nothing near a million rows (some 300 MB) was allocated ahead.
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 10, 10))
	f.Inject(bssfake.Fault{Kind: bssfake.SetTotal, Total: billing.MaxTotalCount, Times: 100})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	var err error
	used := allocated(func() { _, err = fetchDay(context.Background(), c, day) })
	require.Error(t, err)
	assert.ErrorIs(t, err, billing.ErrInconsistent)
	assert.Contains(t, err.Error(), "empty page with 10 of 1000000 rows read")
	assert.Less(t, used, uint64(32<<20), "bytes allocated")
}

func TestStream_PageWithMoreRowsThanAskedFails(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 500, 11))
	f.Inject(bssfake.Fault{Kind: bssfake.OversizePage, Page: 1})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	_, err := fetchDay(context.Background(), c, day)
	require.ErrorIs(t, err, billing.ErrInconsistent)
	assert.Contains(t, err.Error(), "query bill 2026-11-03 page 1: inconsistent answer: 301 rows on a page of at most 300")
	assert.Len(t, f.Requests(), 1)
}

func TestStream_AnswerForAnotherPageFails(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 700, 12))
	f.Inject(bssfake.Fault{Kind: bssfake.IgnorePageNum, Times: 100})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	_, err := fetchDay(context.Background(), c, day)
	require.ErrorIs(t, err, billing.ErrInconsistent)
	assert.Contains(t, err.Error(), "asked for page 2, the answer is page 1")
	assert.Len(t, f.Requests(), 2)
}

func TestStream_RepeatedPageIsAnErrorNeverMoreRows(t *testing.T) {
	t.Run("API ignores PageNum", func(t *testing.T) {
		// 3000 rows, every answer page 1 with the PageNum echoed: read naively, ten copies
		// of page 1 make a "complete" day with a 10x inflated bill.
		f := startFake(t, bssfake.Options{})
		f.SetDay(day.String(), bssfake.SampleDay(day.String(), 3000, 13))
		f.Inject(bssfake.Fault{Kind: bssfake.RepeatPage, Times: 100})
		c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
		rows, err := fetchDay(context.Background(), c, day)
		require.ErrorIs(t, err, billing.ErrInconsistent)
		assert.Nil(t, rows)
		assert.Contains(t, err.Error(), "page 2 repeats page 1 (the same 300 rows)")
		assert.Len(t, f.Requests(), 2)
	})
	t.Run("one page repeated", func(t *testing.T) {
		f := startFake(t, bssfake.Options{})
		f.SetDay(day.String(), bssfake.SampleDay(day.String(), 1000, 14))
		f.Inject(bssfake.Fault{Kind: bssfake.RepeatPage, Page: 3, Of: 2})
		c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
		_, err := fetchDay(context.Background(), c, day)
		require.ErrorIs(t, err, billing.ErrInconsistent)
		assert.Contains(t, err.Error(), "page 3 repeats page 2")
	})
}

func TestStream_SignatureMismatchMessageHidesTheCredentials(t *testing.T) {
	// The API quotes the string it signed: AccessKeyId and SecurityToken, encoded twice.
	// The quote is dropped; were it kept, the redaction would hide them (the test below
	// checks that form too).
	f := startSTSFake(t)
	f.Inject(bssfake.Fault{Kind: bssfake.SignatureMismatch})
	var log bytes.Buffer
	c := stsClient(t, f, fastPolicy, &log)
	_, err := fetchDay(context.Background(), c, day)

	var ae *billing.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "SignatureDoesNotMatch", ae.Code)
	assert.Equal(t, billing.Credentials, ae.Class)
	msg := err.Error()
	assert.Contains(t, msg, "Specified signature is not matched with our calculation. (the string the server signed is not shown)")
	assert.NotContains(t, msg, "POST&%2F&")
	assertNoCredential(t, msg, stsID, stsSecret, stsToken)
	assertNoCredential(t, log.String(), stsID, stsSecret, stsToken)
}

var hexEscape = regexp.MustCompile(`%[0-9A-F]{2}`)

func lowerHex(s string) string { return hexEscape.ReplaceAllStringFunc(s, strings.ToLower) }

func TestStream_CredentialsInAnyAPITextAreHiddenInErrorsAndLogs(t *testing.T) {
	q := url.QueryEscape
	forms := map[string]string{
		"query":            "AccessKeyId=" + stsID + "&SecurityToken=" + q(stsToken) + "&Signature=SIGvalue123abc%2Bxyz%3D&Version=1",
		"encoded twice":    q(q(stsToken)) + " " + q(q(stsID)) + " " + q(q(stsSecret)),
		"lower-case hex":   lowerHex(q(stsToken)) + " " + lowerHex(q(q(stsToken))),
		"path-escaped":     url.PathEscape(stsToken),
		"raw":              stsToken + " " + stsSecret + " " + stsID,
		"string to sign":   "POST&%2F&AccessKeyId%3DNotOursABCDEF123%26SecurityToken%3DsomeTOKEN%252Bpart2%26Timestamp%3D1",
		"json":             `{"SecurityToken":"someoneElsesTOKEN123","AccessKeySecret":"otherSECRET456"}`,
		"url with a query": "see https://business.aliyuncs.com/?Signature=abcSIG999&x=1 for more",
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			f := startSTSFake(t)
			// Retryable, so the code is logged on each retry, then reported.
			f.Inject(bssfake.Fault{Kind: bssfake.ErrorReply, Status: 503, Code: "ServiceUnavailable." + q(stsToken), Message: "echo: " + form, Times: 2})
			var log bytes.Buffer
			pol := fastPolicy
			pol.Attempts = 2
			c := stsClient(t, f, pol, &log)
			_, err := fetchDay(context.Background(), c, day)

			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.True(t, ae.Retryable())
			require.Contains(t, log.String(), "bill query failed, retrying", "the retry was logged")
			assert.Less(t, len(ae.Message), 300, "the whole message is checked, none cut off")
			for _, text := range []string{err.Error(), log.String()} {
				assertNoCredential(t, text, stsID, stsSecret, stsToken,
					"SIGvalue123abc", "NotOursABCDEF123", "someTOKEN", "someoneElsesTOKEN123", "otherSECRET456", "abcSIG999")
				assert.NotContains(t, text, "x=1", "a URL's query")
			}
		})
	}
}

func TestStream_CredentialsHiddenKeepTheRestOfTheMessage(t *testing.T) {
	f := startSTSFake(t)
	f.Inject(bssfake.Fault{Kind: bssfake.ErrorReply, Status: 400, Code: "InvalidParameter",
		Message: "bad: AccessKeyId=" + stsID + "&SecurityToken=" + url.QueryEscape(stsToken) + "&Signature=SIGvalue%3D&PageNum=2"})
	c := stsClient(t, f, fastPolicy, nil)
	_, err := fetchDay(context.Background(), c, day)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad: AccessKeyId=STS.[redacted]&SecurityToken=[redacted]&Signature=[redacted]&PageNum=2")
}

func TestStream_APITextIsOneBoundedLineWithoutControlCharacters(t *testing.T) {
	hostile := "refused:\x1b[31m red\x1b[0m\x07 text\r\nnext\tline \u202eevil\u202c \x1b]8;;http://x.test\x1b\\link\x1b]8;;\x1b\\ \x00\x7f\u009b2J" +
		strings.Repeat("x", 5000)
	f := startFake(t, bssfake.Options{})
	f.Inject(bssfake.Fault{Kind: bssfake.ErrorReply, Status: 400, Code: "InvalidParameter\x1b[2J\n", Message: hostile})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	_, err := fetchDay(context.Background(), c, day)

	var ae *billing.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "InvalidParameter", ae.Code)
	assert.Equal(t, billing.Request, ae.Class, "the cleaned code still classifies")
	msg := err.Error()
	for _, r := range msg {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			t.Errorf("control character %U in %q", r, msg)
		}
	}
	assert.True(t, strings.HasPrefix(ae.Message, "refused: red text next line evil link xxx"), ae.Message)
	assert.LessOrEqual(t, len(ae.Message), 303, "bounded")
	assert.True(t, strings.HasSuffix(ae.Message, "..."), "the cut is marked")
}

func TestStream_ItemTextIsDeliveredAsTheAPISentIt(t *testing.T) {
	// Rows are data, delivered as JSON (which escapes them): only errors and logs are
	// cleaned, never the bill.
	f := startFake(t, bssfake.Options{})
	items := bssfake.SampleDay(day.String(), 3, 15)
	items[1].ProductName = "odd\x1b[2J name\u202e\n"
	f.SetDay(day.String(), items)
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.Equal(t, items[1].ProductName, rows[1].ProductName)
}

func TestStream_RetryWaitsOnTheInjectedClock(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 5, 16))
	f.Inject(bssfake.Fault{Kind: bssfake.ServerError}) // backs off (throttling is spaced by the pacer instead)
	fc := clockwork.NewFakeClock()
	pol := fastPolicy
	c := newClientWith(t, clientOpts{endpoint: f.URL(), id: "testid", secret: "testsecret", pol: pol, clock: fc})
	type result struct {
		rows []billing.Row
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rows, err := fetchDay(context.Background(), c, day)
		done <- result{rows, err}
	}()
	require.NoError(t, fc.BlockUntilContext(t.Context(), 1), "the retry waits on the clock")
	assert.Len(t, f.Requests(), 1)
	fc.Advance(pol.MaxBackoff)
	r := <-done
	require.NoError(t, r.err)
	assert.Len(t, r.rows, 5)
	assert.Len(t, f.Requests(), 2)
}

func TestAPIError_NeedsConfigFix(t *testing.T) {
	for class, want := range map[billing.Class]bool{billing.Retryable: false, billing.Credentials: true, billing.Request: false, billing.Setup: true} {
		assert.Equal(t, want, (&billing.APIError{Class: class}).NeedsConfigFix(), class.String())
	}
	assert.Equal(t, "setup", billing.Setup.String())
	assert.False(t, errors.Is(&billing.APIError{}, billing.ErrInconsistent))
}
