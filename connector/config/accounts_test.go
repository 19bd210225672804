package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const target = `"v_target":"http://localhost:8081"`

func load(t *testing.T, body string, kv ...string) (*Config, error) {
	t.Helper()
	return Load(Source{Path: writeConfig(t, body), Lookup: env(kv...)})
}

func TestCredentials_EachKindFromItsKeys(t *testing.T) {
	cases := map[string]struct {
		keys string
		kind CredentialKind
	}{
		"access key":       {`"access_key_id":"LTAIa","secret_access_Key":"s"`, CredAccessKey},
		"sts token":        {`"access_key_id":"STS.a","secret_access_Key":"s","security_token":"t"`, CredSTSToken},
		"role on a key":    {`"access_key_id":"LTAIa","secret_access_Key":"s","role_arn":"acs:ram::123:role/r","external_id":"x"`, CredRAMRoleARN},
		"role on ecs role": {`"ecs_ram_role":"r","role_arn":"acs:ram::123:role/r"`, CredRAMRoleARN},
		"role on chain":    {`"role_arn":"acs:ram::123:role/r"`, CredRAMRoleARN},
		"ecs role":         {`"ecs_ram_role":"billing-ecs"`, CredECSRAMRole},
		"oidc":             {`"role_arn":"acs:ram::123:role/r","oidc_provider_arn":"acs:ram::123:oidc-provider/ack","oidc_token_file":"/var/run/token"`, CredOIDC},
		"nothing":          {`"pull_hour":3`, CredDefaultChain},
		"chain with sts":   {`"sts_endpoint":"sts.cn-hangzhou.aliyuncs.com"`, CredDefaultChain},
	}
	for name, c := range cases {
		cfg, err := load(t, `{`+target+`,`+c.keys+`}`)
		require.NoError(t, err, name)
		require.Len(t, cfg.Accounts, 1, name)
		a := cfg.Accounts[0]
		assert.Equal(t, c.kind, a.Credentials.Kind(), name)
		assert.Equal(t, DefaultAccount, a.Name, name)
		assert.Equal(t, cfg.StatePath, a.StatePath, name)
		assert.False(t, cfg.MultiAccount(), name)
		if c.kind == CredRAMRoleARN || c.kind == CredOIDC {
			assert.Equal(t, DefaultRoleSessionName, a.Credentials.RoleSessionName, name)
		}
	}
}

func TestCredentials_BadCombinationsNameTheKey(t *testing.T) {
	cases := map[string]struct{ keys, key, problem string }{
		"half a key":         {`"access_key_id":"LTAIa"`, "secret_access_Key", "required with access_key_id"},
		"secret alone":       {`"secret_access_Key":"s"`, "access_key_id", "required with secret_access_Key"},
		"token alone":        {`"security_token":"t"`, "security_token", "needs access_key_id"},
		"bad role arn":       {`"role_arn":"arn:aws:iam::1:role/x"`, "role_arn", "RAM role ARN"},
		"session no role":    {`"access_key_id":"a","secret_access_Key":"s","role_session_name":"me"`, "role_session_name", "only with role_arn"},
		"external no role":   {`"access_key_id":"a","secret_access_Key":"s","external_id":"x"`, "external_id", "only with role_arn"},
		"sts endpoint path":  {`"role_arn":"acs:ram::1:role/r","sts_endpoint":"https://sts.example/x"`, "sts_endpoint", "STS host"},
		"sts endpoint http":  {`"role_arn":"acs:ram::1:role/r","sts_endpoint":"http://127.0.0.1:1"`, "sts_endpoint", "HTTPS"},
		"oidc no provider":   {`"role_arn":"acs:ram::1:role/r","oidc_token_file":"/t"`, "oidc_provider_arn", "required"},
		"oidc relative file": {`"role_arn":"acs:ram::1:role/r","oidc_provider_arn":"acs:ram::1:oidc-provider/p","oidc_token_file":"t"`, "oidc_token_file", "absolute"},
		"oidc no role":       {`"oidc_provider_arn":"acs:ram::1:oidc-provider/p","oidc_token_file":"/t"`, "role_arn", "required"},
		"oidc and key":       {`"role_arn":"acs:ram::1:role/r","oidc_provider_arn":"acs:ram::1:oidc-provider/p","oidc_token_file":"/t","access_key_id":"a","secret_access_Key":"s"`, "oidc_provider_arn", "cannot be combined"},
		"ecs and key":        {`"ecs_ram_role":"r","access_key_id":"a","secret_access_Key":"s"`, "ecs_ram_role", "cannot be combined"},
		"session too short":  {`"role_arn":"acs:ram::1:role/r","role_session_name":"x"`, "role_session_name", "2 to 64"},
	}
	for name, c := range cases {
		_, err := load(t, `{`+target+`,`+c.keys+`}`)
		var ce *Error
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, c.key, ce.Key, name)
		assert.Contains(t, ce.Problem, c.problem, name)
		assert.NotContains(t, err.Error(), `"s"`, name)
	}
}

func TestAccounts_ListWithNamesOwnersAndInheritedCredentials(t *testing.T) {
	cfg, err := load(t, `{`+target+`,"access_key_id":"LTAIpayer","secret_access_Key":"payer-secret","state_path":"/var/lib/x/state.db",
		"accounts":[{"name":"payer"},{"bill_owner_id":"2000000000000002"},{"name":"lab","ecs_ram_role":"lab-role"},
		{"role_arn":"acs:ram::3000000000000003:role/billing"},{"name":"default","access_key_id":"LTAIold","secret_access_Key":"old"}]}`)
	require.NoError(t, err)
	require.True(t, cfg.MultiAccount())
	names := []string{}
	for _, a := range cfg.Accounts {
		names = append(names, a.Name)
	}
	assert.Equal(t, []string{"payer", "2000000000000002", "lab", "3000000000000003", "default"}, names)
	assert.Equal(t, "LTAIpayer", cfg.Accounts[0].Credentials.AccessKeyID, "an entry without credentials uses the top level's")
	assert.Equal(t, "LTAIpayer", cfg.Accounts[1].Credentials.AccessKeyID)
	assert.Equal(t, int64(2000000000000002), cfg.Accounts[1].BillOwnerID)
	assert.Equal(t, CredECSRAMRole, cfg.Accounts[2].Credentials.Kind())
	assert.Equal(t, CredRAMRoleARN, cfg.Accounts[3].Credentials.Kind())
	assert.Empty(t, cfg.Accounts[2].Credentials.AccessKeyID, "its own credentials replace the top level's whole")
	assert.Equal(t, "/var/lib/x/state.payer.db", cfg.Accounts[0].StatePath)
	assert.Equal(t, "/var/lib/x/state.lab.db", cfg.Accounts[2].StatePath)
	assert.Equal(t, "/var/lib/x/state.db", cfg.Accounts[4].StatePath, "an account named default keeps state_path")
}

func TestAccounts_BadListsAreOneLine(t *testing.T) {
	cases := map[string]struct{ accounts, key, problem string }{
		"not a list":     {`{"name":"a"}`, "accounts", "array of objects"},
		"empty":          {`[]`, "accounts", "empty list"},
		"not objects":    {`["a"]`, "accounts[0]", "is not a JSON object"},
		"unknown key":    {`[{"name":"a","acess_key_id":"x"}]`, "accounts[0]", `unknown key "acess_key_id"`},
		"duplicate key":  {`[{"name":"a","NAME":"b"}]`, "name", "both present"},
		"same name":      {`[{"name":"a"},{"name":"a"}]`, "accounts[1].name", "also the name of accounts[0]"},
		"no name":        {`[{"name":"a"},{"access_key_id":"k","secret_access_Key":"s"}]`, "accounts[1].name", "required"},
		"bad name":       {`[{"name":"Payer Account"}]`, "accounts[0].name", "lower-case"},
		"bad owner":      {`[{"bill_owner_id":"12ab"}]`, "accounts[0].bill_owner_id", "not an account ID"},
		"negative owner": {`[{"bill_owner_id":-5}]`, "accounts[0].bill_owner_id", "not an account ID"},
		"bad creds":      {`[{"name":"a","access_key_id":"k"}]`, "accounts[0].secret_access_Key", "required"},
		"object value":   {`[{"name":{"x":1}}]`, "accounts[0].name", "string or a number"},
	}
	for name, c := range cases {
		_, err := load(t, `{`+target+`,"access_key_id":"LTAIpayer","secret_access_Key":"payer-secret","accounts":`+c.accounts+`}`)
		var ce *Error
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, c.key, ce.Key, name)
		assert.Contains(t, ce.Problem, c.problem, name)
		assert.NotContains(t, err.Error(), "payer-secret", name)
		assert.NotContains(t, err.Error(), "\n", name)
	}
	_, err := load(t, `{`+target+`,"accounts":[`+strings.Repeat(`{"bill_owner_id":1},`, MaxAccounts)+`{"bill_owner_id":2}]}`)
	assert.ErrorContains(t, err, "at most 10000")
}

func TestAccounts_EnvironmentOverridesTheTopLevelCredentials(t *testing.T) {
	cfg, err := load(t, `{`+target+`}`, "ROLE_ARN", "acs:ram::1:role/r", "ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s")
	require.NoError(t, err)
	assert.Equal(t, CredRAMRoleARN, cfg.Accounts[0].Credentials.Kind())
	assert.Equal(t, "LTAIenv", cfg.Accounts[0].Credentials.AccessKeyID)
}

func TestAccounts_EntriesWithoutAnIdentityInheritTheTopLevelOne(t *testing.T) {
	cfg, err := load(t, `{`+target+`,"access_key_id":"LTAIpayer","secret_access_Key":"payer-secret",
		"accounts":[{"name":"lab","role_arn":"acs:ram::3000000000000003:role/billing","sts_endpoint":"sts.example.test"},
		{"name":"shop","bill_owner_id":"2000000000000002"},
		{"name":"own","access_key_id":"LTAIown","secret_access_Key":"own-secret","role_arn":"acs:ram::4:role/x"}]}`)
	require.NoError(t, err)
	lab, shop, own := cfg.Accounts[0].Credentials, cfg.Accounts[1].Credentials, cfg.Accounts[2].Credentials
	assert.Equal(t, CredRAMRoleARN, lab.Kind())
	assert.Equal(t, "LTAIpayer", lab.AccessKeyID, "the role is assumed with the payer's key")
	assert.Equal(t, "sts.example.test", lab.STSEndpoint)
	assert.Equal(t, CredAccessKey, shop.Kind())
	assert.Equal(t, "LTAIpayer", shop.AccessKeyID)
	assert.Equal(t, "LTAIown", own.AccessKeyID)
}

func TestAccounts_KeysAreNotUnicodeFolded(t *testing.T) {
	// U+017F (long s) folds to "s" under strings.EqualFold: it must not be secret_access_Key.
	_, err := load(t, `{`+target+`,"accounts":[{"name":"a","access_key_id":"k","secret_access_Key":"good","ſecret_acceſſ_Key":"evil"}]}`)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Problem, "unknown key")
}

// One state file holds every account (state_path): the files of earlier releases, one per
// account, are only imported, so their names may be anything, the lock file's included.
func TestAccounts_LegacyStateFilesAreOnlyImported(t *testing.T) {
	cfg, err := load(t, `{`+target+`,"state_path":"/d/state","accounts":[{"name":"default"},{"name":"lock"}]}`)
	require.NoError(t, err)
	assert.Equal(t, "/d/state", cfg.Accounts[0].StatePath)
	assert.Equal(t, "/d/state.lock", cfg.Accounts[1].StatePath, "the state package skips a legacy path that is the lock file")
}

// A process runs up to MaxAccounts accounts, each with its own keys, and checking them
// stays linear: the largest list loads (a quadratic check of 10,000 entries would be
// 10^8 comparisons; BenchmarkLoadAccounts measures it).
func TestAccounts_TenThousand(t *testing.T) {
	cfg, err := load(t, manyAccounts(MaxAccounts))
	require.NoError(t, err)
	require.Len(t, cfg.Accounts, MaxAccounts)
	assert.Equal(t, "a09999", cfg.Accounts[MaxAccounts-1].Name)
	assert.Equal(t, "LTAI09999", cfg.Accounts[MaxAccounts-1].Credentials.AccessKeyID)
}

// manyAccounts is a config of n accounts, each with its own AccessKey and role.
func manyAccounts(n int) string {
	var b strings.Builder
	b.WriteString(`{` + target + `,"accounts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"a%05d","access_key_id":"LTAI%05d","secret_access_Key":"secret-%05d","role_arn":"acs:ram::1%05d:role/billing-reader","external_id":"x%05d"}`, i, i, i, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

func BenchmarkLoadAccounts(b *testing.B) {
	for _, n := range []int{100, 1000, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "config.json")
			if err := os.WriteFile(path, []byte(manyAccounts(n)), 0o600); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := Load(Source{Path: path, Lookup: env()}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
