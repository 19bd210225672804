package sender

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrub takes the userinfo and the query out of every URL in free text, however short,
// and v_target's longer credentials wherever they are; it leaves short bare words alone.
func TestRedactor_Scrub(t *testing.T) {
	target, err := url.Parse("https://al:pw@receiver.example:8443/in?t=k1&token=t0k3n-5ecret")
	require.NoError(t, err)
	r := newRedactor(target)
	for _, tc := range []struct{ in, want string }{
		// URLs in the text, whatever their credentials.
		{`Post "https://al:pw@receiver.example:8443/in?t=k1": EOF`, `Post "https://***@receiver.example:8443/in?***": EOF`},
		{`Location "http://a:b@x/%zz?q=1#frag" refused`, `Location "http://***@x/%zz?***" refused`},
		{`see http://u@h and ftp://h2/p?x`, `see http://***@h and ftp://h2/p?***`},
		{`socks5://user:p@proxy:1080`, `socks5://***@proxy:1080`},
		{`"http://h/a?b=\"c\"&d=e"`, `"http://h/a?***"`},
		{`already redacted: "https://***@h/in?***"`, `already redacted: "https://***@h/in?***"`},
		// v_target's credentials outside a URL: the long ones, and short ones as user:pass@ and key=value.
		{`token t0k3n-5ecret in a header`, `token *** in a header`},
		{`auth al:pw@ and t=k1 failed`, `auth *** and *** failed`},
		// Short bare values stay: "al" and "pw" are everywhere.
		{`invalid parameter: always pwned`, `invalid parameter: always pwned`},
		{`x509: certificate is valid for 192.0.2.1, not 127.0.0.1`, `x509: certificate is valid for 192.0.2.1, not 127.0.0.1`},
	} {
		assert.Equal(t, tc.want, r.scrub(tc.in), tc.in)
	}
}
