package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const minimal = `{"v_target":"http://localhost:8081","access_key_id":"AKID","secret_access_Key":"s3cr3t-value"}`

func TestLoad_SeedConfigGetsDefaults(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:8081", c.Target.String())
	assert.Equal(t, "AKID", c.Accounts[0].Credentials.AccessKeyID)
	assert.Equal(t, "s3cr3t-value", c.Accounts[0].Credentials.AccessKeySecret.Reveal())
	assert.Equal(t, Endpoint{Scheme: "https", Host: "business.aliyuncs.com"}, c.Endpoint)
	assert.Equal(t, 2, c.PullHour)
	assert.Equal(t, "Asia/Shanghai", c.PullZone.String())
	assert.False(t, c.Structured)
	assert.Equal(t, DefaultConcurrency, c.Concurrency)
	assert.Empty(t, c.Warnings)
}

func TestLoad_KeysAreCaseInsensitive(t *testing.T) {
	for _, key := range []string{"secret_access_Key", "secret_access_key", "SECRET_ACCESS_KEY"} {
		body := `{"V_Target":"http://x:1","Access_Key_Id":"id","` + key + `":"sek"}`
		c, err := Load(Source{Path: writeConfig(t, body), Lookup: env()})
		require.NoError(t, err, key)
		assert.Equal(t, "sek", c.Accounts[0].Credentials.AccessKeySecret.Reveal(), key)
	}
}

func TestLoad_PullHourAsNumberOrString(t *testing.T) {
	for body, want := range map[string]int{`5`: 5, `"7"`: 7, `0`: 0, `"23"`: 23} {
		c, err := Load(Source{Path: writeConfig(t, strings.TrimSuffix(minimal, "}")+`,"pull_hour":`+body+`}`), Lookup: env()})
		require.NoError(t, err, body)
		assert.Equal(t, want, c.PullHour, body)
	}
}

func TestLoad_EndpointHostOrURL(t *testing.T) {
	cases := map[string]Endpoint{
		"business.ap-southeast-1.aliyuncs.com": {"https", "business.ap-southeast-1.aliyuncs.com"},
		"http://127.0.0.1:9000":                {"http", "127.0.0.1:9000"},
		"https://example.com:8443/":            {"https", "example.com:8443"},
	}
	for in, want := range cases {
		c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("ENDPOINT", in)})
		require.NoError(t, err, in)
		assert.Equal(t, want, c.Endpoint, in)
	}
}

func TestLoad_EnvironmentOverrides(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env(
		"V_TARGET", "https://sink.example:9443/ce", "PULL_HOUR", "4", "PULL_ZONE", "UTC",
		"SEND_MODE", "structured", "ACCESS_KEY_ID", "ENVID")})
	require.NoError(t, err)
	assert.Equal(t, "https://sink.example:9443/ce", c.Target.String())
	assert.Equal(t, 4, c.PullHour)
	assert.Equal(t, "UTC", c.PullZone.String())
	assert.True(t, c.Structured)
	assert.Equal(t, "ENVID", c.Accounts[0].Credentials.AccessKeyID)
}

func TestLoad_StandardAlibabaVariables(t *testing.T) {
	p := writeConfig(t, `{"v_target":"http://x:1"}`)
	c, err := Load(Source{Path: p, Lookup: env("ALIBABA_CLOUD_ACCESS_KEY_ID", "std-id",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET", "std-secret", "ALIBABA_CLOUD_SECURITY_TOKEN", "tok")})
	require.NoError(t, err)
	assert.Equal(t, "std-id", c.Accounts[0].Credentials.AccessKeyID)
	assert.Equal(t, "std-secret", c.Accounts[0].Credentials.AccessKeySecret.Reveal())
	assert.Equal(t, "tok", c.Accounts[0].Credentials.SecurityToken.Reveal())

	// The file's own keys win over the standard variables.
	c, err = Load(Source{Path: writeConfig(t, minimal), Lookup: env("ALIBABA_CLOUD_ACCESS_KEY_ID", "std-id")})
	require.NoError(t, err)
	assert.Equal(t, "AKID", c.Accounts[0].Credentials.AccessKeyID)
}

func TestLoad_NoFileButEnvironmentIsEnough(t *testing.T) {
	dir := t.TempDir()
	old := DefaultPaths
	DefaultPaths = []string{filepath.Join(dir, "missing.json")}
	t.Cleanup(func() { DefaultPaths = old })
	c, err := Load(Source{Lookup: env("V_TARGET", "http://x:1", "ACCESS_KEY_ID", "a", "SECRET_ACCESS_KEY", "b")})
	require.NoError(t, err)
	assert.Equal(t, "", c.Source)
	assert.Equal(t, "b", c.Accounts[0].Credentials.AccessKeySecret.Reveal())
}

func TestLoad_UnknownKeyIsWarned(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, strings.TrimSuffix(minimal, "}")+`,"pull_hours":3}`), Lookup: env()})
	require.NoError(t, err)
	require.Len(t, c.Warnings, 1)
	assert.Contains(t, c.Warnings[0], `"pull_hours"`)
}

func TestLoad_BadValuesNameTheKeyAndNeverTheSecret(t *testing.T) {
	const secret = "s3cr3t-value"
	cases := []struct{ name, body, key, says string }{
		{"no target", `{"access_key_id":"a","secret_access_Key":"` + secret + `"}`, "v_target", "required"},
		{"relative target", `{"v_target":"localhost:8081","access_key_id":"a","secret_access_Key":"` + secret + `"}`, "v_target", "absolute"},
		{"ftp target", `{"v_target":"ftp://x","access_key_id":"a","secret_access_Key":"` + secret + `"}`, "v_target", "http"},
		{"no key id", `{"v_target":"http://x:1","secret_access_Key":"` + secret + `"}`, "access_key_id", "required"},
		{"no secret", `{"v_target":"http://x:1","access_key_id":"a"}`, "secret_access_Key", "required"},
		{"hour 24", `{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","pull_hour":24}`, "pull_hour", "0 to 23"},
		{"hour text", `{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","pull_hour":"two"}`, "pull_hour", "0 to 23"},
		{"hour fraction", `{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","pull_hour":2.5}`, "pull_hour", "0 to 23"},
		{"zone", `{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","pull_zone":"Mars/Olympus"}`, "pull_zone", "IANA"},
		{"endpoint path", `{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","endpoint":"http://h/x"}`, "endpoint", "without a path"},
		{"mode", `{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","send_mode":"batch"}`, "send_mode", "binary, structured"},
		{"concurrency", `{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","send_concurrency":0}`, "send_concurrency", "1 to 256"},
		{"object", `{"v_target":{"url":"x"},"access_key_id":"a","secret_access_Key":"` + secret + `"}`, "v_target", "string or a number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Source{Path: writeConfig(t, tc.body), Lookup: env()})
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key)
			assert.Contains(t, err.Error(), tc.says)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestLoad_FileProblems(t *testing.T) {
	_, err := Load(Source{Path: filepath.Join(t.TempDir(), "nope.json"), Lookup: env()})
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "cannot read")

	_, err = Load(Source{Path: writeConfig(t, `{"v_target": `), Lookup: env()})
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "not a JSON object")
}

func TestSecret_NeverFormatsItself(t *testing.T) {
	s := Secret("hunter2")
	for _, out := range []string{s.String(), s.GoString()} {
		assert.NotContains(t, out, "hunter2")
	}
	b, err := s.MarshalJSON()
	require.NoError(t, err)
	assert.NotContains(t, string(b), "hunter2")
	assert.Equal(t, "hunter2", s.Reveal())
}

// LISTEN= (empty) turns the ops listener off over the file's listen, as "listen": "" does;
// the other keys' empty variables still count as unset.
func TestLoad_AnEmptyLISTENTurnsTheListenerOff(t *testing.T) {
	p := writeConfig(t, strings.TrimSuffix(minimal, "}")+`,"listen":"127.0.0.1:9091","pull_hour":5}`)
	c, err := Load(Source{Path: p, Lookup: env("LISTEN", "", "PULL_HOUR", "")})
	require.NoError(t, err)
	assert.Equal(t, "", c.Listen, "LISTEN= turns it off")
	assert.Equal(t, 5, c.PullHour, "PULL_HOUR= leaves the file's value")
	c, err = Load(Source{Path: p, Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9091", c.Listen)
	c, err = Load(Source{Path: writeConfig(t, minimal), Lookup: env("LISTEN", "")})
	require.NoError(t, err)
	assert.Equal(t, "", c.Listen, "over the default too")
}

// No config file where the connector looks, and the environment does not configure it
// either: one line naming the paths tried (a relative one as the directory it meant) and
// --config, not "v_target: is required".
func TestLoad_NoFileAnywhereNamesThePathsTriedAndConfig(t *testing.T) {
	dir := t.TempDir()
	old := DefaultPaths
	DefaultPaths = []string{filepath.Join(dir, "vance", "config.json"), "./no-such-dir/config.json"}
	t.Cleanup(func() { DefaultPaths = old })
	wd, err := os.Getwd()
	require.NoError(t, err)
	_, err = Load(Source{Lookup: env("PULL_HOUR", "3")})
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "config: no config file: there is none at "+DefaultPaths[0]+" or ./no-such-dir/config.json ("+
		filepath.Join(wd, "no-such-dir", "config.json")+"); name one with --config PATH, or set V_TARGET and the other keys in the environment",
		err.Error())

	// A file that is found (or named) without v_target still says so.
	_, err = Load(Source{Path: writeConfig(t, `{"pull_hour": 3}`), Lookup: env()})
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "config: v_target: is required")
}
