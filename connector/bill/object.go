package bill

import (
	"bytes"
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

// ListOfChecked is the values of a JSON array inside a document Members (or checkText)
// has already checked whole, as slices of raw (no copy), without the white space around
// them: what encoding/json would hand each element's json.Unmarshaler, found without
// checking the text again. raw that is not an array is an error.
func ListOfChecked(raw []byte) ([][]byte, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, errors.New("is not a JSON array")
	}
	var list [][]byte
	for i++; ; {
		if i = skipSpace(raw, i); i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		if i >= len(raw) { // only text that was not checked ends here
			return nil, errors.New("is not a JSON array")
		}
		if raw[i] == ']' {
			return list, nil
		}
		end := endOfValue(raw, i)
		list = append(list, raw[i:end])
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
	// raw is valid JSON: a backslash outside a string is not, and every \u has 4 hex digits.
	for i := 0; ; {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 || i+j+5 >= len(raw) {
			return nil
		}
		i += j
		if raw[i+1] != 'u' {
			i += 2 // an escape of one character (\\, \", \n, ...)
			continue
		}
		switch u := hex4(raw[i+2:]); {
		case u >= 0xd800 && u <= 0xdbff: // a high surrogate: a low one must follow
			if i+11 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' || !isLowSurrogate(hex4(raw[i+8:])) {
				return errors.New("escapes a lone surrogate (not valid UTF-16)")
			}
			i += 12
		case isLowSurrogate(u):
			return errors.New("escapes a lone surrogate (not valid UTF-16)")
		default:
			i += 6
		}
	}
}

func isLowSurrogate(u int) bool { return u >= 0xdc00 && u <= 0xdfff }

// hex4 is the value of the 4 hex digits b starts with; -1 when they are not hex digits.
func hex4(b []byte) int {
	u := 0
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		u = u<<4 | int(c)
	}
	return u
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
