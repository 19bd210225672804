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
	assert.Equal(t, Credentials, refused.Class)
	assert.True(t, refused.NeedsConfigFix())
	assert.Equal(t, "NoPermission", refused.Code)
	assert.Contains(t, refused.Error(), "credentials (ram_role_arn) refused")
	assert.Contains(t, refused.Error(), "check role_arn")

	down := credErr(config.CredRAMRoleARN, sdkerrors.NewServerError(503, `{"Code":"ServiceUnavailable"}`, "refresh session token failed"))
	assert.Equal(t, Retryable, down.Class)

	// The SDK's transport error quotes the signed URL: only its host may show.
	signed := "https://sts.cn-hangzhou.aliyuncs.com/?AccessKeyId=LTAIbaseKey1234&Signature=abcdEFGH%3D&SecurityToken=CAIStoken"
	net := credErr(config.CredRAMRoleARN, &url.Error{Op: "Post", URL: signed, Err: errors.New("dial tcp: i/o timeout")})
	assert.Equal(t, Retryable, net.Class)
	assert.Contains(t, net.Error(), "sts.cn-hangzhou.aliyuncs.com")
	for _, s := range []string{"Signature", "abcdEFGH", "CAIStoken", "LTAIbaseKey1234"} {
		assert.NotContains(t, net.Error(), s)
	}

	// The ECS provider reports network failures as text only.
	ecs := credErr(config.CredECSRAMRole, errors.New(`refresh Ecs sts token err: Get "http://100.100.100.200/latest/meta-data/ram/security-credentials/r": dial tcp 100.100.100.200:80: i/o timeout`))
	assert.Equal(t, Retryable, ecs.Class)

	chain := credErr(config.CredDefaultChain, errors.New("unable to get credentials from any of the providers in the chain: EnvironmentVariableCredentialsProvider: ...; ECS: dial tcp 100.100.100.200:80: i/o timeout"))
	assert.Equal(t, Credentials, chain.Class, "an exhausted chain is a configuration to fix, whatever its last provider said")
	assert.Equal(t, "NoCredentials", chain.Code)

	file := credErr(config.CredOIDC, errors.New("open /var/run/token: no such file or directory"))
	assert.Equal(t, Credentials, file.Class)
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

func TestCredentialErrors_MoreShapes(t *testing.T) {
	// The default chain exhausted under role_arn (no AccessKey of its own): still "no credentials".
	chain := credErr(config.CredRAMRoleARN, errors.New("unable to get credentials from any of the providers in the chain: get role name failed: dial tcp 100.100.100.200:80: i/o timeout"))
	assert.Equal(t, Credentials, chain.Class)
	assert.Equal(t, "NoCredentials", chain.Code)

	// The metadata service's own answers, which the ECS provider reports as text.
	busy := credErr(config.CredECSRAMRole, errors.New("refresh Ecs sts token err, httpStatus: 503, message = busy"))
	assert.Equal(t, Retryable, busy.Class)
	gone := credErr(config.CredECSRAMRole, errors.New("refresh Ecs sts token err, httpStatus: 404, message = not found"))
	assert.Equal(t, Credentials, gone.Class)

	// Off ECS: retried, and the message says what it probably means.
	off := credErr(config.CredECSRAMRole, errors.New(`get role name failed: Get "http://100.100.100.200/latest/meta-data/ram/security-credentials/": dial tcp 100.100.100.200:80: connect: connection refused`))
	assert.Equal(t, Retryable, off.Class)
	assert.Contains(t, off.Error(), "is this an ECS instance?")

	garbled := credErr(config.CredRAMRoleARN, errors.New("refresh RoleArn sts token err, json.Unmarshal fail: invalid character"))
	assert.Equal(t, Retryable, garbled.Class)
}

// chainThatRemembers fails like the SDK's default chain: after every provider failed once,
// it asks only the last one (whose error is a network error off ECS).
type chainThatRemembers struct{ failedOnce bool }

func (c *chainThatRemembers) GetCredentials() (*credentials.Credentials, error) {
	if c.failedOnce {
		return nil, errors.New("get role name failed: dial tcp 100.100.100.200:80: i/o timeout")
	}
	c.failedOnce = true
	return nil, errors.New("unable to get credentials from any of the providers in the chain: ...")
}
func (c *chainThatRemembers) GetProviderName() string { return "chain" }

func TestGuardedProvider_StartsAFreshProviderAfterAnError(t *testing.T) {
	red := newRedactor("", "", "")
	built := 0
	g := &guardedProvider{kind: config.CredDefaultChain, redact: red, build: func() (credentials.CredentialsProvider, error) {
		built++
		return &chainThatRemembers{}, nil
	}}
	for day := 1; day <= 3; day++ {
		_, err := g.GetCredentials()
		ae := red.classify(err)
		assert.Equal(t, "NoCredentials", ae.Code, "day %d: every day says what is wrong", day)
		assert.Equal(t, Credentials, ae.Class)
	}
	assert.Equal(t, 3, built)
}

func TestFactory_AccountsOfOneCallerShareAPacer(t *testing.T) {
	f := NewFactory(Params{Options: Options{Endpoint: config.Endpoint{Scheme: "https", Host: "business.aliyuncs.com"}, APIQPS: 10}})
	payer := config.Credentials{AccessKeyID: "LTAIpayer", AccessKeySecret: "s"}
	a, err := f.For(config.Account{Name: "payer", Credentials: payer})
	require.NoError(t, err)
	b, err := f.For(config.Account{Name: "shop", Credentials: payer, BillOwnerID: 2})
	require.NoError(t, err)
	c, err := f.For(config.Account{Name: "lab", Credentials: config.Credentials{AccessKeyID: "LTAIlab", AccessKeySecret: "s"}})
	require.NoError(t, err)
	assert.Same(t, a.pace, b.pace, "the payer and a member read with its key keep to one api_qps together")
	assert.NotSame(t, a.pace, c.pace, "another caller has a pace of its own")
}

func TestRedactor_SnakeCaseKeysOfCredentialFiles(t *testing.T) {
	red := newRedactor("", "", "")
	msg := red.clean(`parse ~/.aliyun/config.json failed: {"profiles":[{"access_key_id":"LTAIfile1234","access_key_secret":"file-secret-value","sts_token":"tok"}]}`, 1000)
	assert.NotContains(t, msg, "file-secret-value")
	assert.NotContains(t, msg, "LTAIfile1234")
	assert.NotContains(t, msg, `"tok"`)
}

// Clients made at once (processes of a test binary, or accounts made in parallel) do not
// race on the SDK's endpoint map, which it fills on the first client (run alone, -race).
func TestFactory_ClientsMadeAtOnceDoNotRace(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := NewFactory(Params{Options: Options{Endpoint: config.Endpoint{Scheme: "https", Host: "business.aliyuncs.com"}, APIQPS: 10}})
			_, err := f.For(config.Account{Name: fmt.Sprint("a", i), Credentials: config.Credentials{AccessKeyID: fmt.Sprint("LTAI", i), AccessKeySecret: "s"}})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
}
