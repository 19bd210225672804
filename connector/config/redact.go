package config

import (
	"net/url"
	"strings"
)

// Placeholders that Redact and RedactString put in place of credentials.
const (
	RedactedUser     = "xxxxx"
	RedactedPassword = "xxxxx"
	RedactedValue    = "redacted"
)

// Redact returns u as text fit for logs and error messages: a user and a password become
// "xxxxx", every query value becomes "redacted" (the names stay, a part without "=" is
// redacted whole), a fragment becomes "redacted". Scheme, host, port and path are kept.
// u itself is not changed; nil gives "".
//
// url.URL.Redacted hides only the password; a receiver's URL may carry a token as a user
// name or in its query (?token=, ?access_token=, ?sig=), hence this function.
func Redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	if u.Opaque != "" {
		// "user:pass@host" parses as scheme "user": treat it as text.
		return RedactString(u.String())
	}
	r := *u
	if u.User != nil {
		if _, has := u.User.Password(); has {
			r.User = url.UserPassword(RedactedUser, RedactedPassword)
		} else {
			r.User = url.User(RedactedUser)
		}
	}
	r.RawQuery = redactQuery(u.RawQuery)
	if u.Fragment != "" || u.RawFragment != "" {
		r.Fragment, r.RawFragment = RedactedValue, ""
	}
	return r.String()
}

// RedactString is Redact for text that may not even parse as a URL (a bad v_target or
// endpoint being reported): a well-formed absolute URL goes through Redact; anything else
// loses everything up to its last "@" after the scheme, and its query values and fragment.
func RedactString(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Opaque == "" {
		return Redact(u)
	}
	head := ""
	if i := strings.Index(s, "://"); i >= 0 {
		head, s = s[:i+3], s[i+3:]
	}
	// Conservatively, the last "@" anywhere ends a user info: a password may hold '/', '?'
	// or '#' that a hand-written URL forgot to escape.
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		user := RedactedUser
		if strings.Contains(s[:at], ":") {
			user += ":" + RedactedPassword
		}
		s = user + s[at:]
	}
	frag := ""
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s, frag = s[:i], "#"+RedactedValue
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i+1] + redactQuery(s[i+1:])
	}
	return head + s + frag
}

// TargetRedacted is Redact(c.Target): v_target as it may be printed.
func (c *Config) TargetRedacted() string { return Redact(c.Target) }

// redactQuery keeps the names of a raw query, in their order and spelling, and replaces
// every value with "redacted". A part without "=" may itself be a token: it is replaced whole.
func redactQuery(q string) string {
	if q == "" {
		return ""
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		switch k, _, ok := strings.Cut(p, "="); {
		case ok:
			parts[i] = k + "=" + RedactedValue
		case p != "":
			parts[i] = RedactedValue
		}
	}
	return strings.Join(parts, "&")
}
