package billing_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
)

// dnsTransport dials as net.Dialer does when DNS answers with err: every dial fails with
// it (the *net.OpError around a *net.DNSError that net/http wraps in a *url.Error).
func dnsTransport(dials *atomic.Int32, dnsErr *net.DNSError) http.RoundTripper {
	return &http.Transport{DialContext: func(_ context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		return nil, &net.OpError{Op: "dial", Net: network, Err: dnsErr}
	}}
}

// An endpoint whose host does not exist (DNS: no such host) fails at once, as a Setup
// error (exit status 2) naming the host and the key; it was retried for over a minute.
func TestStream_AnUnknownEndpointHostFailsAtOnceNamingItAndTheKey(t *testing.T) {
	var dials atomic.Int32
	rt := dnsTransport(&dials, &net.DNSError{Err: "no such host", Name: "business.aliyunc.com", Server: "10.0.0.53:53", IsNotFound: true})
	c := newClient(t, "https://business.aliyunc.com", "testid", "testsecret", fastPolicy, rt)
	_, err := fetchDay(context.Background(), c, day)
	var ae *billing.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, billing.Setup, ae.Class)
	assert.True(t, ae.NeedsConfigFix())
	assert.Equal(t, int32(1), dials.Load(), "not retried")
	assert.Contains(t, err.Error(), "UnknownHost: DNS knows no host business.aliyunc.com; check endpoint")
}

// A DNS failure that may pass (a timeout, SERVFAIL) is retried as before.
func TestStream_ATemporaryDNSFailureIsRetried(t *testing.T) {
	for name, dnsErr := range map[string]*net.DNSError{
		"timeout":  {Err: "i/o timeout", Name: "business.aliyuncs.com", IsTimeout: true, IsTemporary: true},
		"servfail": {Err: "server misbehaving", Name: "business.aliyuncs.com", IsTemporary: true},
		// IsNotFound with IsTemporary: the resolver itself is unsure.
		"not found, temporary": {Err: "no such host", Name: "business.aliyuncs.com", IsNotFound: true, IsTemporary: true},
	} {
		t.Run(name, func(t *testing.T) {
			var dials atomic.Int32
			c := newClient(t, "https://business.aliyuncs.com", "testid", "testsecret", fastPolicy, dnsTransport(&dials, dnsErr))
			_, err := fetchDay(context.Background(), c, day)
			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, billing.Retryable, ae.Class, "%v", err)
			assert.Equal(t, int32(fastPolicy.Attempts), dials.Load())
			assert.Contains(t, err.Error(), "gave up after 4 attempts")
		})
	}
}
