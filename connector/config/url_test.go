package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoad_BadTargetsAreRefused(t *testing.T) {
	cases := []struct{ name, target, says string }{
		{"empty host with port", "http://:8080", "has no host"},
		{"empty host", "http://", "has no host"},
		{"port 0", "http://h:0", `port "0"`},
		{"port too large", "http://h:65536", `port "65536"`},
		{"port huge", "http://h:99999999999999999999", "1 to 65535"},
		{"port not digits", "http://h:8o8o", "invalid port"},
		{"colon without port", "http://h:/x", "no port after it"},
		{"space in host", "http://a b/", "white space"},
		{"space in path", "http://h/a b", "white space"},
		{"tab", "http://h\t/", "white space"},
		{"control character", "http://h\x01/", "control character"},
		{"unicode space", "http://a\u00a0b/", "white space"},
		{"quote in host", `http://a"b/`, "a host name holds only"},
		{"angle in host", "http://a<b>/", "a host name holds only"},
		{"bracketed non-IPv6", "http://[abc]:80/", "not an IPv6 address"},
		{"bracketed IPv4", "http://[127.0.0.1]/", "not an IPv6 address"},
		{"opaque", "http:localhost:8081", "absolute"},
		{"relative", "localhost:8081", "absolute"},
		{"ftp", "ftp://h/", "http"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("V_TARGET", tc.target)})
			requireConfigError(t, err, "v_target", []string{tc.says, "allowed:"}, "s3cr3t-value")
		})
	}
}

func TestLoad_GoodTargetsStillWork(t *testing.T) {
	for _, target := range []string{
		"http://localhost:8081",
		"http://host.docker.internal:8081",
		"https://sink.example:9443/ce?x=1",
		"http://127.0.0.1:1/",
		"http://h:65535",
		"http://[::1]:8080/",
		"http://[fe80::1%25eth0]:8080/",
		"http://sink_1:8080",
		"https://user:pa55@sink.example/",
		"HTTPS://Sink.Example/",
		"http://bücher.example/",
	} {
		c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("V_TARGET", target)})
		require.NoError(t, err, target)
		assert.NotNil(t, c.Target, target)
	}
}

func TestLoad_TargetErrorsNeverShowCredentials(t *testing.T) {
	const user, pass, tok = "al1ce-user", "pa55-word", "t0ken-value"
	for _, target := range []string{
		"http://" + user + ":" + pass + "@:8080/?token=" + tok,                // no host
		"http://" + user + ":" + pass + "@h:0/?access_token=" + tok,           // bad port
		"ftp://" + user + ":" + pass + "@h/?sig=" + tok,                       // bad scheme
		"http://" + user + ":" + pass + "@a b/?token=" + tok,                  // space
		"http://" + user + ":" + pass + "@h:8o/?token=" + tok,                 // does not parse
		"http://" + user + ":" + pass + "/x@h:0/?token=" + tok,                // '/' in the password
		"http://" + user + ":" + pass + "@h:0/?" + tok,                        // bare token as query
		"http://" + user + ":" + pass + "@h:0/#access_token=" + tok,           // token in fragment
		user + ":" + pass + "@h:8080/?token=" + tok,                           // no scheme
		"http://" + user + ":" + pass + "@[::zz]/?token=" + tok + "&a=" + tok, // bad IPv6
	} {
		_, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("V_TARGET", target)})
		requireConfigError(t, err, "v_target", []string{"xxxxx"}, user, pass, tok, "s3cr3t-value")
	}
}

func TestLoad_BadEndpointsAreRefused(t *testing.T) {
	cases := []struct{ name, endpoint, says string }{
		{"URL without host", "http://:9000", "has no host"},
		{"host port 0", "business.aliyuncs.com:0", `port "0"`},
		{"host port too large", "h:99999", `port "99999"`},
		{"URL port too large", "https://h:65536", `port "65536"`},
		{"colon without port", "h:", "no port after it"},
		{"only a port", ":9000", "has no host"},
		{"user in host", "user@h", "neither a host name nor a full URL"},
		{"user in URL", "http://user:pw@h", "user or password"},
		{"query", "http://h?x=1", "without a path, query"},
		{"empty query", "http://h?", "without a path, query"},
		{"fragment", "http://h#f", "without a path, query or fragment"},
		{"path", "http://h/x", "without a path"},
		{"space", "busi ness.aliyuncs.com", "white space"},
		{"control", "h\x7f", "control character"},
		{"bare IPv6", "::1", "IPv6 address goes in brackets"},
		{"bracketed non-IPv6", "[h]:9000", "not an IPv6 address"},
		{"scheme", "ftp://h", "not a host or an http(s) URL"},
		{"bad character", "h*st", "a host name holds only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("ENDPOINT", tc.endpoint)})
			requireConfigError(t, err, "endpoint", []string{tc.says, "allowed:"}, "s3cr3t-value")
		})
	}

	_, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("ENDPOINT", "http://al1ce:pa55@h/?sig=t0k")})
	requireConfigError(t, err, "endpoint", nil, "al1ce", "pa55", "t0k")
}

func TestLoad_GoodEndpointsStillWork(t *testing.T) {
	cases := map[string]Endpoint{
		"business.aliyuncs.com:443": {"https", "business.aliyuncs.com:443"},
		"[::1]:9000":                {"https", "[::1]:9000"},
		"http://[::1]:9000/":        {"http", "[::1]:9000"},
		"bssfake":                   {"https", "bssfake"},
	}
	for in, want := range cases {
		c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("ENDPOINT", in)})
		require.NoError(t, err, in)
		assert.Equal(t, want, c.Endpoint, in)
	}
}

func TestKeys_HelpStatesTheLimits(t *testing.T) {
	help := map[string]string{}
	for _, k := range Keys {
		help[k.Name] = k.Help
	}
	assert.Contains(t, help["v_target"], "1..65535")
	assert.Contains(t, help["v_target"], "never printed")
	assert.Contains(t, help["endpoint"], "without path, query or user")
	assert.Contains(t, help["catchup_days"], "0..540")
	assert.Contains(t, help["pull_hour"], "0..23")
}
