package sender

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dnsSender is an HTTP sender to http://sink.invalid:8081/ whose dials fail as net.Dialer's
// do when DNS answers with dnsErr; dials counts them.
func dnsSender(t *testing.T, dnsErr *net.DNSError, dials *atomic.Int32) *Sender {
	t.Helper()
	u, err := url.Parse("http://sink.invalid:8081/")
	require.NoError(t, err)
	s, err := New(Params{Options: Options{Target: u, Concurrency: 1}, Clock: clockwork.NewRealClock(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policy: &Policy{Attempts: 4, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Timeout: time.Second,
			Cooldown: time.Millisecond, OutageBudget: 10 * time.Second}})
	require.NoError(t, err)
	s.tr.(*httpTransport).tr.DialContext = func(_ context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		return nil, &net.OpError{Op: "dial", Net: network, Err: dnsErr}
	}
	return s
}

func dnsEvents(n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		e := event.New()
		e.SetID(fmt.Sprintf("00000000-0000-5000-8000-%012d", i))
		e.SetSource("cloud.alicloud.billing")
		e.SetType("alicloud.account_billing.daily")
		_ = e.SetData(event.ApplicationJSON, map[string]int{"n": i})
		out[i] = e
	}
	return out
}

// A v_target whose host does not exist (DNS: no such host) fails the first event at once
// and the others with it, as a *ConfigError naming the host and v_target (exit status 2):
// it was an outage, retried for minutes.
func TestSend_AnUnknownReceiverHostFailsAtOnceNamingIt(t *testing.T) {
	var dials atomic.Int32
	s := dnsSender(t, &net.DNSError{Err: "no such host", Name: "sink.invalid", Server: "10.0.0.53:53", IsNotFound: true}, &dials)
	failures := s.Send(context.Background(), dnsEvents(3), nil)
	require.Len(t, failures, 3)
	for _, f := range failures {
		require.ErrorIs(t, f.Err, ErrUnknownHost)
		var ce *ConfigError
		require.ErrorAs(t, f.Err, &ce)
		assert.True(t, ce.NeedsConfigFix())
		assert.Equal(t, "DNS knows no host sink.invalid (the receiver's): check v_target's host", f.Err.Error())
	}
	assert.Equal(t, int32(1), dials.Load(), "not retried, and the other events not tried")
}

// A DNS failure that may pass (a timeout, SERVFAIL) stays an outage, retried.
func TestSend_ATemporaryDNSFailureIsRetried(t *testing.T) {
	for name, dnsErr := range map[string]*net.DNSError{
		"timeout":              {Err: "i/o timeout", Name: "sink.invalid", IsTimeout: true, IsTemporary: true},
		"servfail":             {Err: "server misbehaving", Name: "sink.invalid", IsTemporary: true},
		"not found, temporary": {Err: "no such host", Name: "sink.invalid", IsNotFound: true, IsTemporary: true},
	} {
		t.Run(name, func(t *testing.T) {
			var dials atomic.Int32
			failures := dnsSender(t, dnsErr, &dials).Send(context.Background(), dnsEvents(1), nil)
			require.Len(t, failures, 1)
			assert.ErrorIs(t, failures[0].Err, ErrReceiverUnavailable)
			assert.NotErrorIs(t, failures[0].Err, ErrUnknownHost)
			assert.Equal(t, int32(4), dials.Load())
		})
	}
}

// The NATS server's host: the same rule.
func TestNATSClassify_AnUnknownServerHostIsAConfigError(t *testing.T) {
	tr := &natsTransport{server: "nats://nats.invalid:4222", redact: newRedactor(nil)}
	dial := func(de *net.DNSError) error { return &net.OpError{Op: "dial", Net: "tcp", Err: de} }
	o, err := tr.classify(context.Background(), dial(&net.DNSError{Err: "no such host", Name: "nats.invalid", IsNotFound: true}))
	assert.Equal(t, answered, o)
	require.ErrorIs(t, err, ErrUnknownHost)
	assert.Equal(t, "DNS knows no host nats.invalid (the NATS server's): check v_target's host", err.Error())
	o, err = tr.classify(context.Background(), dial(&net.DNSError{Err: "server misbehaving", Name: "nats.invalid", IsTemporary: true}))
	assert.Equal(t, outage, o)
	assert.NotErrorIs(t, err, ErrUnknownHost)
}
