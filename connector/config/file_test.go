package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireConfigError asserts that err is a one-line *Error holding every part of says and
// none of the secrets. A leaked secret is reported by its index, never printed.
func requireConfigError(t *testing.T, err error, key string, says []string, secrets ...string) *Error {
	t.Helper()
	var ce *Error
	require.ErrorAs(t, err, &ce)
	msg := err.Error()
	for i, s := range secrets {
		if strings.Contains(msg, s) {
			t.Fatalf("the error holds secret #%d (not shown)", i)
		}
	}
	assert.Equal(t, key, ce.Key, msg)
	assert.NotContains(t, msg, "\n", "one line")
	for _, s := range says {
		assert.Contains(t, msg, s)
	}
	return ce
}

func TestLoad_TrailingDataAfterTheObjectIsRefused(t *testing.T) {
	for name, tail := range map[string]string{
		"garbage":       "garbage",
		"second object": `{"v_target":"http://evil:1"}`,
		"comma":         ",",
		"brace":         "}",
		"on line 3":     "\n\n x",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(Source{Path: writeConfig(t, minimal+tail), Lookup: env()})
			requireConfigError(t, err, "", []string{"more after its JSON object", "nothing after it"}, "s3cr3t-value")
		})
	}
	_, err := Load(Source{Path: writeConfig(t, minimal+"\n\n x"), Lookup: env()})
	requireConfigError(t, err, "", []string{"at line 3"})

	// White space after the object is fine.
	_, err = Load(Source{Path: writeConfig(t, "\n "+minimal+" \r\n\t\n"), Lookup: env()})
	require.NoError(t, err)
}

func TestLoad_WholeFileMustBeOneObject(t *testing.T) {
	cases := map[string]string{
		"null":    "null",
		"array":   `[` + minimal + `]`,
		"string":  `"s3cr3t-value"`,
		"number":  `42`,
		"boolean": `true`,
		"empty":   ``,
		"blank":   " \n ",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(Source{Path: writeConfig(t, body), Lookup: env()})
			requireConfigError(t, err, "", []string{"is not a JSON object"}, "s3cr3t-value")
		})
	}
	_, err := Load(Source{Path: writeConfig(t, "\n\nnull"), Lookup: env()})
	requireConfigError(t, err, "", []string{"it holds null at line 3"})
	_, err = Load(Source{Path: writeConfig(t, `"x"`), Lookup: env()})
	requireConfigError(t, err, "", []string{"it holds a string"})
	_, err = Load(Source{Path: writeConfig(t, ""), Lookup: env()})
	requireConfigError(t, err, "", []string{"empty"})
}

func TestLoad_SyntaxErrorsNameTheLineAndNotTheSecret(t *testing.T) {
	body := "{\n \"v_target\": \"http://x:1\",\n \"secret_access_Key\": \"s3cr3t-value\"\n \"access_key_id\": \"a\"\n}"
	_, err := Load(Source{Path: writeConfig(t, body), Lookup: env()})
	requireConfigError(t, err, "", []string{"is not a JSON object", "line 4"}, "s3cr3t-value")

	_, err = Load(Source{Path: writeConfig(t, "{\n\"v_target\": \n"), Lookup: env()})
	requireConfigError(t, err, "", []string{"ends before the object is closed", "line 3"})
}

func TestLoad_KeysThatDifferOnlyInCaseAreRefused(t *testing.T) {
	const secret, other = "s3cr3t-value", "0ther-s3cr3t"
	cases := []struct {
		name, body, key string
		says            []string
	}{
		{"secret, different values",
			`{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","secret_access_key":"` + other + `"}`,
			"secret_access_Key", []string{`"secret_access_Key"`, `"secret_access_key"`, "ignoring case", "config.json at line 1"}},
		{"secret, same value",
			`{"v_target":"http://x:1","access_key_id":"a","secret_access_key":"` + secret + `","SECRET_ACCESS_KEY":"` + secret + `"}`,
			"secret_access_Key", []string{`"secret_access_key"`, `"SECRET_ACCESS_KEY"`}},
		{"target",
			`{"v_target":"http://x:1","V_TARGET":"http://y:1","access_key_id":"a","secret_access_Key":"` + secret + `"}`,
			"v_target", []string{`"v_target"`, `"V_TARGET"`}},
		{"unknown key",
			`{"v_target":"http://x:1","access_key_id":"a","secret_access_Key":"` + secret + `","Pull_Hours":1,"pull_hours":2}`,
			"Pull_Hours", []string{`"Pull_Hours"`, `"pull_hours"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Source{Path: writeConfig(t, tc.body), Lookup: env()})
			requireConfigError(t, err, tc.key, tc.says, secret, other)
		})
	}
}

func TestLoad_RepeatedKeysAreRefused(t *testing.T) {
	// encoding/json keeps the last of two equal keys; the connector must not guess.
	body := `{"v_target":"http://a:1","v_target":"http://b:1","access_key_id":"a","secret_access_Key":"s3cr3t-value"}`
	_, err := Load(Source{Path: writeConfig(t, body), Lookup: env()})
	requireConfigError(t, err, "v_target", []string{`key "v_target" appears twice`, "config.json at line 1"}, "s3cr3t-value")

	body = `{"v_target":"http://a:1","access_key_id":"a","secret_access_Key":"s3cr3t-value","secret_access_Key":"s3cr3t-value"}`
	_, err = Load(Source{Path: writeConfig(t, body), Lookup: env()})
	requireConfigError(t, err, "secret_access_Key", []string{"appears twice"}, "s3cr3t-value")

	// The same key inside a nested value of an unknown key is no collision at the top.
	body = strings.TrimSuffix(minimal, "}") + `,"extra":{"v_target":1}}`
	c, err := Load(Source{Path: writeConfig(t, body), Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:8081", c.Target.String())
}

func TestLoad_DirectoryIsNotAConfigFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config.json") // what docker -v makes of a missing file
	require.NoError(t, os.Mkdir(dir, 0o700))
	_, err := Load(Source{Path: dir, Lookup: env()})
	requireConfigError(t, err, "", []string{"is not a regular file", "a directory"})

	// A directory at a default path is reported too, not skipped for the next path.
	old := DefaultPaths
	DefaultPaths = []string{dir, writeConfig(t, minimal)}
	t.Cleanup(func() { DefaultPaths = old })
	_, err = Load(Source{Lookup: env()})
	requireConfigError(t, err, "", []string{"is not a regular file"})
}

func TestLoad_SymbolicLinkToAFileIsRead(t *testing.T) {
	// Kubernetes mounts a ConfigMap key as a symbolic link.
	link := filepath.Join(t.TempDir(), "config.json")
	if err := os.Symlink(writeConfig(t, minimal), link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	c, err := Load(Source{Path: link, Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, "AKID", c.Accounts[0].Credentials.AccessKeyID)
}

func TestLoad_FileSizeIsLimited(t *testing.T) {
	pad := func(n int) string { return minimal + strings.Repeat(" ", n-len(minimal)) }

	_, err := Load(Source{Path: writeConfig(t, pad(MaxFileBytes+1)), Lookup: env()})
	requireConfigError(t, err, "", []string{"config.json is larger than 4 MiB"}, "s3cr3t-value")

	c, err := Load(Source{Path: writeConfig(t, pad(MaxFileBytes)), Lookup: env()})
	require.NoError(t, err, "exactly the limit is fine")
	assert.Equal(t, "AKID", c.Accounts[0].Credentials.AccessKeyID)
}

// endless yields 'a' forever, like a file that keeps growing after it was stat'ed.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.read += int64(len(p))
	return len(p), nil
}

func TestReadAtMost_StopsAGrowingFileAtTheLimit(t *testing.T) {
	r := &endless{}
	b, err := readAtMost(r, MaxFileBytes)
	require.NoError(t, err)
	assert.Nil(t, b, "more than the limit")
	assert.LessOrEqual(t, r.read, int64(2*MaxFileBytes), "stops reading soon after the limit")

	b, err = readAtMost(io.LimitReader(&endless{}, 10), 10)
	require.NoError(t, err)
	assert.Len(t, b, 10)

	b, err = readAtMost(strings.NewReader(""), 10)
	require.NoError(t, err)
	assert.NotNil(t, b, "an empty file is not too large")
}
