package billing

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// The bodies of the review: each panics errors.NewServerError.
var sdkPanicBodies = []string{
	`{"Code":"NotAuthorized","Message":"no","AccessDeniedDetail":"x"}`,
	`{"Code":["x"]}`,
	`{"Code":5}`,
	`{"Code":"x","RequestId":5}`,
}

// newServerErrorPanics reports whether the SDK panics on body as an error answer.
func newServerErrorPanics(body string) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	_ = sdkerrors.NewServerError(403, body, "")
	return false
}

// The guard's check is the SDK's: what it lets through the SDK reads, what it stops the
// SDK panics on.
func TestSDKReadableError_IsExactlyWhatNewServerErrorSurvives(t *testing.T) {
	bodies := append([]string{
		`{"Code":"x","Message":{"a":1}}`, `{"Code":"x","HostId":true}`, `{"Code":"x","Recommend":1.5}`,
		`{"AccessDeniedDetail":[1]}`, `{"AccessDeniedDetail":"x","Code":"y"}`, `{"Code":"x","Code":5}`, `{"Code":5,"Code":"x"}`,
		`{"Code":"ok","AccessDeniedDetail":{"a":[1]}}`, `{"Code":null,"RequestId":null,"AccessDeniedDetail":null}`,
		`{"code":5,"requestid":[],"accessdenieddetail":"x"}`, `{"Code":"x","Other":5}`,
		`[{"Code":5}]`, `"Code"`, `5`, `null`, `<html>502</html>`, ``, `{"Code":`,
	}, sdkPanicBodies...)
	for _, b := range bodies {
		_, readable := sdkReadableError([]byte(b))
		assert.Equal(t, !readable, newServerErrorPanics(b), "body %s", b)
	}
	for _, b := range sdkPanicBodies {
		assert.True(t, newServerErrorPanics(b), "the SDK still panics on %s (else this test proves nothing)", b)
	}
}

func FuzzSDKReadableError(f *testing.F) {
	for _, b := range sdkPanicBodies {
		f.Add(b)
	}
	f.Add(`{"Code":"x","RequestId":"r","AccessDeniedDetail":{}}`)
	f.Fuzz(func(t *testing.T, body string) {
		if _, readable := sdkReadableError([]byte(body)); readable && newServerErrorPanics(body) {
			t.Errorf("the SDK panics on %q, which the guard lets through", body)
		}
	})
}

// Without the guard's check, the SDK panics on its goroutine in Client.call: the panic is
// recovered into a retryable error, and the test binary lives on.
func TestFetchDay_SDKPanicOnAnErrorAnswerIsRecovered(t *testing.T) {
	for _, body := range sdkPanicBodies {
		t.Run(body, func(t *testing.T) {
			fake := bssfake.New(bssfake.Options{})
			require.NoError(t, fake.Start("127.0.0.1:0"))
			t.Cleanup(func() { _ = fake.Close() })
			fake.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 403, Body: body, Times: 2})
			u, err := url.Parse(fake.URL())
			require.NoError(t, err)
			pol := Policy{Attempts: 2, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
				RequestsPerSec: 1000, ReadTimeout: 2 * time.Second, ConnectTimeout: time.Second}
			cfg, err := config.FromValues(map[string]any{"v_target": "http://127.0.0.1:1", "endpoint": u.Scheme + "://" + u.Host,
				"access_key_id": "testid", "secret_access_Key": "testsecret"})
			require.NoError(t, err)
			c, err := newClient(Params{
				Config: cfg, Clock: clockwork.NewRealClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Policy: &pol,
			}, true, nil)
			require.NoError(t, err)

			_, err = c.FetchDay(context.Background(), calendar.Day{Year: 2026, Month: time.November, Day: 3})
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "UnexpectedResponse", ae.Code)
			assert.True(t, ae.Retryable())
			assert.Contains(t, err.Error(), "gave up after 2 attempts")
			assert.Regexp(t, `^the SDK could not read the endpoint's answer: interface conversion: interface \{\} is `, ae.Message)
			assert.LessOrEqual(t, len(ae.Message), 200, "short")
			assert.NotContains(t, ae.Message, "NotAuthorized", "never the body")
			assert.Len(t, fake.Requests(), 2)
		})
	}
}
