package billing

import (
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

func credErr(kind config.CredentialKind, err error) *APIError {
	return newRedactor("LTAIbaseKey1234", "base-secret-value-0001", "").classify(fmt.Errorf("sign: %w", &CredentialError{Kind: kind, err: err}))
}

func TestCredentialErrors_RefusedNeedsTheConfigFixedUnreachableIsRetried(t *testing.T) {
	refused := credErr(config.CredRAMRoleARN, sdkerrors.NewServerError(403,
		`{"Code":"NoPermission","Message":"You are not authorized","RequestId":"R-1"}`, "refresh session token failed"))
	assert.Equal(t, Credentials, refused.Kind)
	assert.True(t, refused.NeedsConfigFix())
	assert.Equal(t, "NoPermission", refused.Code)
	assert.Contains(t, refused.Error(), "credentials (ram_role_arn) refused")
	assert.Contains(t, refused.Error(), "check role_arn")

	down := credErr(config.CredRAMRoleARN, sdkerrors.NewServerError(503, `{"Code":"ServiceUnavailable"}`, "refresh session token failed"))
	assert.Equal(t, Retryable, down.Kind)

	// The SDK's transport error quotes the signed URL: only its host may show.
	signed := "https://sts.cn-hangzhou.aliyuncs.com/?AccessKeyId=LTAIbaseKey1234&Signature=abcdEFGH%3D&SecurityToken=CAIStoken"
	net := credErr(config.CredRAMRoleARN, &url.Error{Op: "Post", URL: signed, Err: errors.New("dial tcp: i/o timeout")})
	assert.Equal(t, Retryable, net.Kind)
	assert.Contains(t, net.Error(), "sts.cn-hangzhou.aliyuncs.com")
	for _, s := range []string{"Signature", "abcdEFGH", "CAIStoken", "LTAIbaseKey1234"} {
		assert.NotContains(t, net.Error(), s)
	}

	// The ECS provider reports network failures as text only.
	ecs := credErr(config.CredECSRAMRole, errors.New(`refresh Ecs sts token err: Get "http://100.100.100.200/latest/meta-data/ram/security-credentials/r": dial tcp 100.100.100.200:80: i/o timeout`))
	assert.Equal(t, Retryable, ecs.Kind)

	chain := credErr(config.CredDefaultChain, errors.New("unable to get credentials from any of the providers in the chain: EnvironmentVariableCredentialsProvider: ...; ECS: dial tcp 100.100.100.200:80: i/o timeout"))
	assert.Equal(t, Credentials, chain.Kind, "an exhausted chain is a configuration to fix, whatever its last provider said")
	assert.Equal(t, "NoCredentials", chain.Code)

	file := credErr(config.CredOIDC, errors.New("open /var/run/token: no such file or directory"))
	assert.Equal(t, Credentials, file.Kind)
	assert.Contains(t, file.Error(), "oidc_token_file")
}

type fakeProvider struct {
	mu    sync.Mutex
	calls int
	next  func(n int) (*credentials.Credentials, error)
}

func (f *fakeProvider) GetCredentials() (*credentials.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.next(f.calls)
}
func (f *fakeProvider) GetProviderName() string { return "fake" }

func TestGuardedProvider_HidesEveryTemporaryCredentialItHandsOut(t *testing.T) {
	red := newRedactor("LTAIbaseKey1234", "base-secret-value-0001", "")
	g := &guardedProvider{kind: config.CredRAMRoleARN, redact: red, inner: &fakeProvider{next: func(n int) (*credentials.Credentials, error) {
		return &credentials.Credentials{AccessKeyId: fmt.Sprintf("STS.NUissuedKey%04d", n), AccessKeySecret: fmt.Sprintf("temporary-secret-%04d-abcdef", n),
			SecurityToken: fmt.Sprintf("CAIStemporaryToken%04dXYZXYZXYZ", n)}, nil
	}}}
	var wg sync.WaitGroup
	for range 20 { // the SDK's providers are not safe for concurrent use; the guard serialises them
		wg.Go(func() {
			_, err := g.GetCredentials()
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	msg := red.clean("server said: temporary-secret-0020-abcdef and CAIStemporaryToken0019XYZXYZXYZ for STS.NUissuedKey0018", maxMessage)
	assert.NotContains(t, msg, "temporary-secret-0020")
	assert.NotContains(t, msg, "CAIStemporaryToken0019")
	assert.NotContains(t, msg, "NUissuedKey0018")
	assert.Contains(t, msg, "STS.[redacted]")

	empty := &guardedProvider{kind: config.CredECSRAMRole, redact: red, inner: &fakeProvider{next: func(int) (*credentials.Credentials, error) {
		return &credentials.Credentials{}, nil
	}}}
	_, err := empty.GetCredentials()
	var ce *CredentialError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, config.CredECSRAMRole, ce.Kind)
}
