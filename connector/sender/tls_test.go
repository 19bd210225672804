package sender_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// testCA signs the certificates of the TLS tests. TestMain makes it the only CA this test
// binary trusts, through SSL_CERT_FILE as an operator would (Go reads it once, on Linux).
var testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sender-test-ca")
	if err != nil {
		log.Fatal(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := trustTestCA(dir); err != nil {
			log.Print(err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func trustTestCA(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sender test CA"},
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	testCA.cert, err = x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	testCA.key = key
	file := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.Setenv("SSL_CERT_FILE", file)
}

// leaf is a server certificate from testCA for dns or ip, valid in [from, until).
func leaf(t *testing.T, dns string, ip net.IP, from, until time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "receiver"},
		NotBefore: from, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if dns != "" {
		tmpl.DNSNames = []string{dns}
	}
	if ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, testCA.cert, &key.PublicKey, testCA.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsSink serves a sink over TLS (httptest's own self-signed certificate when cert is nil)
// and counts the connections opened to it.
func tlsSink(t *testing.T, cert *tls.Certificate) (*sink.Sink, *httptest.Server, *atomic.Int64) {
	t.Helper()
	k := sink.New()
	ts := httptest.NewUnstartedServer(k.Handler())
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	var conns atomic.Int64
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if cert != nil {
		ts.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return k, ts, &conns
}

var (
	longAgo  = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	farAhead = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
)

// A receiver whose certificate is not trusted fails every event at once, with a hint and as
// an ErrTLS *ConfigError: no retry, no breaker wait (the fake clock never moves), and no
// handshakes beyond the sends already in flight.
func TestSend_UntrustedCertificateFailsAtOnce(t *testing.T) {
	k, ts, conns := tlsSink(t, nil) // httptest's self-signed certificate
	failures := build(t, ts.URL, options{policy: outage, clock: clockwork.NewFakeClock()}).Send(guard(t), events(20), nil)

	require.Len(t, failures, 20)
	requireAll(t, failures, sender.ErrTLS)
	var cfg *sender.ConfigError
	require.ErrorAs(t, failures[0].Err, &cfg)
	assert.True(t, strings.HasPrefix(failures[0].Err.Error(),
		"the receiver's TLS certificate is not trusted: x509: certificate signed by unknown authority"), failures[0].Err.Error())
	assert.NotErrorIs(t, failures[0].Err, sender.ErrReceiverUnavailable)
	assert.LessOrEqual(t, conns.Load(), int64(concurrency))
	assert.Zero(t, k.Attempts())
}

// A certificate from a trusted CA is still refused at once when it names another host or
// has expired; a valid one delivers (the test CA is really trusted).
func TestSend_CertificateForAnotherHostOrExpiredFailsAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test CA is trusted through SSL_CERT_FILE, which Go reads on Linux only")
	}
	loopback := net.IPv4(127, 0, 0, 1)
	for _, tc := range []struct {
		name string
		cert tls.Certificate
		want string // "" for delivered
	}{
		{"valid", leaf(t, "", loopback, longAgo, farAhead), ""},
		{"another host", leaf(t, "receiver.example", net.IPv4(192, 0, 2, 1), longAgo, farAhead),
			"the receiver's TLS certificate is not trusted: x509: certificate is valid for 192.0.2.1, not 127.0.0.1; v_target's host must be"},
		{"expired", leaf(t, "", loopback, longAgo, longAgo.AddDate(1, 0, 0)),
			"the receiver's TLS certificate is not trusted: x509: certificate has expired or is not yet valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, ts, conns := tlsSink(t, &tc.cert)
			failures := build(t, ts.URL, options{policy: outage, clock: clockwork.NewFakeClock()}).Send(guard(t), events(20), nil)
			if tc.want == "" {
				requireNone(t, failures)
				assert.Len(t, ids(k.Events()), 20)
				return
			}
			require.Len(t, failures, 20)
			requireAll(t, failures, sender.ErrTLS)
			assert.True(t, strings.HasPrefix(failures[0].Err.Error(), tc.want), failures[0].Err.Error())
			assert.LessOrEqual(t, conns.Load(), int64(concurrency))
			assert.Zero(t, k.Attempts())
		})
	}
}

// tlsReceiver serves a sink with cfg (nil for plain HTTP) and counts the connections
// opened to it.
func tlsReceiver(t *testing.T, cfg *tls.Config) (*sink.Sink, *httptest.Server, *atomic.Int64) {
	t.Helper()
	k := sink.New()
	ts := httptest.NewUnstartedServer(k.Handler())
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	var conns atomic.Int64
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if cfg == nil {
		ts.Start()
	} else {
		ts.TLS = cfg
		ts.StartTLS()
	}
	t.Cleanup(ts.Close)
	return k, ts, &conns
}

// notTLSServer answers every connection with an SSH banner, and counts them.
func notTLSServer(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			_ = c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

// TLS that cannot work, however often it is retried, fails every event at once as an
// ErrTLS *ConfigError with a hint, not as an outage: an https:// v_target on a plain HTTP
// port or on a port that speaks neither, a receiver that only speaks TLS 1.1, one that
// shares no cipher suite with the sender. No retry, no breaker wait (the fake clock never
// moves), no connections beyond the sends already in flight.
func TestSend_TLSThatCannotWorkFailsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (target string, conns *atomic.Int64)
		want  string
	}{
		{"https:// to a plain HTTP port", func(t *testing.T) (string, *atomic.Int64) {
			_, ts, conns := tlsReceiver(t, nil)
			return "https://" + strings.TrimPrefix(ts.URL, "http://"), conns
		}, "TLS with the receiver failed: http: server gave HTTP response to HTTPS client; " +
			"the receiver does not speak TLS on this port: use http:// or the TLS port"},
		{"https:// to a port that is not TLS nor HTTP", func(t *testing.T) (string, *atomic.Int64) {
			addr, conns := notTLSServer(t)
			return "https://" + addr, conns
		}, "TLS with the receiver failed: tls: first record does not look like a TLS handshake; " +
			"the receiver does not speak TLS on this port: use http:// or the TLS port"},
		{"receiver speaks TLS 1.1 at most", func(t *testing.T) (string, *atomic.Int64) {
			_, ts, conns := tlsReceiver(t, &tls.Config{MaxVersion: tls.VersionTLS11})
			return ts.URL, conns
		}, "TLS with the receiver failed: remote error: tls: protocol version not supported; " +
			"the receiver offers no TLS version this connector speaks (TLS 1.2 and 1.3)"},
		{"no common cipher suite", func(t *testing.T) (string, *atomic.Int64) {
			_, ts, conns := tlsReceiver(t, &tls.Config{MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tls.TLS_RSA_WITH_RC4_128_SHA}})
			return ts.URL, conns
		}, "TLS with the receiver failed: remote error: tls: handshake failure; " +
			"the receiver shares no TLS version or cipher suite with this connector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, conns := tc.start(t)
			var logs logBuffer
			failures := build(t, target, options{policy: outage, clock: clockwork.NewFakeClock(), log: &logs}).
				Send(guard(t), events(20), nil)

			require.Len(t, failures, 20)
			requireAll(t, failures, sender.ErrTLS)
			var cfg *sender.ConfigError
			require.ErrorAs(t, failures[0].Err, &cfg)
			assert.True(t, strings.HasPrefix(failures[0].Err.Error(), tc.want), failures[0].Err.Error())
			assert.NotErrorIs(t, failures[0].Err, sender.ErrReceiverUnavailable)
			assert.LessOrEqual(t, conns.Load(), int64(concurrency), "retried")
			assert.NotContains(t, logs.String(), "retrying")
		})
	}
}

// A receiver that requires a client certificate (which the sender does not send) refuses
// the handshake with an alert, in TLS 1.3 ("certificate required", once the client has
// finished its side) and in TLS 1.2 (Go's "handshake failure"; others send "bad
// certificate"): a configuration error too.
func TestSend_ReceiverRequiringAClientCertificateFailsAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test CA is trusted through SSL_CERT_FILE, which Go reads on Linux only")
	}
	cert := leaf(t, "", net.IPv4(127, 0, 0, 1), longAgo, farAhead)
	for _, tc := range []struct {
		version uint16
		want    string
	}{
		{tls.VersionTLS13, "TLS with the receiver failed: remote error: tls: certificate required; " +
			"the receiver requires a client certificate (mutual TLS), which this connector does not send: " +
			"let it accept this connector without one"},
		{tls.VersionTLS12, "TLS with the receiver failed: remote error: tls: handshake failure; " +
			"the receiver shares no TLS version or cipher suite with this connector (TLS 1.2 or 1.3, current cipher suites), " +
			"or it requires a client certificate, which this connector does not send"},
	} {
		t.Run(tls.VersionName(tc.version), func(t *testing.T) {
			k, ts, conns := tlsReceiver(t, &tls.Config{Certificates: []tls.Certificate{cert},
				ClientAuth: tls.RequireAnyClientCert, MaxVersion: tc.version})
			failures := build(t, ts.URL, options{policy: outage, clock: clockwork.NewFakeClock()}).Send(guard(t), events(20), nil)

			require.Len(t, failures, 20)
			requireAll(t, failures, sender.ErrTLS)
			assert.Equal(t, tc.want, failures[0].Err.Error())
			assert.LessOrEqual(t, conns.Load(), int64(concurrency), "retried")
			assert.Zero(t, k.Attempts())
		})
	}
}
