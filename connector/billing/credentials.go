package billing

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// providerFor builds the SDK's credentials provider for an account: the SDK signs, fetches
// and refreshes (temporary credentials are renewed when less than 3 minutes are left); the
// connector only chooses the provider and guards it (guardedProvider). red learns every
// credential a provider inside another one hands out (the AccessKey that signs AssumeRole).
func providerFor(c config.Credentials, stsRegion string, red *redactor) (credentials.CredentialsProvider, error) {
	stsEndpoint := c.STSEndpoint
	if stsEndpoint == "" {
		stsEndpoint = "sts." + stsRegion + ".aliyuncs.com"
	}
	switch c.Kind() {
	case config.CredAccessKey:
		return credentials.NewStaticAKCredentialsProviderBuilder().
			WithAccessKeyId(c.AccessKeyID).WithAccessKeySecret(c.AccessKeySecret.Reveal()).Build()
	case config.CredSTSToken:
		return credentials.NewStaticSTSCredentialsProviderBuilder().
			WithAccessKeyId(c.AccessKeyID).WithAccessKeySecret(c.AccessKeySecret.Reveal()).
			WithSecurityToken(c.SecurityToken.Reveal()).Build()
	case config.CredECSRAMRole:
		return ecsRole(c.ECSRAMRole)
	case config.CredOIDC:
		return credentials.NewOIDCCredentialsProviderBuilder().
			WithOIDCProviderARN(c.OIDCProviderARN).WithOIDCTokenFilePath(c.OIDCTokenFile).
			WithRoleArn(c.RoleARN).WithRoleSessionName(c.RoleSessionName).
			WithSTSEndpoint(stsEndpoint).Build()
	case config.CredRAMRoleARN:
		base := c
		base.RoleARN, base.RoleSessionName, base.ExternalID = "", "", ""
		prev, err := providerFor(base, stsRegion, red)
		if err != nil {
			return nil, err
		}
		b := credentials.NewRAMRoleARNCredentialsProviderBuilder().WithCredentialsProvider(&learning{inner: prev, redact: red}).
			WithRoleArn(c.RoleARN).WithRoleSessionName(c.RoleSessionName).WithStsEndpoint(stsEndpoint)
		if c.ExternalID != "" {
			b = b.WithExternalId(c.ExternalID.Reveal())
		}
		return b.Build()
	default:
		// The environment, OIDC (ALIBABA_CLOUD_ROLE_ARN, _OIDC_PROVIDER_ARN, _OIDC_TOKEN_FILE;
		// with sts_endpoint the connector builds that provider itself, to reach that STS),
		// the CLI profile, the credentials file and the ECS instance role.
		if c.STSEndpoint != "" && oidcFromEnv() {
			return credentials.NewOIDCCredentialsProviderBuilder().WithSTSEndpoint(stsEndpoint).Build()
		}
		return credentials.NewDefaultCredentialsProvider(), nil
	}
}

// learning is a provider inside another (the AccessKey or instance role that signs
// AssumeRole): the redactor learns what it hands out.
type learning struct {
	inner  credentials.CredentialsProvider
	redact *redactor
	last   string
}

func (l *learning) GetCredentials() (*credentials.Credentials, error) {
	cc, err := l.inner.GetCredentials()
	if err == nil {
		l.redact.learnNew(&l.last, cc)
	}
	return cc, err
}

func (l *learning) GetProviderName() string { return l.inner.GetProviderName() }

// ecsRole is the ECS instance role in hardened mode: the metadata service is asked for a
// session token first (IMDSv2), and without one no credentials are read.
func ecsRole(name string) (credentials.CredentialsProvider, error) {
	return credentials.NewECSRAMRoleCredentialsProviderBuilder().WithRoleName(name).WithDisableIMDSv1(true).Build()
}

// oidcFromEnv reports that the RRSA variables the SDK's OIDC provider reads are all set.
var oidcFromEnv = func() bool {
	for _, k := range []string{"ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE"} {
		if lookupEnv(k) == "" {
			return false
		}
	}
	return true
}

// lookupEnv reads the process's environment, as the SDK's providers do.
var lookupEnv = os.Getenv

// guardedProvider serialises a provider (the SDK's providers keep their cached credentials
// without a lock), teaches the redactor every credential it hands out, and marks its
// errors as the credentials' (CredentialError), never quoting a request URL. After an
// error it builds the provider afresh: the SDK's default chain, once every provider of it
// failed, keeps asking only the last one (and would report that one's error, a network
// error off ECS, instead of "no credentials").
type guardedProvider struct {
	mu     sync.Mutex
	inner  credentials.CredentialsProvider
	build  func() (credentials.CredentialsProvider, error)
	kind   config.CredentialKind
	redact *redactor
	last   string // the AccessKey ID last handed out
}

func (g *guardedProvider) GetCredentials() (*credentials.Credentials, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inner == nil {
		inner, err := g.build()
		if err != nil {
			return nil, &CredentialError{Kind: g.kind, err: err}
		}
		g.inner = inner
	}
	cc, err := g.inner.GetCredentials()
	if err != nil {
		if g.build != nil {
			g.inner = nil // the next call starts from a new provider
		}
		return nil, &CredentialError{Kind: g.kind, err: err}
	}
	if cc == nil || cc.AccessKeyId == "" || cc.AccessKeySecret == "" {
		return nil, &CredentialError{Kind: g.kind, err: errors.New("the provider gave no AccessKey")}
	}
	g.redact.learnNew(&g.last, cc)
	return cc, nil
}

func (g *guardedProvider) GetProviderName() string {
	return "alicloud-billing-source/" + string(g.kind)
}

// CredentialError is a failure to get credentials (from STS, the ECS metadata service, the
// OIDC token file or the default chain), before any bill was asked for.
type CredentialError struct {
	Kind config.CredentialKind
	err  error
}

func (e *CredentialError) Error() string { return string(e.Kind) + ": " + e.err.Error() }
func (e *CredentialError) Unwrap() error { return e.err }

// credentialHints say what to check when a kind of credentials is refused.
var credentialHints = map[config.CredentialKind]string{
	config.CredRAMRoleARN: "check role_arn, that the role's trust policy lets the AccessKey (or instance role) assume it, external_id, and sts_endpoint",
	config.CredOIDC:       "check role_arn, oidc_provider_arn and oidc_token_file (or the ALIBABA_CLOUD_ROLE_ARN, _OIDC_PROVIDER_ARN, _OIDC_TOKEN_FILE variables): the file must hold a current token, and the role must trust the OIDC provider",
	config.CredECSRAMRole: "check ecs_ram_role: the role must be attached to this ECS instance, and the metadata service reachable (100.100.100.200)",
	config.CredDefaultChain: "no credentials were found: set access_key_id and secret_access_Key, or role_arn, ecs_ram_role or oidc_*, " +
		"or the ALIBABA_CLOUD_* variables (see connector --help)",
}

// classifyCredential turns a CredentialError into an APIError: STS refusing (HTTP 4xx), an
// unreadable token file or an exhausted default chain need the configuration fixed;
// STS or the metadata service unreachable or failing (5xx) is tried again.
func (r *redactor) classifyCredential(ce *CredentialError) *APIError {
	hint := credentialHints[ce.Kind]
	where := "credentials (" + string(ce.Kind) + ")"
	text := ce.err.Error()
	retry := func(code, msg string) *APIError {
		return &APIError{Class: Retryable, Code: code, Message: where + ": " + r.clean(msg, maxMessage)}
	}
	refuse := func(code, msg string) *APIError {
		return &APIError{Class: Credentials, Code: code, Message: where + ": " + r.clean(msg, maxMessage), Hint: hint}
	}
	if strings.Contains(text, "any of the providers in the chain") {
		// Every provider of the default chain failed (also under role_arn without a key of
		// its own): nothing is configured, whatever each one said.
		return &APIError{Class: Credentials, Code: "NoCredentials", Message: where + ": " + r.clean(text, maxMessage),
			Hint: credentialHints[config.CredDefaultChain]}
	}
	var se *sdkerrors.ServerError
	if errors.As(ce.err, &se) {
		code := r.clean(se.ErrorCode(), maxCode)
		msg := r.clean(withoutStringToSign(se.Message()), maxMessage)
		if se.HttpStatus() >= 500 || se.HttpStatus() == 429 || strings.HasPrefix(code, "Throttling") {
			return &APIError{Class: Retryable, Code: orDefault(code, "CredentialsUnavailable"), HTTPStatus: se.HttpStatus(),
				Message: where + ": " + msg, RequestID: r.clean(se.RequestId(), maxID)}
		}
		return &APIError{Class: Credentials, Code: orDefault(code, "CredentialsRefused"), HTTPStatus: se.HttpStatus(),
			Message: where + " refused: " + msg, RequestID: r.clean(se.RequestId(), maxID), Hint: hint}
	}
	var ue *url.Error
	if errors.As(ce.err, &ue) {
		host := ""
		if u, err := url.Parse(ue.URL); err == nil {
			host = u.Host
		}
		return retry("CredentialsUnavailable", fmt.Sprintf("%s %s: %v", ue.Op, host, ue.Err)) // never the URL: its query is signed
	}
	// The ECS provider reports the metadata service's answers as text: "httpStatus: 503".
	if m := metadataStatus.FindStringSubmatch(text); m != nil {
		if status, _ := strconv.Atoi(m[1]); status >= 500 || status == 429 {
			return retry("CredentialsUnavailable", text)
		}
		return refuse("CredentialsRefused", text)
	}
	var ne net.Error
	if errors.As(ce.err, &ne) || looksLikeNetwork(text) {
		if strings.Contains(text, "100.100.100.200") {
			text = "the ECS metadata service (100.100.100.200) did not answer; is this an ECS instance? " + text
		}
		return retry("CredentialsUnavailable", text)
	}
	if strings.Contains(text, "json.Unmarshal") || strings.Contains(text, "fail to get credentials") {
		return retry("CredentialsUnavailable", text) // a garbled answer from STS or the metadata service
	}
	return refuse("CredentialsUnavailable", text)
}

// metadataStatus finds the HTTP status in the ECS provider's errors.
var metadataStatus = regexp.MustCompile(`httpStatus: ?(\d{3})`)

// looksLikeNetwork recognises the network failures that some providers report only as text
// (the ECS provider formats its errors with %s).
func looksLikeNetwork(s string) bool {
	for _, m := range []string{"dial tcp", "i/o timeout", "connection refused", "connection reset", "Client.Timeout", "EOF", "no such host"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
