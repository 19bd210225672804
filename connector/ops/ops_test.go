package ops

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx/fxtest"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHandler_ReadyOnlyOnceStartedAndWhileCredentialsAreAccepted(t *testing.T) {
	m, h := NewMetrics(), &Health{}
	srv := Handler(m, h)
	code, _ := get(t, srv, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, body := get(t, srv, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "starting")
	h.Started()
	code, _ = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	h.CredentialsRefused("default", "InvalidAccessKeyId.NotFound: check access_key_id")
	code, body = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "the API refused the credentials of account default: InvalidAccessKeyId.NotFound: check access_key_id\n", body)
	h.CredentialsRefused("default", "")
	code, _ = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get(t, srv, "/nothing")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestHandler_MetricsAreExposedUnderThePrefix(t *testing.T) {
	m := NewMetrics()
	m.APIRequests.WithLabelValues("default", "QueryAccountBill", OutcomeOK).Inc()
	m.LastSuccess.WithLabelValues("default", "account").Set(1.7e9)
	code, body := get(t, Handler(m, &Health{}), "/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `alicloud_billing_api_requests_total{account="default",action="QueryAccountBill",outcome="ok"} 1`)
	assert.Contains(t, body, `alicloud_billing_last_success_timestamp_seconds{account="default",bill="account"} 1.7e+09`)
	assert.Contains(t, body, "go_goroutines")
	assert.Contains(t, body, "alicloud_billing_state_commits_total ", "the state file's commits (group commit: fsyncs)")
}

func TestNewServer_ATakenPortIsAConfigErrorNamingIt(t *testing.T) {
	hold := httptest.NewServer(http.NotFoundHandler())
	defer hold.Close()
	addr := strings.TrimPrefix(hold.URL, "http://")
	lc := fxtest.NewLifecycle(t)
	NewServer(Params{Lifecycle: lc, Options: Options{Listen: addr}, Metrics: NewMetrics(), Health: &Health{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	err := lc.Start(t.Context())
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "config: listen: cannot listen on "+`"`+addr+`"`)
}

func TestNewServer_AnEmptyListenServesNothing(t *testing.T) {
	lc := fxtest.NewLifecycle(t)
	s := NewServer(Params{Lifecycle: lc, Options: Options{}, Metrics: NewMetrics(), Health: &Health{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	lc.RequireStart().RequireStop()
	assert.Nil(t, s.Addr())
}
