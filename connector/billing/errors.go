package billing

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// Kind says what the connector does about an API error.
type Kind int

const (
	// Retryable errors (throttling, 5xx, timeouts, garbled replies) are tried again with backoff.
	Retryable Kind = iota
	// Credentials errors (unknown key, bad signature, no permission) end the run: fix the config.
	Credentials
	// Request errors (bad parameters, a day outside the 18 months the API keeps) end the run.
	Request
)

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Credentials:
		return "credentials"
	default:
		return "request"
	}
}

// APIError is a failed QueryAccountBill call, with what the API said about it.
type APIError struct {
	Kind       Kind
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
func (e *APIError) Retryable() bool { return e.Kind == Retryable }

// rule is one row of the classification table: the first match wins.
type rule struct {
	prefix string // error code prefix
	kind   Kind
	hint   string
}

var rules = []rule{
	{"Throttling", Retryable, ""},
	{"ServiceUnavailable", Retryable, ""},
	{"InternalError", Retryable, ""},
	{"SignatureNonceUsed", Retryable, ""},
	{"InvalidAccessKeyId", Credentials, "check access_key_id: the AccessKey ID is unknown or disabled"},
	{"SignatureDoesNotMatch", Credentials, "check secret_access_Key: it does not belong to access_key_id"},
	{"IncompleteSignature", Credentials, "check secret_access_Key"},
	{"InvalidSecurityToken", Credentials, "the STS security_token is invalid or expired"},
	{"NotAuthorized", Credentials, "grant the RAM user the AliyunBSSReadOnlyAccess policy (or bss:QueryAccountBill)"},
	{"Forbidden", Credentials, "grant the RAM user the AliyunBSSReadOnlyAccess policy (or bss:QueryAccountBill)"},
	{"InvalidTimeStamp", Credentials, "this machine's clock is off by more than 15 minutes: synchronise it (NTP)"},
	{"InvalidOwner", Credentials, "the account cannot query this bill (member or owner mismatch)"},
	{"NotApplicable", Request, "this account type cannot use QueryAccountBill (e.g. a reseller sub-account)"},
	{"InvalidParameter", Request, "the API refused a parameter; a day older than 18 months cannot be queried"},
	{"MissingParameter", Request, ""},
}

func classifyCode(code string, status int) (Kind, string) {
	for _, r := range rules {
		if strings.HasPrefix(code, r.prefix) {
			return r.kind, r.hint
		}
	}
	if status >= 500 || status == 429 {
		return Retryable, ""
	}
	return Request, ""
}

// classify turns an SDK error into an APIError.
func classify(err error) *APIError {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		kind, hint := classifyCode(se.ErrorCode(), se.HttpStatus())
		msg := se.Message()
		code := se.ErrorCode()
		if code == "" { // not the API's JSON: a proxy page, a garbled body
			code = "UnexpectedResponse"
			kind = Retryable
			msg = truncate(msg, 200)
		}
		return &APIError{Kind: kind, Code: code, Message: msg, RequestID: se.RequestId(), HTTPStatus: se.HttpStatus(), Hint: hint}
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		// Timeouts, refused connections and unreadable JSON: the service may answer next time.
		kind := Retryable
		hint := ""
		if isTLS(ce.OriginError()) {
			kind, hint = Request, "the endpoint's TLS certificate is not trusted"
		}
		return &APIError{Kind: kind, Code: ce.ErrorCode(), Message: truncate(ce.Message(), 200), Hint: hint}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// Never the URL itself: its query carries the signature and any STS token.
		host := ""
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
		return &APIError{Kind: Retryable, Code: "NetworkError", Message: fmt.Sprintf("%s %s: %v", ue.Op, host, ue.Err)}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &APIError{Kind: Retryable, Code: "NetworkError", Message: ne.Error()}
	}
	return &APIError{Kind: Retryable, Code: "Error", Message: truncate(err.Error(), 200)}
}

func isTLS(err error) bool {
	return err != nil && strings.Contains(err.Error(), "x509:")
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
