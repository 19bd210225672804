package bill

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
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
		if w, clash := caseClash([]byte(name), want); clash {
			return nil, fmt.Errorf("has a member %q where the API writes %q", clipName(name), w)
		}
		m[name] = raw[i:end]
		i = end
	}
}

// caseClash is the name of want that name spells but for case (strings.EqualFold), if
// one does.
func caseClash(name []byte, want []string) (string, bool) {
	ascii := true
	for _, c := range name {
		ascii = ascii && c < utf8.RuneSelf
	}
	for _, w := range want {
		// Names of ASCII only fold to names of as many bytes: most need no EqualFold.
		if ascii && len(w) != len(name) || string(name) == w {
			continue
		}
		if strings.EqualFold(string(name), w) {
			return w, true
		}
	}
	return "", false
}

// errManyMembers says that an object has more members than membersInto reads.
var errManyMembers = errors.New("has too many members to read them into a list")

// membersInto is MembersOfChecked for an object with at most MaxInstanceFields members
// (errManyMembers otherwise), without a map: vals[k] is the value of the member want[k],
// nil when raw has none. It refuses what MembersOfChecked refuses, with its messages.
func membersInto(raw []byte, want []string, vals [][]byte) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return errors.New("is not a JSON object")
	}
	var seen nameSet
	for i++; ; {
		if i = skipSpace(raw, i); i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		if i >= len(raw) || raw[i] == '}' {
			return nil
		}
		keyEnd := endOfString(raw, i)
		name := nameOf(raw[i:keyEnd])
		i = skipSpace(raw, skipSpace(raw, keyEnd)+1) // past the colon
		end := endOfValue(raw, i)
		switch w, clash := caseClash(name, want); {
		case seen.has(name):
			return fmt.Errorf("has the member %q twice", clipName(string(name)))
		case clash:
			return fmt.Errorf("has a member %q where the API writes %q", clipName(string(name)), w)
		case seen.n >= len(seen.names):
			return errManyMembers
		}
		seen.add(name)
		for k, w := range want {
			if string(name) == w {
				vals[k] = raw[i:end]
			}
		}
		i = end
	}
}

// nameSet is the names of the members of one object seen so far, at most
// MaxInstanceFields: a hash table that lives on the stack of the object's read (a map
// allocated its table and a string per name, every item). Hashes are seeded per
// process: names the API's answer chooses cannot make them collide on purpose.
type nameSet struct {
	names [MaxInstanceFields][]byte
	slots [2 * MaxInstanceFields]uint16 // index+1 in names, 0 for a free slot
	n     int
}

var nameSeed = maphash.MakeSeed()

// slot is where name is in s, or the free slot where it goes.
func (s *nameSet) slot(name []byte) int {
	k := int(maphash.Bytes(nameSeed, name) % uint64(len(s.slots)))
	for s.slots[k] != 0 && !bytes.Equal(s.names[s.slots[k]-1], name) {
		k = (k + 1) % len(s.slots)
	}
	return k
}

func (s *nameSet) has(name []byte) bool { return s.slots[s.slot(name)] != 0 }

// add adds name, not in s, when s has room (checkMember refuses a member past it,
// membersInto hands such an object to MembersOfChecked).
func (s *nameSet) add(name []byte) {
	if s.n < len(s.names) {
		s.names[s.n] = name
		s.n++
		s.slots[s.slot(name)] = uint16(s.n)
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
