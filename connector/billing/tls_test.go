package billing_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
)

// Fixed validity periods: no wall clock read in the test, and the "valid" one lasts.
var (
	longAgo    = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	expiredAt  = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	farFromNow = time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)
)

// testCA is a certificate authority the test trusts through Params.Transport.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "billing test CA"},
		NotBefore: longAgo, NotAfter: farFromNow, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return testCA{cert: cert, key: key, pool: pool}
}

func (ca testCA) leaf(t *testing.T, notAfter time.Time, dns []string, ips []net.IP) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bss test"},
		NotBefore: longAgo, NotAfter: notAfter, DNSNames: dns, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// trusting is a transport that trusts only ca, as a system trust store would trust the
// real endpoint's authority.
func (ca testCA) trusting() http.RoundTripper {
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}
}

// countingServer answers an empty day and counts the connections it accepted: a retried
// TLS failure is one more connection.
func countingServer(t *testing.T, cert *tls.Certificate, useTLS bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"Code":"Success","Success":true,"RequestId":"r","Data":{"TotalCount":0,"BillingCycle":"2026-11","Items":{"Item":[]}}}`))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are the point
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if cert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestStream_TLSProblemsFailAtOnceAsSetupWithAHint(t *testing.T) {
	ca := newTestCA(t)
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate // nil: httptest's own self-signed certificate
		useTLS   bool
		rt       http.RoundTripper // nil: the production transport (system roots)
		code     string
		hintPart string
	}{
		{"self-signed", nil, true, nil, "TLSUnknownAuthority", "not signed by a trusted authority"},
		{"wrong host", ca.leaf(t, farFromNow, []string{"bss.example.test"}, nil), true, ca.trusting(), "TLSHostMismatch", "not valid for its host name"},
		{"expired", ca.leaf(t, expiredAt, nil, loopback), true, ca.trusting(), "TLSCertificateExpired", "check this machine's clock"},
		{"plain HTTP on the https port", nil, false, nil, "TLSNotSpoken", "does not speak TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := countingServer(t, tc.cert, tc.useTLS)
			endpoint := "https://" + srv.Listener.Addr().String()
			c := newClientWith(t, clientOpts{endpoint: endpoint, id: stsID, secret: stsSecret, token: stsToken, pol: fastPolicy, rt: tc.rt})
			_, err := fetchDay(context.Background(), c, day)

			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, billing.Setup, ae.Class, err.Error())
			assert.True(t, ae.NeedsConfigFix())
			assert.False(t, ae.Retryable())
			assert.Equal(t, tc.code, ae.Code)
			assert.Contains(t, err.Error(), tc.hintPart)
			assert.Equal(t, int32(1), conns.Load(), "one connection: no retries")
			assert.NotContains(t, err.Error(), "Signature")
			assertNoCredential(t, err.Error(), stsID, stsSecret, stsToken)
		})
	}
}

func TestStream_TrustedCertificateThroughTheGuardWorks(t *testing.T) {
	// The control for the cases above: the same PKI, a certificate valid for the host.
	ca := newTestCA(t)
	srv, _ := countingServer(t, ca.leaf(t, farFromNow, nil, []net.IP{net.IPv4(127, 0, 0, 1)}), true)
	c := newClientWith(t, clientOpts{endpoint: "https://" + srv.Listener.Addr().String(), id: "id", secret: "s3cr3t-value",
		pol: fastPolicy, rt: ca.trusting()})
	rows, err := fetchDay(context.Background(), c, day)
	require.NoError(t, err)
	assert.Empty(t, rows)
}
