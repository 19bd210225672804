package sender_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/sender"
)

// The receiver's credentials in v_target.
const (
	user     = "alice-7f3k"
	password = "pa55-w0rd-9"
	token    = "t0k3n-5ecret"
)

var secrets = []string{user, password, token, url.QueryEscape(password)}

// withCredentials is base (http://host:port) with userinfo and a query holding a token.
func withCredentials(base string) string {
	u, _ := url.Parse(base)
	u.User = url.UserPassword(user, password)
	u.Path = "/in"
	u.RawQuery = url.Values{"token": {token}, "v": {"1"}}.Encode()
	return u.String()
}

// No error Send returns, nor anything they wrap, nor the sender's logs (debug included)
// hold v_target's userinfo or query: Go's *url.Error writes both ("Post
// \"http://alice-7f3k:***@host/in?token=...\"").
func TestSend_TargetCredentialsAreNeverInErrorsOrLogs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (target string, o options)
		want  string // a part of the first failure's message, with the redacted URL where there is one
	}{
		{"nobody listens", func(t *testing.T) (string, options) {
			k := startSink(t)
			k.Close()
			return withCredentials(k.URL()), options{policy: fast}
		}, `undelivered: Post "http://***@127.0.0.1:`},
		{"connection dropped", func(t *testing.T) (string, options) {
			k := startSink(t)
			k.DropNext(1 << 30)
			return withCredentials(k.URL()), options{policy: fast}
		}, `/in?***": EOF`},
		{"timeout", func(t *testing.T) (string, options) {
			k := startSink(t)
			k.DelayNext(1<<30, time.Minute)
			pol := fast
			pol.Attempts, pol.Timeout = 1, 50*time.Millisecond
			return withCredentials(k.URL()), options{policy: pol}
		}, `/in?***": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
		{"503", func(t *testing.T) (string, options) {
			k := startSink(t)
			k.FailNext(1<<30, 503)
			return withCredentials(k.URL()), options{policy: fast}
		}, "receiver unavailable: gave up after 5 attempts: receiver answered HTTP 503"},
		{"outage budget", func(t *testing.T) (string, options) {
			k := startSink(t)
			k.DropNext(1 << 30)
			fc := clockwork.NewFakeClock()
			t.Cleanup(pump(fc, time.Second, concurrency))
			// Events never run out of attempts here: every one ends by the outage budget,
			// whatever the order in which the sends fail (the pump needs every worker waiting).
			pol := outage
			pol.Attempts = 1000
			return withCredentials(k.URL()), options{policy: pol, clock: fc}
		}, `receiver unavailable: no delivery for 1m0s`},
		{"301 to the same credentials", func(t *testing.T) (string, options) {
			k := startSink(t)
			k.RedirectNext(1<<30, http.StatusMovedPermanently, strings.Replace(withCredentials(k.URL()), "/in", "/new", 1))
			return withCredentials(k.URL()), options{policy: fast}
		}, "receiver answered HTTP 301 redirect to http://***@127.0.0.1:"},
		{"307 loop", func(t *testing.T) (string, options) {
			k := startSink(t)
			k.RedirectNext(1<<30, http.StatusTemporaryRedirect, withCredentials(k.URL()))
			return withCredentials(k.URL()), options{policy: fast}
		}, "/in?***); set v_target to the receiver's final URL"},
		{"untrusted certificate", func(t *testing.T) (string, options) {
			_, ts, _ := tlsSink(t, nil)
			return withCredentials(ts.URL), options{policy: fast}
		}, "the receiver's TLS certificate is not trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, o := tc.setup(t)
			var logs logBuffer
			o.log = &logs
			failures := build(t, target, o).Send(guard(t), events(concurrency+2), nil)
			require.Len(t, failures, concurrency+2)
			var found error
			for _, f := range failures {
				if strings.Contains(f.Err.Error(), tc.want) {
					found = f.Err
				}
			}
			require.NotNil(t, found, "no failure says %q; the first: %v", tc.want, failures[0].Err)
			for _, f := range failures {
				for _, text := range texts(f.Err) {
					for _, s := range secrets {
						require.NotContains(t, text, s)
					}
				}
			}
			for _, s := range secrets {
				assert.NotContains(t, logs.String(), s)
			}
			t.Logf("%v", found)
		})
	}
}

// A redirect whose Location Go cannot parse fails at once as an ErrRedirect *ConfigError,
// and the Location Go's error quotes (twice) loses its userinfo and query: v_target's
// credentials come back there when the receiver echoes them, however short they are.
func TestSend_UnparsableLocationIsARedirectErrorWithoutCredentials(t *testing.T) {
	for _, tc := range []struct {
		name     string
		userinfo string // v_target's
		query    string // v_target's
		location string // answered with a 307
		secrets  []string
		want     string
	}{
		{"the review's case", "alice:p4ss", "token=tok3n", "http://x/%zz?token=tok3n", []string{"alice", "p4ss", "tok3n"},
			`receiver answered a redirect that cannot be followed: failed to parse Location header "http://x/%zz?***": ` +
				`parse "http://x/%zz?***": invalid URL escape "%zz"; set v_target to the receiver's URL`},
		{"short credentials", "al:pw", "t=k1", "http://al:pw@x/%zz?t=k1#pw", []string{"al:pw", ":pw", "t=k1", "k1"},
			`receiver answered a redirect that cannot be followed: failed to parse Location header "http://***@x/%zz?***": ` +
				`parse "http://***@x/%zz?***": invalid URL escape "%zz"; set v_target to the receiver's URL`},
		{"another origin's credentials", "alice:p4ss", "token=tok3n", "https://bob:s3@other.example/%zz?sig=abc", []string{"bob", "s3@", "abc"},
			`receiver answered a redirect that cannot be followed: failed to parse Location header "https://***@other.example/%zz?***"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := startSink(t)
			k.RedirectNext(1<<30, http.StatusTemporaryRedirect, tc.location)
			target := strings.Replace(k.URL(), "http://", "http://"+tc.userinfo+"@", 1) + "/p?" + tc.query
			var logs logBuffer
			failures := build(t, target, options{policy: outage, clock: clockwork.NewFakeClock(), log: &logs}).
				Send(guard(t), events(20), nil)

			require.Len(t, failures, 20)
			requireAll(t, failures, sender.ErrRedirect)
			assert.True(t, strings.HasPrefix(failures[0].Err.Error(), tc.want), failures[0].Err.Error())
			assert.LessOrEqual(t, k.Attempts(), concurrency, "retried")
			for _, f := range failures {
				for _, text := range texts(f.Err) {
					for _, s := range tc.secrets {
						require.NotContains(t, text, s)
					}
				}
			}
			for _, s := range tc.secrets {
				assert.NotContains(t, logs.String(), s)
			}
		})
	}
}
