// Package stsfake is a fake Alibaba Cloud STS (AssumeRole, AssumeRoleWithOIDC) over HTTPS
// and a fake ECS instance metadata service, for the SDK's own credential providers to
// talk to unmodified.
//
// STS checks what the real one checks: the RPC signature of AssumeRole (HMAC-SHA1 with the
// caller's secret, over the query and the form together), the caller's key (a permanent
// one or one it or the metadata service issued, with its token, unexpired), the role, the
// external ID, and for AssumeRoleWithOIDC the provider ARN and the token. Every credential
// it issues is handed to Options.Issue (bssfake.Server.AddTemporaryKey), so the fake BSS
// API accepts exactly those.
//
// The metadata service is served as an HTTP proxy: the SDK asks for
// http://100.100.100.200/..., and with HTTP_PROXY naming this server Go sends that request
// here in absolute form. It serves IMDSv2 only (hardened mode): a PUT of
// /latest/api/token first, and the token on every read.
package stsfake

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// DefaultTTL is how long issued credentials live: 180 s, the margin under which the SDK
// renews them, so that every use of them renews them (a refresh on every request).
const DefaultTTL = 180 * time.Second

// MetadataHost is the ECS metadata service's address, as the SDK has it.
const MetadataHost = "100.100.100.200"

// Role is a RAM role that may be assumed.
type Role struct {
	ARN        string
	Account    string   // the account ID whose bills its credentials read (bssfake)
	Trusted    []string // AccessKey IDs allowed to AssumeRole it; empty: any known key
	ExternalID string   // required when set
}

// Options configure the fakes. Zero values are fine.
type Options struct {
	Keys  map[string]string // permanent AccessKeys STS knows: ID -> secret
	Roles []Role
	// OIDCProviderARN and OIDCToken are what AssumeRoleWithOIDC accepts.
	OIDCProviderARN, OIDCToken string
	// ECSRole is the role attached to the "instance" (its name is the part of its ARN
	// after "role/"); "" none.
	ECSRole string
	// IMDSTokenDown makes the metadata service refuse session tokens (503) and serve reads
	// without one, as IMDSv1 does: a hardened client must not read.
	IMDSTokenDown bool
	TTL           time.Duration              // default DefaultTTL
	Issue         func(bssfake.TemporaryKey) // told of every credential issued
	Now           func() time.Time           // default time.Now
}

// Call is one request the fakes answered.
type Call struct {
	Action   string // AssumeRole, AssumeRoleWithOIDC, or the metadata path
	KeyID    string // the caller's AccessKey ID (AssumeRole)
	Issued   string // the AccessKey ID issued, "" when refused
	Code     string // the error code, "" on success
	TokenSet bool   // metadata: the request carried the IMDSv2 token
}

type temp struct {
	secret, token, account string
	expires                time.Time
}

// Server is both fakes.
type Server struct {
	mu       sync.Mutex
	opts     Options
	temps    map[string]temp
	imdsTok  map[string]bool
	calls    []Call
	sts      *httptest.Server
	metadata *httptest.Server
}

// Start starts STS (TLS, on 127.0.0.1) and the metadata proxy (plain HTTP, on 127.0.0.1).
func Start(opts Options) *Server {
	s := &Server{}
	s.Configure(opts)
	s.sts = httptest.NewTLSServer(http.HandlerFunc(s.serveSTS))
	s.metadata = httptest.NewServer(http.HandlerFunc(s.serveMetadata))
	return s
}

// Configure replaces the options and forgets every call and issued credential.
func (s *Server) Configure(opts Options) {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts, s.temps, s.imdsTok, s.calls = opts, map[string]temp{}, map[string]bool{}, nil
}

// Close stops both.
func (s *Server) Close() { s.sts.Close(); s.metadata.Close() }

// STSHost is STS's host:port (config sts_endpoint).
func (s *Server) STSHost() string { return strings.TrimPrefix(s.sts.URL, "https://") }

// ProxyURL is the metadata service's address as HTTP_PROXY.
func (s *Server) ProxyURL() string { return s.metadata.URL }

// WriteCA writes the PEM certificate that STS's TLS certificate is (it signs itself) to
// path, for SSL_CERT_FILE.
func (s *Server) WriteCA(path string) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.sts.Certificate().Raw}), 0o600)
}

// Calls returns what the fakes answered, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// issueLocked makes a temporary credential for account.
func (s *Server) issueLocked(account string) (id, secret, token, expiration string) {
	id, secret, token = "STS.fake"+random(8), random(15), "CAIS"+random(40)
	exp := s.opts.Now().Add(s.opts.TTL).UTC().Truncate(time.Second)
	s.temps[id] = temp{secret: secret, token: token, account: account, expires: exp}
	if s.opts.Issue != nil {
		s.opts.Issue(bssfake.TemporaryKey{ID: id, Secret: secret, Token: token, Account: account, Expires: exp})
	}
	return id, secret, token, exp.Format("2006-01-02T15:04:05Z")
}

type stsError struct {
	RequestID string `json:"RequestId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeJSON(w, 400, stsError{random(8), "InvalidParameter", "a POST with a form is expected"})
		return
	}
	p := r.Form // query and form together, as the signature covers them
	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Action: p.Get("Action"), KeyID: p.Get("AccessKeyId")}
	fail := func(status int, code, msg string) {
		call.Code = code
		s.calls = append(s.calls, call)
		writeJSON(w, status, stsError{random(8), code, msg})
	}
	if p.Get("Version") != "2015-04-01" {
		fail(400, "InvalidVersion", "Specified parameter Version is not valid.")
		return
	}
	var account string
	switch call.Action {
	case "AssumeRole":
		if code, msg := s.authenticateLocked(p); code != "" {
			fail(400, code, msg)
			return
		}
		role, ok := s.roleLocked(p.Get("RoleArn"))
		switch {
		case !ok:
			fail(404, "EntityNotExist.Role", "The specified Role not exists.")
			return
		case len(role.Trusted) > 0 && !contains(role.Trusted, call.KeyID):
			fail(403, "NoPermission", "You are not authorized to do this action. You should be authorized by RAM.")
			return
		case role.ExternalID != "" && p.Get("ExternalId") != role.ExternalID:
			fail(403, "NoPermission", "The ExternalId does not match the role's trust policy.")
			return
		}
		account = role.Account
	case "AssumeRoleWithOIDC":
		role, ok := s.roleLocked(p.Get("RoleArn"))
		switch {
		case !ok:
			fail(404, "EntityNotExist.Role", "The specified Role not exists.")
			return
		case p.Get("OIDCProviderArn") != s.opts.OIDCProviderARN || s.opts.OIDCProviderARN == "":
			fail(404, "EntityNotExist.OIDCProvider", "The specified OIDC provider does not exist.")
			return
		case !hmac.Equal([]byte(strings.TrimSpace(p.Get("OIDCToken"))), []byte(s.opts.OIDCToken)) || s.opts.OIDCToken == "":
			fail(400, "AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")
			return
		}
		account = role.Account
	default:
		fail(404, "InvalidAction.NotFound", "Specified api is not found.")
		return
	}
	if n := p.Get("RoleSessionName"); len(n) < 2 || len(n) > 64 {
		fail(400, "InvalidParameter.RoleSessionName", "RoleSessionName must be 2 to 64 characters.")
		return
	}
	id, secret, token, exp := s.issueLocked(account)
	call.Issued = id
	s.calls = append(s.calls, call)
	writeJSON(w, 200, map[string]any{
		"RequestId":       random(8),
		"AssumedRoleUser": map[string]string{"Arn": p.Get("RoleArn") + "/" + p.Get("RoleSessionName"), "AssumedRoleId": random(6)},
		"Credentials":     map[string]string{"AccessKeyId": id, "AccessKeySecret": secret, "SecurityToken": token, "Expiration": exp},
	})
}

// authenticateLocked checks AssumeRole's signature, key, token and expiry.
func (s *Server) authenticateLocked(p url.Values) (code, msg string) {
	id := p.Get("AccessKeyId")
	secret, ok := s.opts.Keys[id]
	if !ok {
		t, tok := s.temps[id]
		if !tok {
			return "InvalidAccessKeyId.NotFound", "Specified access key is not found."
		}
		if !hmac.Equal([]byte(p.Get("SecurityToken")), []byte(t.token)) {
			return "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey."
		}
		if !s.opts.Now().Before(t.expires) {
			return "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
		}
		secret = t.secret
	}
	if p.Get("SignatureMethod") != "HMAC-SHA1" || p.Get("SignatureVersion") != "1.0" || p.Get("SignatureNonce") == "" {
		return "IncompleteSignature", "The request signature does not conform to Aliyun standards."
	}
	if !hmac.Equal([]byte(bssfake.Sign("POST", p, secret)), []byte(p.Get("Signature"))) {
		return "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
	}
	return "", ""
}

func (s *Server) roleLocked(arn string) (Role, bool) {
	for _, r := range s.opts.Roles {
		if r.ARN == arn {
			return r, true
		}
	}
	return Role{}, false
}

// serveMetadata answers the SDK's requests for http://100.100.100.200/..., which reach it
// as a proxy.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Action: r.Method + " " + r.URL.Path, TokenSet: r.Header.Get("X-aliyun-ecs-metadata-token") != ""}
	defer func() { s.calls = append(s.calls, call) }()
	if r.URL.Host != MetadataHost {
		call.Code = "NotTheMetadataService"
		http.Error(w, "this proxy serves only "+MetadataHost, http.StatusBadGateway)
		return
	}
	const prefix = "/latest/meta-data/ram/security-credentials/"
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" && s.opts.IMDSTokenDown:
		call.Code = "TokenDown"
		http.Error(w, "503 - Service Unavailable", http.StatusServiceUnavailable)
		return
	case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
		if r.Header.Get("X-aliyun-ecs-metadata-token-ttl-seconds") == "" {
			call.Code = "MissingTTL"
			http.Error(w, "missing X-aliyun-ecs-metadata-token-ttl-seconds", http.StatusBadRequest)
			return
		}
		tok := random(16)
		s.imdsTok[tok] = true
		_, _ = w.Write([]byte(tok))
		return
	case r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, prefix):
		call.Code = "NotFound"
		http.NotFound(w, r)
		return
	case !s.opts.IMDSTokenDown && !s.imdsTok[r.Header.Get("X-aliyun-ecs-metadata-token")]:
		call.Code = "Unauthorized" // hardened mode: no read without the session token
		http.Error(w, "401 - Unauthorized", http.StatusUnauthorized)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, prefix)
	role, ok := s.roleLocked(s.opts.ECSRole)
	roleName := s.opts.ECSRole[strings.LastIndex(s.opts.ECSRole, "/")+1:]
	switch {
	case !ok:
		call.Code = "NoRole"
		http.NotFound(w, r)
	case name == "":
		_, _ = w.Write([]byte(roleName))
	case name != roleName:
		call.Code = "WrongRole"
		http.NotFound(w, r)
	default:
		id, secret, token, exp := s.issueLocked(role.Account)
		call.Issued = id
		writeJSON(w, 200, map[string]string{"Code": "Success", "AccessKeyId": id, "AccessKeySecret": secret,
			"SecurityToken": token, "Expiration": exp, "LastUpdated": s.opts.Now().UTC().Format("2006-01-02T15:04:05Z")})
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
