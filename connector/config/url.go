package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

const (
	targetAllowed   = `allowed: an absolute http:// or https:// URL with a host and an optional port 1..65535, e.g. "http://localhost:8081"; nats://host:port/SUBJECT, tls://host:port/SUBJECT; kafka://host:port[,host:port...]/TOPIC`
	endpointAllowed = `allowed: a host such as "business.aliyuncs.com" (reached over https), host:port with a port 1..65535, or an http(s)://host[:port] URL without a path, query, fragment or user`
)

// parseTarget validates v_target. Its messages show the value through RedactString: a
// receiver's URL may carry a password or a token.
func parseTarget(s string) (*url.URL, error) {
	bad := func(problem string) error {
		return &Error{Key: "v_target", Problem: fmt.Sprintf("%q %s; %s", RedactString(s), problem, targetAllowed)}
	}
	if hasSpaceOrControl(s) {
		return nil, bad("contains white space or a control character")
	}
	if len(s) > len("kafka://") && strings.EqualFold(s[:len("kafka://")], "kafka://") {
		u, _, _, err := parseKafkaTarget(s)
		return u, err
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, bad("is not a valid URL" + parseProblem(err))
	}
	if u.Scheme == "nats" || u.Scheme == "tls" {
		_, err := parseNATSTarget(s, u)
		return u, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" {
		return nil, bad("is not an absolute http://, https://, nats://, tls:// or kafka:// URL")
	}
	if problem := authorityProblem(u); problem != "" {
		return nil, bad(problem)
	}
	return u, nil
}

// parseEndpoint validates endpoint: a bare host[:port] (https) or a full http(s) URL.
func parseEndpoint(s string) (Endpoint, error) {
	if s == "" {
		return Endpoint{Scheme: "https", Host: DefaultEndpoint}, nil
	}
	bad := func(problem string) error {
		return &Error{Key: "endpoint", Problem: fmt.Sprintf("%q %s; %s", RedactString(s), problem, endpointAllowed)}
	}
	if hasSpaceOrControl(s) {
		return Endpoint{}, bad("contains white space or a control character")
	}
	bare := !strings.Contains(s, "://")
	full := s
	if bare {
		if strings.ContainsAny(s, "/?#@") {
			return Endpoint{}, bad("is neither a host name nor a full URL")
		}
		if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			return Endpoint{}, bad("is not a host name (an IPv6 address goes in brackets: [::1]:9000)")
		}
		full = "https://" + s
	}
	u, err := url.Parse(full)
	if err != nil {
		return Endpoint{}, bad("is not a valid host or URL" + parseProblem(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https", u.Opaque != "":
		return Endpoint{}, bad("is not a host or an http(s) URL")
	case u.User != nil:
		return Endpoint{}, bad("carries a user or password, which the API does not use")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return Endpoint{}, bad("is not a host or an http(s) URL without a path, query or fragment")
	}
	if problem := authorityProblem(u); problem != "" {
		return Endpoint{}, bad(problem)
	}
	return Endpoint{Scheme: u.Scheme, Host: u.Host}, nil
}

// authorityProblem checks the host and port of a parsed URL; "" means they are fine.
func authorityProblem(u *url.URL) string {
	host := u.Hostname()
	if host == "" {
		return "has no host"
	}
	if strings.HasSuffix(u.Host, ":") {
		return "has a ':' but no port after it"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || strings.Trim(p, "0123456789") != "" {
			return fmt.Sprintf("has port %q, not a whole number from 1 to 65535", p)
		}
	}
	if strings.HasPrefix(u.Host, "[") {
		return "" // url.Parse has checked that an IPv6 address is in the brackets
	}
	if !validHostName(host) {
		return fmt.Sprintf("has host %q; a host name holds only letters, digits, '-', '.' and '_' (an IPv6 address goes in brackets)", host)
	}
	return ""
}

// validHostName accepts DNS names, IPv4 addresses, names with '_' (container networks use
// them) and internationalised names written in Unicode.
func validHostName(h string) bool {
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		case r >= 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
		default:
			return false
		}
	}
	return true
}

func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}

// parseProblem says why url.Parse failed without repeating the input, which net/url quotes
// whole (password and query included).
func parseProblem(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return ""
	}
	var he url.InvalidHostError
	if errors.As(ue.Err, &he) {
		return ": " + he.Error()
	}
	switch msg := ue.Err.Error(); {
	case strings.HasPrefix(msg, "invalid port"):
		return ": invalid port"
	case strings.HasPrefix(msg, "invalid host"), strings.HasPrefix(msg, "invalid IP-literal"):
		return ": what is in brackets is not an IPv6 address"
	}
	return ""
}
