package sender

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// minSecret is the length below which a bare value of v_target (a user name, a password, a
// query value on its own) is not replaced in free text: replacing "a" or "on" everywhere
// would garble messages. Short credentials are still scrubbed wherever they appear in a
// URL (any scheme://user:pass@host/path?query in the text, see scrubURLs), and as
// "user:pass@" and "key=value".
const minSecret = 4

// redactor keeps v_target's credentials (its userinfo and its query) out of errors and
// logs. Errors are built from redacted URLs in the first place (redactURL); scrub is the
// safety net for text the sender does not compose itself (Go's and the SDK's errors,
// which quote URLs: a Location header, a *url.Error).
type redactor struct {
	secrets []string // longest first
}

// newRedactor keeps target's credentials out of messages, and the other secrets (a
// broker's password) given.
func newRedactor(target *url.URL, others ...string) redactor {
	var s []string
	for _, o := range others {
		if o != "" {
			s = append(s, o, url.QueryEscape(o))
		}
	}
	if target == nil {
		target = &url.URL{}
	}
	if u := target.User; u != nil {
		s = append(s, u.String()+"@", u.String(), u.Username(), url.QueryEscape(u.Username()))
		if p, ok := u.Password(); ok {
			s = append(s, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	if target.RawQuery != "" {
		s = append(s, target.RawQuery)
		for k, vs := range target.Query() {
			for _, v := range vs {
				s = append(s, k+"="+v, url.QueryEscape(k)+"="+url.QueryEscape(v), v, url.QueryEscape(v))
			}
		}
	}
	var keep []string
	seen := map[string]bool{}
	for _, x := range s {
		if len(x) >= minSecret && !seen[x] {
			seen[x] = true
			keep = append(keep, x)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return len(keep[i]) > len(keep[j]) })
	return redactor{secrets: keep}
}

// scrub redacts every URL in s (scrubURLs), then replaces every credential of v_target
// left in s with "***".
func (r redactor) scrub(s string) string {
	s = scrubURLs(s)
	for _, x := range r.secrets {
		s = strings.ReplaceAll(s, x, "***")
	}
	return s
}

// url renders a URL found in an error (a *url.Error's, which Go writes with the user
// name and the query in clear) the way redactURL does.
func (r redactor) url(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return r.scrub(redactURL(u))
}

// redactURL renders u without its userinfo and query, keeping the trace that they were
// there: "https://***@host:8080/path?***". The fragment is dropped.
func redactURL(u *url.URL) string {
	var b strings.Builder
	if u.Scheme != "" {
		b.WriteString(u.Scheme)
		b.WriteString("://")
	}
	if u.User != nil {
		b.WriteString("***@")
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?***")
	}
	return b.String()
}

// urlInText is a URL with a scheme in free text, up to a space, a quote or an angle
// bracket. Go quotes URLs with %q: a backslash escape (\" in a query) is part of the URL.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s"'<>\x60\\]|\\\S)*`)

// scrubURLs rewrites every URL in s as redactURL would, without parsing it (the URL may
// be one Go refused to parse): its userinfo, however short, becomes "***@", its query
// "?***", and its fragment is dropped.
func scrubURLs(s string) string {
	return urlInText.ReplaceAllStringFunc(s, func(u string) string {
		i := strings.Index(u, "://") + len("://")
		scheme, rest := u[:i], u[i:]
		end := strings.IndexAny(rest, "/?#") // the authority ends there
		if end < 0 {
			end = len(rest)
		}
		host, tail := rest[:end], rest[end:]
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = "***@" + host[at+1:]
		}
		if q := strings.IndexAny(tail, "?#"); q >= 0 {
			query := tail[q] == '?'
			tail = tail[:q]
			if query {
				tail += "?***"
			}
		}
		return scheme + host + tail
	})
}
