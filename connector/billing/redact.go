package billing

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// Bounds on the API's text in errors and logs: enough for any message the API documents,
// short enough that a hostile or broken endpoint cannot fill a terminal or a log line.
const (
	maxMessage = 300
	maxCode    = 80
	maxID      = 80
)

// keptIDPrefix is how much of the AccessKey ID stays readable in redacted text: its first
// 4 characters, which name the kind of key ("LTAI" for a RAM user's key, "STS." for a
// temporary one) but not the key. IDs of 8 characters or fewer are hidden whole.
const keptIDPrefix = 4

const redacted = "[redacted]"

// redactor cleans text that came from the API or the SDK before it reaches an error or a
// log: it hides the connector's credentials and anything shaped like one, and strips
// what a terminal would interpret.
//
// Known values (the AccessKey ID, the secret, the STS token) are replaced as they are,
// percent-encoded once and twice (the API's SignatureDoesNotMatch message quotes the
// string it signed, whose values are encoded twice), with any of the encoders in use
// (query, path and the RPC signature's RFC 3986 encoding) and hex digits in either case,
// with '+' turned into ' ' (a query decoded that was never encoded), and cut short: any
// prefix of minKnownPrefix characters or more of one of these forms is hidden.
// Values after the keys AccessKeyId, AccessKeySecret, SecurityToken, BearerToken and
// Signature (joined by "=", ":", "%3D", "%253D" or white space) are hidden too, whoever's
// they are, and URL queries are dropped.
type redactor struct {
	mu      sync.RWMutex
	base    []knownForm   // the configured credentials' forms
	learned [][]knownForm // temporary credentials the providers issued, the newest last
	known   []knownForm   // base and learned, longest first
}

// knownForm is one form of a known credential and what replaces it.
type knownForm struct{ text, repl string }

// minKnownPrefix is the shortest prefix of a known credential's form that is hidden as the
// credential (an API that quotes a value cut short): long enough that ordinary text never
// matches by chance, short enough that what is left shows too little to be of use.
const minKnownPrefix = 16

// maxLearned is how many temporary credentials (STS, ECS role, OIDC) the redactor keeps
// knowing: a refresh replaces one every hour or so, and an error may quote the one before.
const maxLearned = 8

func newRedactor(id, secret, token string) *redactor {
	r := &redactor{base: forms(id, secret, token)}
	r.rebuild()
	return r
}

// learn adds a temporary credential (issued by STS or the metadata service) to what is hidden.
func (r *redactor) learn(id, secret, token string) {
	f := forms(id, secret, token)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.learned = append(r.learned, f)
	if len(r.learned) > maxLearned {
		r.learned = r.learned[1:]
	}
	r.rebuild()
}

// learnNew learns cc unless its AccessKey ID is *last (the credential handed out before,
// already learned), and makes it *last.
func (r *redactor) learnNew(last *string, cc *credentials.Credentials) {
	if cc == nil || cc.AccessKeyId == *last {
		return
	}
	r.learn(cc.AccessKeyId, cc.AccessKeySecret, cc.SecurityToken)
	*last = cc.AccessKeyId
}

// learnSecret adds a configured value that is not a key but must not show (external_id).
func (r *redactor) learnSecret(v string) {
	if v != "" {
		r.learn("", v, "")
	}
}

// rebuild makes known from base and learned; r.mu is held (or r not yet shared).
func (r *redactor) rebuild() {
	known := append([]knownForm(nil), r.base...)
	for _, l := range r.learned {
		known = append(known, l...)
	}
	// Longest first: where two forms match at a position, the longest (the encoded one) wins.
	sort.SliceStable(known, func(i, j int) bool { return len(known[i].text) > len(known[j].text) })
	r.known = known
}

func forms(id, secret, token string) []knownForm {
	var known []knownForm
	add := func(v, repl string) {
		if v == "" {
			return
		}
		for _, e := range encodings(v) {
			known = append(known, knownForm{e, repl})
		}
	}
	add(secret, redacted)
	add(token, redacted)
	idRepl := redacted
	if len(id) > 2*keptIDPrefix {
		idRepl = id[:keptIDPrefix] + redacted
	}
	add(id, idRepl)
	return known
}

// encodings are the forms v may take in the API's text, as clean sees it (made safe).
func encodings(v string) []string {
	encoders := []func(string) string{url.QueryEscape, url.PathEscape, rpcEncode}
	set := map[string]bool{}
	for _, base := range []string{v, textsafe.Line(v, textsafe.NoLimit), textsafe.Line(strings.ReplaceAll(v, "+", " "), textsafe.NoLimit)} {
		if base == "" {
			continue
		}
		set[base] = true
		for _, e1 := range encoders {
			once := e1(base)
			set[once] = true
			for _, e2 := range encoders {
				set[e2(once)] = true
			}
		}
	}
	for s := range set {
		set[hexEscape.ReplaceAllStringFunc(s, strings.ToLower)] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out) // deterministic
	return out
}

var hexEscape = regexp.MustCompile(`%[0-9A-F]{2}`)

// rpcEncode is the percent-encoding of the RPC signature (RFC 3986: space as %20, ~ kept).
func rpcEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

var (
	// keyed finds a credential's value after its name. A value runs over base64 and
	// token characters and percent-escapes, and ends at "&" or its encoding "%26" (or
	// white space).
	keyed = regexp.MustCompile(`(?i)(AccessKeyId|AccessKeySecret|SecurityToken|BearerToken|Signature|access_key_secret|access_key_id|secret_access_key|security_token|sts_token|external_id)` +
		`("?\s*[=:]\s*"?|%(?:25)*3D|\s+)` +
		`((?:[A-Za-z0-9+/=._~-]|%(?:25)*(?:[013-9A-Fa-f][0-9A-Fa-f]|2[0-57-9A-Fa-f]))+)`)
	// plainWord is a value after a key and white space that is a word of the message, not
	// a credential: a few lower-case letters, which no key, secret, token or signature is.
	plainWord = regexp.MustCompile(`^[a-z]{1,12}$`)
	// keyName is a value that is itself a key.
	keyName = regexp.MustCompile(`(?i)^(AccessKeyId|AccessKeySecret|SecurityToken|BearerToken|Signature|access_key_secret|access_key_id|secret_access_key|security_token|sts_token|external_id)`)
	// urlQuery is the query of a URL in text.
	urlQuery = regexp.MustCompile(`(?i)(\bhttps?://[^\s?#"'<>]+)\?[^\s"'<>]*`)
)

// clean makes s safe for an error or a log line (textsafe.Line: one line without control
// characters or escape sequences, at most max bytes) without credentials.
func (r *redactor) clean(s string, max int) string {
	s = textsafe.Line(s, textsafe.NoLimit) // first: a control character inside a secret must not hide it
	s = r.hideKnown(s)
	s = hideKeyed(s)
	s = urlQuery.ReplaceAllString(s, "$1?[query hidden]")
	return textsafe.Line(s, max) // last: never cut a secret before it is hidden
}

// hideKeyed hides the values keyed finds. A value after white space is kept when it is
// a word of the message ("SecurityToken is expired", "signature does not match") or
// another key ("x-acs-bearertoken BearerToken: v"), and the search goes on after the key.
func hideKeyed(s string) string {
	var b strings.Builder
	last := 0
	for pos := 0; pos < len(s); {
		m := keyed.FindStringSubmatchIndex(s[pos:])
		if m == nil {
			break
		}
		key, sep, val := s[pos+m[2]:pos+m[3]], s[pos+m[4]:pos+m[5]], s[pos+m[6]:pos+m[7]]
		if strings.TrimSpace(sep) == "" && (plainWord.MatchString(val) || keyName.MatchString(val)) {
			pos += m[3]
			continue
		}
		b.WriteString(s[last : pos+m[0]])
		b.WriteString(key + sep)
		switch {
		case !strings.EqualFold(key, "AccessKeyId"):
			b.WriteString(redacted)
		case len(val) <= keptIDPrefix:
			b.WriteString(val)
		default:
			b.WriteString(val[:keptIDPrefix] + redacted)
		}
		last = pos + m[1]
		pos = last
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// hideKnown replaces every known form, and every prefix of one of minKnownPrefix
// characters or more, by its replacement. Overlapping matches are hidden as one.
func (r *redactor) hideKnown(s string) string {
	type span struct {
		start, end int
		repl       string
	}
	var spans []span
	r.mu.RLock()
	known := r.known
	r.mu.RUnlock()
	for _, f := range known {
		anchor := f.text[:min(len(f.text), minKnownPrefix)]
		for i := 0; i < len(s); {
			j := strings.Index(s[i:], anchor)
			if j < 0 {
				break
			}
			start := i + j
			n := len(anchor)
			for n < len(f.text) && start+n < len(s) && s[start+n] == f.text[n] {
				n++
			}
			spans = append(spans, span{start, start + n, f.repl})
			i = start + 1
		}
	}
	if len(spans) == 0 {
		return s
	}
	// By start, the longest first (and of equal ones the longer form's, by r.known's order).
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].end > spans[j].end
	})
	var b strings.Builder
	last := 0
	for k := 0; k < len(spans); {
		sp := spans[k]
		end := sp.end
		for k++; k < len(spans) && spans[k].start < end; k++ {
			end = max(end, spans[k].end)
		}
		b.WriteString(s[last:sp.start])
		b.WriteString(sp.repl)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}
