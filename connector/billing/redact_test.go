package billing

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactor_HidesEveryEncodingOfTheCredentials(t *testing.T) {
	const (
		id     = "LTAI5tQ9xZ8wY7vU6tS5r4"
		secret = "zX9/yW8+vU7=tS6*rQ5~pO4 nM3"
		token  = "CAIS+AF1q6Ft5B2yfSjI/r5bSEdX=="
	)
	r := newRedactor(id, secret, token)
	q, p := url.QueryEscape, url.PathEscape
	lowerHex := func(s string) string { return hexEscape.ReplaceAllStringFunc(s, strings.ToLower) }
	for _, v := range []string{secret, token} {
		for _, form := range []string{v, q(v), q(q(v)), p(v), p(p(v)), rpcEncode(v), rpcEncode(rpcEncode(v)), q(rpcEncode(v)),
			lowerHex(q(v)), lowerHex(q(q(v))), lowerHex(rpcEncode(rpcEncode(v)))} {
			got := r.clean("before "+form+" after", 1000)
			assert.Equal(t, "before [redacted] after", got, "form %q", form)
		}
	}
	assert.Equal(t, "key LTAI[redacted] and LTAI[redacted]", r.clean("key "+id+" and "+q(q(id)), 1000))
	assert.Equal(t, "[redacted]", newRedactor("short", "", "").clean("short", 100), "short IDs are hidden whole")
	assert.Equal(t, "nothing to hide", newRedactor("", "", "").clean("nothing to hide", 100))
}

func TestRedactor_HidesValuesAfterCredentialNames(t *testing.T) {
	r := newRedactor("", "", "")
	for in, want := range map[string]string{
		"AccessKeyId=LTAIsomebody&x":                 "AccessKeyId=LTAI[redacted]&x",
		"SecurityToken=abc%2Bdef%3D&Timestamp=1":     "SecurityToken=[redacted]&Timestamp=1",
		"SecurityToken%3Dabc%252Bdef%26Timestamp%3D": "SecurityToken%3D[redacted]%26Timestamp%3D",
		"Signature%253Dxyz%26":                       "Signature%253D[redacted]%26",
		`{"AccessKeySecret": "s3cr3t"}`:              `{"AccessKeySecret": "[redacted]"}`,
		"SignatureNonce=123 SignatureMethod=HMAC":    "SignatureNonce=123 SignatureMethod=HMAC",
		"x-acs-bearertoken BearerToken: tok123":      "x-acs-bearertoken BearerToken: [redacted]",
		"GET https://h.test/p?AccessKeyId=x&y=2 ok":  "GET https://h.test/p?[query hidden] ok",
	} {
		assert.Equal(t, want, r.clean(in, 1000), in)
	}
}

func TestClean_OneLineNoControlsBounded(t *testing.T) {
	r := newRedactor("", "", "")
	assert.Equal(t, "a b c d", r.clean("a\x1b[1;31m\tb\r\n\x1b]0;title\x07c\u202e \x00\x7f\u0085d\x1b(", 100))
	assert.Equal(t, "\uFFFDok", r.clean("\xffok", 100))
	assert.Equal(t, "ab...", r.clean("abcdef", 2))
	assert.Equal(t, "é...", r.clean("éé", 3), "cut on a character boundary")
}

func TestRedactor_HidesValuesAfterCredentialNamesAndWhiteSpace(t *testing.T) {
	r := newRedactor("", "", "")
	for in, want := range map[string]string{
		"SecurityToken CAIS9xQ2 is malformed":             "SecurityToken [redacted] is malformed",
		"SecurityToken\tCAIS9xQ2/abc== rejected":          "SecurityToken [redacted] rejected",
		"signature  Zm9vYmFy+/= does not match":           "signature [redacted] does not match",
		"AccessKeySecret abcDEF123 wrong":                 "AccessKeySecret [redacted] wrong",
		"AccessKeyId LTAI5tSomebodyElse not found":        "AccessKeyId LTAI[redacted] not found",
		"accesskeyid ABC is short":                        "accesskeyid ABC is short",
		"SecurityToken is expired.":                       "SecurityToken is expired.",
		"Specified signature is not matched with ours.":   "Specified signature is not matched with ours.",
		"x-acs-bearertoken BearerToken: tok123":           "x-acs-bearertoken BearerToken: [redacted]",
		"Signature SignatureNonce=5 Signature x9Y":        "Signature SignatureNonce=5 Signature [redacted]",
		"SignatureDoesNotMatch SignatureMethod HMAC-SHA1": "SignatureDoesNotMatch SignatureMethod HMAC-SHA1",
	} {
		assert.Equal(t, want, r.clean(in, 1000), in)
	}
}

func TestRedactor_HidesKnownValuesAlteredOrCutShort(t *testing.T) {
	const (
		id     = "LTAI5tQ9xZ8wY7vU6tS5r4"
		secret = "zX9/yW8+vU7=tS6*rQ5~pO4nM3abcdef"
		token  = "CAIS+AF1q6Ft5B2yfSjI/r5bSEdX+hrZJxaqtZ0T++0zM/a+tmoZTHqjz2==+"
	)
	r := newRedactor(id, secret, token)
	spaced := func(v string) string { return strings.ReplaceAll(v, "+", " ") }
	for _, tc := range []struct{ name, in, want string }{
		{"token, '+' as ' '", "SecurityToken " + spaced(token) + " is malformed", "SecurityToken [redacted] is malformed"},
		{"secret, '+' as ' '", "got " + spaced(secret) + " here", "got [redacted] here"},
		{"token cut to 16", "token " + token[:16] + "... rejected", "token [redacted]... rejected"},
		{"token cut to 40", "token '" + token[:40] + "'", "token '[redacted]'"},
		{"token '+' as ' ', cut", "t=" + spaced(token)[:30] + ".", "t=[redacted]."},
		{"token encoded, cut", "q " + url.QueryEscape(token)[:20] + " end", "q [redacted] end"},
		{"secret cut to 16", "s " + secret[:16] + " x", "s [redacted] x"},
		{"id cut to 16", "id " + id[:16] + " x", "id LTAI[redacted] x"},
		{"two in a row", token[:20] + secret, "[redacted][redacted]"},
		{"twice", token + " and " + token[:18], "[redacted] and [redacted]"},
		{"15 characters are not the token", "CAIS AF1q6Ft5B2 is a prefix of 15", "CAIS AF1q6Ft5B2 is a prefix of 15"},
	} {
		assert.Equal(t, tc.want, r.clean(tc.in, 1000), tc.name)
	}
}
