package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// MaxRedirects is how many 307/308 redirects one delivery follows (with the same method
// and body). Other redirects are never followed: see ErrRedirect.
const MaxRedirects = 3

var (
	// ErrReceiverUnavailable marks events not delivered because the receiver did not
	// answer, or answered 429 or 5xx, for all their attempts or for longer than the
	// outage budget (Policy.OutageBudget). Retrying later can succeed.
	ErrReceiverUnavailable = errors.New("receiver unavailable")

	// ErrTLS marks a *ConfigError: TLS with the receiver cannot work as configured. Its
	// certificate is not trusted (unknown authority, a host name it does not name,
	// expired), the port does not speak TLS (an https:// v_target to a plain HTTP port),
	// or the receiver refused the handshake (no common TLS version or cipher suite, a
	// client certificate required). Retrying cannot fix it.
	ErrTLS = errors.New("TLS with the receiver failed")

	// ErrRedirect marks a *ConfigError: the receiver answered with a redirect that is not
	// followed (301, 302, 303 and any 3xx but 307/308, or more than MaxRedirects hops).
	// Following a 301/302/303 would turn the POST into a GET without the event.
	ErrRedirect = errors.New("receiver redirect not followed")

	// ErrAuth marks a *ConfigError: the broker refused the connector's credentials or
	// its permission to publish.
	ErrAuth = errors.New("the broker refused the credentials")

	// ErrMissing marks a *ConfigError: the JetStream stream (with nats.create_stream
	// false) or the Kafka topic does not exist, or does not take v_target's subject.
	ErrMissing = errors.New("the stream or topic is missing")

	// ErrUnknownHost marks a *ConfigError: DNS says v_target's host does not exist
	// (NXDOMAIN, or a name with no address). A temporary DNS failure (a timeout, SERVFAIL)
	// is an outage, retried.
	ErrUnknownHost = errors.New("v_target's host does not exist")
)

// ConfigError is a failure that retrying cannot fix: v_target or the receiver's setup
// has to change. errors.Is(err, ErrTLS) or errors.Is(err, ErrRedirect) tells which. Its
// message says what to change and never holds v_target's userinfo or query.
type ConfigError struct {
	Kind error  // ErrTLS, ErrRedirect, ErrAuth, ErrMissing or ErrUnknownHost
	Msg  string // the whole message
	Err  error  // the cause (an x509 or crypto/tls error), or nil
}

func (e *ConfigError) Error() string { return e.Msg }

// Is reports whether target is e's Kind.
func (e *ConfigError) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// NeedsConfigFix is true: v_target or the receiver's setup must change (exit status 2).
func (e *ConfigError) NeedsConfigFix() bool { return true }

// Rejected is a NACK that retrying cannot fix (a 4xx other than 429, or a broker's
// error that is not retriable: a record too large, a stream full).
type Rejected struct {
	Status int    // the HTTP status, or the broker's error code
	Reason string // the broker's error; "" for HTTP
}

func (r *Rejected) Error() string {
	if r.Reason != "" {
		return "rejected by the broker: " + r.Reason
	}
	return fmt.Sprintf("rejected by the receiver with HTTP %d", r.Status)
}

// outcome is what one attempt means for the event and for the breaker.
type outcome int

const (
	delivered outcome = iota
	answered          // the receiver answered and retrying cannot help (4xx, ConfigError): not an outage
	outage            // no answer, 429 or 5xx: retried, and counted by the breaker
	aborted           // the caller's context ended
	invalid           // the event cannot be encoded (an *EncodingError): nothing was sent, nothing learnt of the receiver
)

// classify turns the SDK's result of one attempt into the sender's error kinds. It keeps
// "undelivered" (no response) apart from a NACK with a status, and builds every message
// from redacted URLs: Go's *url.Error spells out v_target's user name and query.
func (s redactor) classify(ctx context.Context, res error) (outcome, error) {
	if cloudevents.IsACK(res) {
		return delivered, nil
	}
	if err := ctx.Err(); err != nil {
		return aborted, err
	}
	var cfg *ConfigError // from checkRedirect, wrapped by Go in a *url.Error
	if errors.As(res, &cfg) {
		return answered, cfg
	}
	if err := s.tlsError(res, "receiver"); err != nil {
		return answered, err
	}
	if err := s.unknownHost(res, "receiver"); err != nil {
		return answered, err
	}
	var hr *cehttp.Result
	if errors.As(res, &hr) {
		switch code := hr.StatusCode; {
		case code == http.StatusTooManyRequests || code >= 500:
			return outage, fmt.Errorf("receiver answered HTTP %d", code)
		case code >= 400:
			return answered, &Rejected{Status: code}
		case code >= 300:
			// A 3xx Go did not follow: no Location, or a 304/300/305.
			return answered, &ConfigError{Kind: ErrRedirect, Msg: fmt.Sprintf(
				"receiver answered HTTP %d, a redirect that is not followed; set v_target to the receiver's URL", code)}
		}
	}
	// No HTTP answer at all (refused, reset, timed out): the event was not delivered.
	// ue.Err is flattened to its scrubbed text: Go's errors quote URLs too (a Location
	// header that does not parse), and the errors it wraps would print them again.
	var ue *url.Error
	if errors.As(res, &ue) && ue.Err != nil {
		cause := s.scrub(ue.Err.Error())
		if strings.HasPrefix(cause, badLocation) {
			return answered, &ConfigError{Kind: ErrRedirect, Msg: "receiver answered a redirect that cannot be followed: " +
				cause + "; set v_target to the receiver's URL"}
		}
		return outage, fmt.Errorf("undelivered: %w", &url.Error{Op: ue.Op, URL: s.url(ue.URL), Err: errors.New(cause)})
	}
	return outage, errors.New("undelivered: " + s.scrub(res.Error()))
}

// unknownHost is the *ConfigError of DNS's answer that the host of who (the receiver, the
// NATS server) does not exist, or nil: v_target names a host that is not there, and no
// retry finds it. A temporary DNS failure (a timeout, SERVFAIL) is not one.
func (s redactor) unknownHost(res error, who string) *ConfigError {
	var de *net.DNSError
	if !errors.As(res, &de) || !de.IsNotFound || de.IsTemporary || de.IsTimeout {
		return nil
	}
	return &ConfigError{Kind: ErrUnknownHost, Err: de,
		Msg: fmt.Sprintf("DNS knows no host %s (the %s's): check v_target's host", s.scrub(de.Name), who)}
}

// badLocation starts the error of Go's client for a redirect whose Location header is
// not a URL.
const badLocation = "failed to parse Location header"

// tlsError recognises TLS failures that retrying cannot fix: an untrusted certificate,
// a port that does not speak TLS, a handshake the receiver refuses. who names the peer in
// the message ("receiver", "NATS server", "Kafka broker").
// brokerTLSError is tlsError for a broker, whose message, when no CA file is configured,
// says which key names the CAs of a private broker (caHint).
func (s redactor) brokerTLSError(res error, who string, withCA bool, caHint string) *ConfigError {
	cfg := s.tlsError(res, who)
	if cfg == nil {
		return nil
	}
	ce := cfg.(*ConfigError)
	if !withCA {
		ce.Msg += " (" + caHint + ")"
	}
	return ce
}

func (s redactor) tlsError(res error, who string) error {
	var (
		ua    x509.UnknownAuthorityError
		hn    x509.HostnameError
		ci    x509.CertificateInvalidError
		cv    *tls.CertificateVerificationError
		cause error
		hint  string
	)
	switch {
	case errors.As(res, &ua):
		cause, hint = ua, "add the CA that signed it to this host's trust store (SSL_CERT_FILE) or give the receiver a certificate from a public CA"
	case errors.As(res, &hn):
		cause, hint = hn, "v_target's host must be a name the certificate is valid for"
	case errors.As(res, &ci) && ci.Reason == x509.Expired:
		cause, hint = ci, "renew the receiver's certificate (or check this host's clock)"
	case errors.As(res, &ci):
		cause, hint = ci, "fix the receiver's certificate chain"
	case errors.As(res, &cv):
		cause, hint = cv, "fix the receiver's certificate or this host's trust store (SSL_CERT_FILE)"
	default:
		if cause, hint = tlsSetupError(res); cause == nil {
			return nil
		}
		return &ConfigError{Kind: ErrTLS, Err: cause,
			Msg: "TLS with the " + who + " failed: " + s.scrub(cause.Error()) + "; " + hint}
	}
	return &ConfigError{Kind: ErrTLS, Err: cause,
		Msg: "the " + who + "'s TLS certificate is not trusted: " + s.scrub(cause.Error()) + "; " + hint}
}

// Hints for TLS failures other than certificate verification.
const (
	hintNotTLS      = "the receiver does not speak TLS on this port: use http:// or the TLS port"
	hintVersion     = "the receiver offers no TLS version this connector speaks (TLS 1.2 and 1.3): upgrade the receiver's TLS"
	hintHandshake   = "the receiver shares no TLS version or cipher suite with this connector (TLS 1.2 or 1.3, current cipher suites), or it requires a client certificate, which this connector does not send"
	hintClientCert  = "the receiver requires a client certificate (mutual TLS), which this connector does not send: let it accept this connector without one"
	hintSNI         = "the receiver serves no certificate for v_target's host name: check v_target's host"
	hintNoProtocols = "the receiver accepts neither HTTP/1.1 nor HTTP/2 over TLS (ALPN): fix its TLS setup"
)

// alertHints are the TLS alerts a receiver sends when the handshake cannot work with this
// client's setup, whatever the retries; other alerts (internal error, close notify, ...)
// may pass and stay outages. By code: tls.AlertError's values.
var alertHints = map[tls.AlertError]string{
	40:  hintHandshake,   // handshake failure
	42:  hintClientCert,  // bad certificate: TLS 1.2 servers' answer to a missing client certificate
	43:  hintClientCert,  // unsupported certificate
	44:  hintClientCert,  // revoked certificate
	45:  hintClientCert,  // expired certificate
	46:  hintClientCert,  // unknown certificate
	48:  hintClientCert,  // unknown certificate authority
	49:  hintClientCert,  // access denied
	70:  hintVersion,     // protocol version not supported
	71:  hintHandshake,   // insufficient security level
	112: hintSNI,         // unrecognized name
	116: hintClientCert,  // certificate required
	120: hintNoProtocols, // no application protocol
}

// notTLS are the texts of crypto/tls and net/http errors saying that what answered does
// not speak TLS. Go returns the first untyped (http.ErrSchemeMismatch, the text of a
// tls.RecordHeaderError starting "HTTP/"); the texts are matched too in case a layer in
// between keeps only the message.
var notTLS = []string{
	http.ErrSchemeMismatch.Error(), // "http: server gave HTTP response to HTTPS client"
	"tls: first record does not look like a TLS handshake",
	"tls: unsupported SSLv2 handshake received",
}

// tlsSetupError finds, in the result of an attempt, a TLS failure other than certificate
// verification that retrying cannot fix, and the hint that goes with it.
func tlsSetupError(res error) (cause error, hint string) {
	var (
		rh tls.RecordHeaderError
		ae tls.AlertError
		op *net.OpError
	)
	switch {
	case errors.Is(res, http.ErrSchemeMismatch):
		return http.ErrSchemeMismatch, hintNotTLS
	case errors.As(res, &rh):
		return rh, hintNotTLS
	case errors.As(res, &ae): // a QUIC transport's alerts
		if hint, ok := alertHints[ae]; ok {
			return ae, hint
		}
	}
	// An alert the receiver sent: a *net.OpError "remote error" wrapping crypto/tls's
	// unexported alert type, whose text is tls.AlertError's.
	if errors.As(res, &op) && op.Op == "remote error" && op.Err != nil {
		for code, hint := range alertHints {
			if op.Err.Error() == code.Error() {
				return op, hint
			}
		}
	}
	msg := res.Error()
	for _, text := range notTLS {
		if strings.Contains(msg, text) {
			return errors.New(text), hintNotTLS
		}
	}
	for code, hint := range alertHints {
		if text := "remote error: " + code.Error(); strings.HasSuffix(msg, text) {
			return errors.New(text), hint
		}
	}
	// The receiver chose a TLS version this client does not offer (TLS 1.0 or 1.1).
	const badVersion = "tls: server selected unsupported protocol version"
	if i := strings.Index(msg, badVersion); i >= 0 {
		v := strings.TrimLeft(msg[i+len(badVersion):], " ")
		v = v[:len(v)-len(strings.TrimLeft(v, "0123456789abcdef"))]
		return errors.New(badVersion + " " + v), hintVersion
	}
	return nil, ""
}

// checkRedirect is the HTTP client's redirect policy: follow 307/308 (Go resends the same
// method and body: the SDK's requests carry GetBody) up to MaxRedirects hops; refuse every
// other redirect, naming the Location to configure.
func (r redactor) checkRedirect(req *http.Request, via []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	loc := r.scrub(redactURL(req.URL))
	switch status {
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if len(via) > MaxRedirects {
			return &ConfigError{Kind: ErrRedirect, Msg: fmt.Sprintf(
				"receiver redirected more than %d times (the last: HTTP %d to %s); set v_target to the receiver's final URL",
				MaxRedirects, status, loc)}
		}
		// v_target's userinfo is the receiver's basic auth: Go sends it to v_target only.
		// Keep it on a redirect within the same origin (as curl does), never beyond.
		if first := via[0].URL; first.User != nil && req.URL.User == nil &&
			req.URL.Scheme == first.Scheme && req.URL.Host == first.Host {
			req.URL.User = first.User
		}
		return nil
	}
	return &ConfigError{Kind: ErrRedirect, Msg: fmt.Sprintf(
		"receiver answered HTTP %d redirect to %s; set v_target to it (redirects other than 307/308 are not followed)", status, loc)}
}
