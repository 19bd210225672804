// Package creds runs the connector (cli.Main, the production wiring) with every kind of
// credentials the SDK's providers offer, end to end: the providers talk to a fake STS over
// HTTPS and to a fake ECS metadata service, and the fake BSS API accepts only the
// temporary keys and tokens those fakes issued.
//
// TestMain points the process at the fakes the way a deployment points it at the real
// services: SSL_CERT_FILE trusts the fake STS's certificate, and HTTP_PROXY sends the SDK's
// requests for http://100.100.100.200 (the metadata service) to the fake, which answers
// them as a proxy. Loopback addresses (the fake BSS API, the sink) are never proxied.
package creds

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/stsfake"
)

const (
	account    = "1234567890123456" // bssfake's account
	baseKey    = "LTAI5tBaseKeyForSTS"
	baseSecret = "base-Secret-Never-Printed-31a7c"
	roleARN    = "acs:ram::" + account + ":role/billing-reader"
	ecsRoleARN = "acs:ram::" + account + ":role/billing-ecs"
	oidcARN    = "acs:ram::" + account + ":oidc-provider/ack-rrsa"
	oidcToken  = "eyJhbGciOiJSUzI1NiJ9.fake-oidc-token-Never-Printed.sig"
	unusedKey  = "LTAIunusedByTheConnector" // bssfake's only permanent key: never sent
)

var fakes *stsfake.Server

func TestMain(m *testing.M) {
	fakes = stsfake.Start(stsfake.Options{})
	dir, err := os.MkdirTemp("", "creds")
	if err != nil {
		panic(err)
	}
	ca := filepath.Join(dir, "sts-ca.pem")
	if err := fakes.WriteCA(ca); err != nil {
		panic(err)
	}
	// Before anything reads them: Go reads both once per process.
	os.Setenv("SSL_CERT_FILE", ca)
	os.Setenv("HTTP_PROXY", fakes.ProxyURL())
	os.Setenv("NO_PROXY", "")
	os.Setenv("HOME", dir) // no CLI profile or credentials file of the machine's
	code := m.Run()
	fakes.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// days are three days the API serves.
var days = func() []calendar.Day {
	first := calendar.Of(time.Now().UTC()).AddDays(-20)
	return []calendar.Day{first, first.AddDays(1), first.AddDays(2)}
}()

// world is a fake BSS API (which knows only unusedKey and what the fakes issue), a sink,
// and the fake STS and metadata service configured with opts; secrets collects every
// credential issued, which no output may show.
type world struct {
	*harness.Env
	mu      sync.Mutex
	secrets []string
	issued  map[string]bool
}

func newWorld(t *testing.T, opts stsfake.Options) *world {
	w := &world{Env: harness.NewEnv(t, unusedKey, "unused-secret"), issued: map[string]bool{}}
	for i, d := range days {
		w.API.SetDay(d.String(), bssfake.SampleDay(d.String(), 7+i, uint64(i)))
	}
	opts.Keys = map[string]string{baseKey: baseSecret}
	opts.Issue = func(k bssfake.TemporaryKey) {
		w.API.AddTemporaryKey(k)
		w.mu.Lock()
		w.secrets = append(w.secrets, k.Secret, k.Token)
		w.issued[k.ID] = true
		w.mu.Unlock()
	}
	fakes.Configure(opts)
	t.Cleanup(func() { fakes.Configure(stsfake.Options{}) })
	return w
}

// run runs the connector and checks that no secret reached its output.
func (w *world) run(t *testing.T, cfg map[string]any, args ...string) (int, string) {
	t.Helper()
	var out harness.Buffer
	path := w.Config(t, cfg)
	quick := billing.DefaultPolicy // failures retried within milliseconds, not minutes
	quick.Attempts, quick.BaseBackoff, quick.MaxBackoff = 3, time.Millisecond, 5*time.Millisecond
	code := cli.Main(append([]string{"--config", path}, args...), cli.IO{Stdout: &out, Stderr: &out,
		Lookup: func(string) (string, bool) { return "", false }}, fx.Supply(&quick))
	text := out.String()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range append([]string{baseSecret, oidcToken}, w.secrets...) {
		require.NotContains(t, text, s, "a secret or token reached the output")
	}
	return code, text
}

// rangeArgs run every day of days.
var rangeArgs = []string{"--from", days[0].String(), "--to", days[len(days)-1].String()}

// requireAllDelivered checks that the sink holds each row of each day once, and that the
// fake BSS API was only ever called with keys the fakes issued, more than one of them
// (the credentials were refreshed during the run).
func (w *world) requireAllDelivered(t *testing.T, out string) {
	t.Helper()
	want := w.Want(t, days...)
	got := map[string]string{}
	for _, r := range w.Sink.Events() {
		got[r.Event.Subject()] = string(r.Event.Data())
	}
	require.Equal(t, want, got, "every row once, as the API has it\n%s", harness.Tail(out, 2000))
	used := map[string]bool{}
	for _, r := range w.API.Requests() {
		id := r.Params.Get("AccessKeyId")
		require.True(t, w.issued[id], "the BSS API was called with %q, a key the fakes did not issue", id)
		used[id] = true
	}
	assert.GreaterOrEqual(t, len(used), 2, "the temporary credentials were renewed during the run")
}

func calls(action string) (ok, refused int) {
	for _, c := range fakes.Calls() {
		if c.Action != action {
			continue
		}
		if c.Code == "" {
			ok++
		} else {
			refused++
		}
	}
	return ok, refused
}

func withoutKeys(extra map[string]any) map[string]any {
	cfg := map[string]any{"access_key_id": nil, "secret_access_Key": nil}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

func TestCredentials_RAMRoleARN_AssumesTheRoleAndRenewsItDuringARange(t *testing.T) {
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: roleARN, Account: account, Trusted: []string{baseKey}, ExternalID: "ext-42"}}})
	code, out := w.run(t, withoutKeys(map[string]any{"access_key_id": baseKey, "secret_access_Key": baseSecret,
		"role_arn": roleARN, "external_id": "ext-42", "sts_endpoint": fakes.STSHost()}), rangeArgs...)
	require.Equal(t, cli.ExitOK, code, out)
	w.requireAllDelivered(t, out)
	ok, _ := calls("AssumeRole")
	assert.GreaterOrEqual(t, ok, 2, "AssumeRole again before the credentials expired")
}

func TestCredentials_RAMRoleARN_LongLivedCredentialsAreKept(t *testing.T) {
	w := newWorld(t, stsfake.Options{TTL: time.Hour, Roles: []stsfake.Role{{ARN: roleARN, Account: account, Trusted: []string{baseKey}}}})
	code, out := w.run(t, withoutKeys(map[string]any{"access_key_id": baseKey, "secret_access_Key": baseSecret,
		"role_arn": roleARN, "sts_endpoint": fakes.STSHost()}), rangeArgs...)
	require.Equal(t, cli.ExitOK, code, out)
	ok, _ := calls("AssumeRole")
	assert.Equal(t, 1, ok, "credentials an hour from expiry are used, not fetched again")
	assert.Len(t, harness.IDs(w.Sink.Events()), len(w.Want(t, days...)))
}

func TestCredentials_RAMRoleARN_RefusedIsExit2WithWhatToCheck(t *testing.T) {
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: roleARN, Account: account, ExternalID: "ext-42"}}})
	code, out := w.run(t, withoutKeys(map[string]any{"access_key_id": baseKey, "secret_access_Key": baseSecret,
		"role_arn": roleARN, "external_id": "not-it", "sts_endpoint": fakes.STSHost()}), "--once", "--date", days[0].String())
	assert.Equal(t, cli.ExitConfig, code, out)
	assert.Contains(t, out, "NoPermission")
	assert.Contains(t, out, "check role_arn")
	assert.Empty(t, w.API.Requests(), "no bill was asked for without credentials")
	assert.Empty(t, w.Sink.Events())

	// A secret STS does not know: its signature is refused.
	code, out = w.run(t, withoutKeys(map[string]any{"access_key_id": baseKey, "secret_access_Key": "wrong-Secret-Never-Printed",
		"role_arn": roleARN, "external_id": "ext-42", "sts_endpoint": fakes.STSHost()}), "--once", "--date", days[0].String())
	assert.Equal(t, cli.ExitConfig, code, out)
	assert.Contains(t, out, "SignatureDoesNotMatch")
	assert.NotContains(t, out, "wrong-Secret-Never-Printed")
}

func TestCredentials_ECSRAMRole_HardenedIMDSv2(t *testing.T) {
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: ecsRoleARN, Account: account}}, ECSRole: ecsRoleARN})
	code, out := w.run(t, withoutKeys(map[string]any{"ecs_ram_role": "billing-ecs"}), rangeArgs...)
	require.Equal(t, cli.ExitOK, code, out)
	w.requireAllDelivered(t, out)
	reads := 0
	for _, c := range fakes.Calls() {
		if strings.HasPrefix(c.Action, "GET ") {
			reads++
			assert.True(t, c.TokenSet, "every metadata read carries the IMDSv2 token: %+v", c)
			assert.Empty(t, c.Code, "%+v", c)
		}
	}
	assert.GreaterOrEqual(t, reads, 2, "the role's credentials were read again before they expired")
	puts, _ := calls("PUT /latest/api/token")
	assert.GreaterOrEqual(t, puts, 1)
}

func TestCredentials_ECSRAMRole_NeverFallsBackToIMDSv1(t *testing.T) {
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: ecsRoleARN, Account: account}}, ECSRole: ecsRoleARN, IMDSTokenDown: true})
	code, out := w.run(t, withoutKeys(map[string]any{"ecs_ram_role": "billing-ecs"}), "--once", "--date", days[0].String())
	assert.Equal(t, cli.ExitIncomplete, code, "the metadata service refusing tokens is retried, then the day fails\n%s", out)
	assert.Empty(t, w.Sink.Events())
	puts := 0
	for _, c := range fakes.Calls() {
		assert.False(t, strings.HasPrefix(c.Action, "GET "), "hardened mode reads nothing without a session token: %+v", c)
		if c.Action == "PUT /latest/api/token" {
			puts++
		}
	}
	assert.Positive(t, puts)
}

func TestCredentials_ECSRAMRole_NotAttachedIsExit2(t *testing.T) {
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: ecsRoleARN, Account: account}}, ECSRole: ecsRoleARN})
	code, out := w.run(t, withoutKeys(map[string]any{"ecs_ram_role": "another-role"}), "--once", "--date", days[0].String())
	assert.Equal(t, cli.ExitConfig, code, out)
	assert.Contains(t, out, "ecs_ram_role")
	assert.Empty(t, w.Sink.Events())
}

func writeToken(t *testing.T, token string) string {
	p := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(p, []byte(token), 0o600))
	return p
}

func TestCredentials_OIDC_FromTheConfig(t *testing.T) {
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: roleARN, Account: account}}, OIDCProviderARN: oidcARN, OIDCToken: oidcToken})
	code, out := w.run(t, withoutKeys(map[string]any{"role_arn": roleARN, "oidc_provider_arn": oidcARN,
		"oidc_token_file": writeToken(t, oidcToken), "sts_endpoint": fakes.STSHost()}), rangeArgs...)
	require.Equal(t, cli.ExitOK, code, out)
	w.requireAllDelivered(t, out)
	ok, _ := calls("AssumeRoleWithOIDC")
	assert.GreaterOrEqual(t, ok, 2)
}

func TestCredentials_OIDC_RRSAEnvironmentOfACK(t *testing.T) {
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: roleARN, Account: account}}, OIDCProviderARN: oidcARN, OIDCToken: oidcToken})
	// What ACK's pod identity webhook injects; the config names no credentials.
	t.Setenv("ALIBABA_CLOUD_ROLE_ARN", roleARN)
	t.Setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", oidcARN)
	t.Setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", writeToken(t, oidcToken+"\n"))
	code, out := w.run(t, withoutKeys(map[string]any{"sts_endpoint": fakes.STSHost()}), rangeArgs...)
	require.Equal(t, cli.ExitOK, code, out)
	w.requireAllDelivered(t, out)
}

func TestCredentials_OIDC_WrongTokenIsExit2(t *testing.T) {
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: roleARN, Account: account}}, OIDCProviderARN: oidcARN, OIDCToken: oidcToken})
	code, out := w.run(t, withoutKeys(map[string]any{"role_arn": roleARN, "oidc_provider_arn": oidcARN,
		"oidc_token_file": writeToken(t, "an-old-token"), "sts_endpoint": fakes.STSHost()}), "--once", "--date", days[0].String())
	assert.Equal(t, cli.ExitConfig, code, out)
	assert.Contains(t, out, "AuthenticationFail.OIDCToken")
	assert.Contains(t, out, "oidc_provider_arn")
	assert.NotContains(t, out, "an-old-token")
}

func TestCredentials_DefaultChain_CredentialsFile(t *testing.T) {
	w := newWorld(t, stsfake.Options{})
	fileKey, fileSecret := "LTAI5tFromTheCredentialsFile", "file-Secret-Never-Printed-77"
	p := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf("[default]\ntype = access_key\naccess_key_id = %s\naccess_key_secret = %s\n", fileKey, fileSecret)), 0o600))
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", p)
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	w.mu.Lock()
	w.secrets = append(w.secrets, fileSecret)
	w.issued[fileKey] = true
	w.mu.Unlock()
	// The fake BSS API knows the file's key as a permanent one of its account.
	api := bssfake.New(bssfake.Options{Keys: map[string]string{fileKey: fileSecret}})
	require.NoError(t, api.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = api.Close() })
	for i, d := range days {
		api.SetDay(d.String(), bssfake.SampleDay(d.String(), 3+i, uint64(i)))
	}
	code, out := w.run(t, withoutKeys(map[string]any{"endpoint": api.URL()}), "--once", "--date", days[0].String())
	require.Equal(t, cli.ExitOK, code, out)
	assert.Len(t, harness.IDs(w.Sink.Events()), 3)
	for _, r := range api.Requests() {
		assert.Equal(t, fileKey, r.Params.Get("AccessKeyId"))
	}
}

func TestCredentials_RoleOverAnEmptyChainIsNoCredentialsEveryTime(t *testing.T) {
	// role_arn alone: the default chain signs AssumeRole. Here it finds nothing; its last
	// step asks the metadata service, which knows no role (not disabled: as on a laptop
	// whose HTTP_PROXY answers).
	w := newWorld(t, stsfake.Options{Roles: []stsfake.Role{{ARN: roleARN, Account: account}}})
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for range 2 { // the SDK's chain remembers its last provider after failing: a second run must say the same
		code, out := w.run(t, withoutKeys(map[string]any{"role_arn": roleARN, "sts_endpoint": fakes.STSHost()}), "--once", "--date", days[0].String())
		assert.Equal(t, cli.ExitConfig, code, out)
		assert.Contains(t, out, "NoCredentials")
	}
	assert.Empty(t, w.API.Requests())
}

func TestCredentials_DefaultChain_NothingFoundIsExit2(t *testing.T) {
	w := newWorld(t, stsfake.Options{})
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	code, out := w.run(t, withoutKeys(nil), "--once", "--date", days[0].String())
	assert.Equal(t, cli.ExitConfig, code, out)
	assert.Contains(t, out, "NoCredentials")
	assert.Contains(t, out, "no credentials were found")
	assert.Empty(t, w.API.Requests())
}
