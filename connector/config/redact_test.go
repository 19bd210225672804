package config

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var redactCases = []struct{ in, want string }{
	{"http://localhost:8081", "http://localhost:8081"},
	{"https://sink.example:9443/ce/path", "https://sink.example:9443/ce/path"},
	{"https://user:pass@sink.example/", "https://xxxxx:xxxxx@sink.example/"},
	{"https://t0ken@sink.example/", "https://xxxxx@sink.example/"},
	{"https://user:@sink.example/", "https://xxxxx:xxxxx@sink.example/"},
	{"https://h/ce?token=abc", "https://h/ce?token=redacted"},
	{"https://h/?access_token=abc&sig=def&v=1", "https://h/?access_token=redacted&sig=redacted&v=redacted"},
	{"https://h/?sig=a%20b&x%20y=c", "https://h/?sig=redacted&x%20y=redacted"},
	{"https://h/?abc123", "https://h/?redacted"},
	{"https://h/?a=1&&b", "https://h/?a=redacted&&redacted"},
	{"https://h/?flag=", "https://h/?flag=redacted"},
	{"https://h/#access_token=abc", "https://h/#redacted"},
	{"https://u:p@h:8443/p?token=t#f", "https://xxxxx:xxxxx@h:8443/p?token=redacted#redacted"},
}

func TestRedact_HidesUserPasswordAndQueryValues(t *testing.T) {
	for _, tc := range redactCases {
		u, err := url.Parse(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, Redact(u), tc.in)
	}
	assert.Equal(t, "", Redact(nil))
}

func TestRedact_LeavesItsArgumentAlone(t *testing.T) {
	u, err := url.Parse("https://user:pass@h/?token=abc#frag")
	require.NoError(t, err)
	_ = Redact(u)
	assert.Equal(t, "https://user:pass@h/?token=abc#frag", u.String())
}

func TestRedactString_AgreesWithRedactAndCopesWithBrokenURLs(t *testing.T) {
	for _, tc := range redactCases {
		assert.Equal(t, tc.want, RedactString(tc.in), tc.in)
	}
	cases := map[string]string{
		"user:pass@host:8080":              "xxxxx:xxxxx@host:8080",
		"http://user:pa/ss@h:0/?token=tok": "http://xxxxx:xxxxx@h:0/?token=redacted",
		"http://u:p?ss@h/":                 "http://xxxxx:xxxxx@h/",
		"http://u:p@a b/?sig=tok#t":        "http://xxxxx:xxxxx@a b/?sig=redacted#redacted",
		"localhost:8081":                   "localhost:8081",
		"":                                 "",
	}
	for in, want := range cases {
		assert.Equal(t, want, RedactString(in), in)
	}
	u, err := url.Parse("user:pass@host")
	require.NoError(t, err)
	assert.Equal(t, "xxxxx:xxxxx@host", Redact(u), "an opaque URL is redacted as text")
}

func TestConfig_TargetRedacted(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("V_TARGET", "https://al1ce:pa55@sink.example/ce?token=t0k")})
	require.NoError(t, err)
	assert.Equal(t, "https://al1ce:pa55@sink.example/ce?token=t0k", c.Target.String(), "the sender still gets the real URL")
	assert.Equal(t, "https://xxxxx:xxxxx@sink.example/ce?token=redacted", c.TargetRedacted())
}
