package billing

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// Class says what the connector does about an API error: its class, in the classification
// table (rules).
type Class int

const (
	// Retryable errors (throttling, 5xx, timeouts, garbled or too large replies) are tried
	// again with backoff.
	Retryable Class = iota
	// Credentials errors (unknown key, bad signature, no permission) end the run: fix the config.
	Credentials
	// Request errors (bad parameters, a day outside the 18 months the API keeps) end the run.
	Request
	// Setup errors are an endpoint that retrying cannot fix: a host that DNS says does not
	// exist, a TLS certificate that is not trusted, not valid for the host or expired, a
	// port that does not speak TLS, or an endpoint that redirects. They end the run: fix
	// the configuration (or the machine's trust store or clock).
	Setup
)

func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case Credentials:
		return "credentials"
	case Setup:
		return "setup"
	default:
		return "request"
	}
}

// APIError is a failed QueryAccountBill call, with what the API said about it.
type APIError struct {
	Class      Class
	Code       string // the API's Code, or the SDK's for transport problems
	Message    string
	RequestID  string
	HTTPStatus int
	Hint       string // what to do about it, for errors that end the run
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" [RequestId " + e.RequestID + "]")
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

// Retryable reports whether trying again may help.
func (e *APIError) Retryable() bool { return e.Class == Retryable }

// NeedsConfigFix reports whether the error is the configuration's (credentials, the
// endpoint, TLS): every further day would fail the same way until someone fixes it. The
// CLI exits with its configuration status (2) for these.
func (e *APIError) NeedsConfigFix() bool { return e.Class == Credentials || e.Class == Setup }

// rule is one row of the classification table: the first match wins.
type rule struct {
	prefix string // error code prefix
	class  Class
	hint   string
}

var rules = []rule{
	{unexpectedResponse, Retryable, ""}, // the guard's stand-in for an unreadable error answer
	{"Throttling", Retryable, ""},
	{"ServiceUnavailable", Retryable, ""},
	{"InternalError", Retryable, ""},
	{"SignatureNonceUsed", Retryable, ""},
	{"InvalidAccessKeyId", Credentials, "check access_key_id: the AccessKey ID is unknown or disabled"},
	{"SignatureDoesNotMatch", Credentials, "check secret_access_Key: it does not belong to access_key_id"},
	{"IncompleteSignature", Credentials, "check secret_access_Key"},
	{"InvalidSecurityToken", Credentials, "the STS security_token is invalid or expired"},
	{"NotAuthorized", Credentials, "grant the RAM user the AliyunBSSReadOnlyAccess policy (or bss:QueryAccountBill and, for the instance bill, bss:DescribeInstanceBill)"},
	{"Forbidden", Credentials, "grant the RAM user the AliyunBSSReadOnlyAccess policy (or bss:QueryAccountBill and, for the instance bill, bss:DescribeInstanceBill)"},
	{"InvalidTimeStamp", Credentials, "this machine's clock is off by more than 15 minutes: synchronise it (NTP)"},
	{"InvalidOwner", Credentials, "the account cannot query this bill (member or owner mismatch)"},
	{"NotApplicable", Request, "this account type cannot use QueryAccountBill (e.g. a reseller sub-account)"},
	{"InvalidParameter", Request, "the API refused a parameter; a day older than 18 months cannot be queried"},
	{"MissingParameter", Request, ""},
}

func classifyCode(code string, status int) (Class, string) {
	for _, r := range rules {
		if strings.HasPrefix(code, r.prefix) {
			return r.class, r.hint
		}
	}
	if status >= 500 || status == 429 {
		return Retryable, ""
	}
	return Request, ""
}

// classify turns an SDK error into an APIError. Every text that came from the API, the
// SDK or the network passes through r.clean: no credential, control character or
// unbounded string reaches the error.
func (r *redactor) classify(err error) *APIError {
	var cre *CredentialError
	if errors.As(err, &cre) {
		return r.classifyCredential(cre)
	}
	var sp *sdkPanic
	if errors.As(err, &sp) {
		return &APIError{Class: Retryable, Code: unexpectedResponse, Message: r.clean(sp.Error(), maxMessage)}
	}
	var re *redirectError
	if errors.As(err, &re) {
		return &APIError{Class: Setup, Code: "Redirect", HTTPStatus: re.status, Message: r.clean(re.Error(), maxMessage),
			Hint: "set endpoint to the right host"}
	}
	var te *tooLargeError
	if errors.As(err, &te) {
		return &APIError{Class: Retryable, Code: "ResponseTooLarge", Message: te.Error()}
	}
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		code := r.clean(se.ErrorCode(), maxCode)
		class, hint := classifyCode(code, se.HttpStatus())
		if code == "" { // not the API's JSON: a proxy page, a garbled body
			code = unexpectedResponse
			class = Retryable
		}
		return &APIError{Class: class, Code: code, Message: r.clean(withoutStringToSign(se.Message()), maxMessage),
			RequestID: r.clean(se.RequestId(), maxID), HTTPStatus: se.HttpStatus(), Hint: hint}
	}
	if host, ok := unknownHost(err); ok {
		return &APIError{Class: Setup, Code: "UnknownHost", Message: "DNS knows no host " + r.clean(host, maxCode),
			Hint: "check endpoint (business.aliyuncs.com, or business.ap-southeast-1.aliyuncs.com for the international site), or the proxy's host if HTTPS_PROXY is set"}
	}
	if code, hint, ok := tlsProblem(err); ok {
		return &APIError{Class: Setup, Code: code, Message: r.clean(tlsCause(err).Error(), maxMessage), Hint: hint}
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		// Timeouts, refused connections and unreadable JSON: the service may answer next time.
		return &APIError{Class: Retryable, Code: r.clean(ce.ErrorCode(), maxCode), Message: r.clean(ce.Message(), maxMessage)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// Never the URL itself: its query carries the signature and any STS token.
		host := ""
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
		return &APIError{Class: Retryable, Code: "NetworkError", Message: r.clean(fmt.Sprintf("%s %s: %v", ue.Op, host, ue.Err), maxMessage)}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &APIError{Class: Retryable, Code: "NetworkError", Message: r.clean(ne.Error(), maxMessage)}
	}
	return &APIError{Class: Retryable, Code: "Error", Message: r.clean(err.Error(), maxMessage)}
}

// sdkPanic is a panic of the SDK while it handled an answer.
type sdkPanic struct{ value any }

// Error names the panic without its value unless it is the runtime's own (a type
// assertion, an index out of range: types and numbers, never the answer's text).
func (e *sdkPanic) Error() string {
	if re, ok := e.value.(runtime.Error); ok {
		return "the SDK could not read the endpoint's answer: " + textsafe.Line(re.Error(), maxPanic)
	}
	return "the SDK could not read the endpoint's answer (it panicked; the panic's value is not shown)"
}

// maxPanic bounds the runtime's text in an sdkPanic.
const maxPanic = 120

// stringToSignQuote introduces, in the API's SignatureDoesNotMatch and IncompleteSignature
// messages, the string the server signed: every request parameter, the AccessKey ID and
// the STS token among them. It helps only to debug a signer, so it is dropped whole (and
// would be redacted if it were not).
const stringToSignQuote = "server string to sign is:"

func withoutStringToSign(msg string) string {
	if i := strings.Index(msg, stringToSignQuote); i >= 0 {
		return msg[:i] + "(the string the server signed is not shown)"
	}
	return msg
}

// tlsProblem recognises the TLS failures that no retry can fix, with what to do about them.
// The SDK's ClientError does not unwrap, so its origin error is searched too.
func tlsProblem(err error) (code, hint string, ok bool) {
	err = tlsCause(err)
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknown):
		return "TLSUnknownAuthority", "the endpoint's certificate is not signed by a trusted authority: " +
			"check endpoint, and if a TLS-inspecting proxy is in the way, add its CA to the system's trust store", true
	case errors.As(err, &hostname):
		return "TLSHostMismatch", "the endpoint's certificate is not valid for its host name: check endpoint " +
			"(business.aliyuncs.com or business.ap-southeast-1.aliyuncs.com)", true
	case errors.As(err, &invalid) && (invalid.Reason == x509.Expired):
		return "TLSCertificateExpired", "the endpoint's certificate is expired or not yet valid: " +
			"check this machine's clock (NTP) and endpoint", true
	case errors.As(err, &invalid):
		return "TLSCertificateInvalid", "the endpoint's certificate cannot be used: check endpoint", true
	case errors.As(err, &record), strings.Contains(err.Error(), httpToHTTPS):
		return "TLSNotSpoken", "the endpoint does not speak TLS on this port: check endpoint's scheme and port", true
	case errors.As(err, &verify):
		return "TLSVerification", "the endpoint's certificate failed verification: check endpoint", true
	}
	return "", "", false
}

// unknownHost finds DNS's answer that a host does not exist (NXDOMAIN, or a name with no
// address) and returns the host: a name to fix, not an outage. A temporary DNS failure (a
// timeout, SERVFAIL, no DNS server reachable) is not one: it is retried.
func unknownHost(err error) (string, bool) {
	var de *net.DNSError
	if errors.As(tlsCause(err), &de) && de.IsNotFound && !de.IsTemporary && !de.IsTimeout {
		return de.Name, true
	}
	return "", false
}

// httpToHTTPS is how net/http reports a plain HTTP answer to a TLS handshake: it replaces
// the tls.RecordHeaderError with an untyped error, so only its text tells.
const httpToHTTPS = "server gave HTTP response to HTTPS client"

// tlsCause is the error to inspect for TLS failures: the SDK's ClientError's origin when
// there is one.
func tlsCause(err error) error {
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) && ce.OriginError() != nil {
		return ce.OriginError()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err // never the URL: its query is signed
	}
	return err
}
