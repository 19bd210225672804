package bill

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Members reads a JSON object's members as slices of raw (no copy), by their exact names.
// It refuses what encoding/json would read silently one way while another reader reads it
// another: raw that is not one valid JSON object, a member given twice (encoding/json keeps
// the last: `"PretaxAmount":"1,5","PretaxAmount":7` would be 7), text that is not valid
// UTF-8 or holds an escaped lone surrogate (read as U+FFFD: two names, one identity), and a
// member named like one of want but for case (the SDK matches names exactly: a
// `pretaxAmount` is not the PretaxAmount it looks like). The error names the member.
func Members(raw []byte, want ...string) (map[string][]byte, error) {
	if err := checkText(raw); err != nil {
		return nil, err
	}
	return MembersOfChecked(raw, want...)
}

// MembersOfChecked is Members for raw that is a value inside a document Members (or
// checkText) has already checked whole: the text is not checked again, the members are
// (given twice, named but for case).
func MembersOfChecked(raw []byte, want ...string) (map[string][]byte, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, errors.New("is not a JSON object")
	}
	m := make(map[string][]byte, 32)
	for i++; ; {
		i = skipSpace(raw, i)
		if raw[i] == '}' {
			return m, nil
		}
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		keyEnd := endOfString(raw, i)
		name := unquote(raw[i:keyEnd])
		i = skipSpace(raw, skipSpace(raw, keyEnd)+1) // past the colon
		end := endOfValue(raw, i)
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("has the member %q twice", clipName(name))
		}
		for _, w := range want {
			if name != w && strings.EqualFold(name, w) {
				return nil, fmt.Errorf("has a member %q where the API writes %q", clipName(name), w)
			}
		}
		m[name] = raw[i:end]
		i = end
	}
}

// checkText refuses JSON that is not valid, not valid UTF-8, or escapes a lone surrogate.
func checkText(raw []byte) error {
	switch {
	case !json.Valid(raw):
		return errors.New("is not valid JSON")
	case !utf8.Valid(raw):
		return errors.New("is not valid UTF-8")
	}
	for i := 0; i+5 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // an escape of one character (\\, \", \n, ...)
			continue
		}
		switch hex := strings.ToLower(string(raw[i+2 : i+6])); {
		case hex >= "d800" && hex <= "dbff": // a high surrogate: a low one must follow
			if i+11 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' ||
				!(strings.ToLower(string(raw[i+8:i+12])) >= "dc00" && strings.ToLower(string(raw[i+8:i+12])) <= "dfff") {
				return errors.New("escapes a lone surrogate (not valid UTF-16)")
			}
			i += 11
		case hex >= "dc00" && hex <= "dfff":
			return errors.New("escapes a lone surrogate (not valid UTF-16)")
		default:
			i += 5
		}
	}
	return nil
}

// clipName cuts a member name for a message.
func clipName(s string) string {
	if len(s) > MaxFieldName {
		s = s[:MaxFieldName]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return s + "..."
	}
	return s
}
