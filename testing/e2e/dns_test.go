package e2e

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// An endpoint whose host DNS does not know fails a --once in seconds with exit status 2
// and a line naming the host and the key (it was retried for 77 s, then exit 1). The
// billing transport dials as net.Dialer does when DNS answers NXDOMAIN: the test does not
// depend on this machine's DNS.
func TestE2E_AnUnknownEndpointHostFailsInSecondsWithStatus2(t *testing.T) {
	e := harness.New(t)
	noSuchHost := &http.Transport{DialContext: func(_ context.Context, network, _ string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "business.aliyunc.com", IsNotFound: true}}
	}}
	start := time.Now()
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"endpoint": "business.aliyunc.com"}), "--once", "--date", e.Day.String()},
		fx.Provide(fx.Annotate(func() http.RoundTripper { return noSuchHost }, fx.ResultTags(`name:"billing"`))))
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Contains(t, r.Stderr, `"msg":"day failed"`)
	assert.Contains(t, r.Stderr, "UnknownHost: DNS knows no host business.aliyunc.com; check endpoint")
	require.Zero(t, e.Sink.Attempts())
}
