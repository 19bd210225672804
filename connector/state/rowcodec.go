package state

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// A row's record is the JSON of stored, as encoding/json writes it:
//
//	{"h":"…","id":"…","rev":N,"ok":B[,"p":N][,"r":true][,"k":"…"]}
//
// Every plan and every acknowledgement reads and writes records, so the common form (its
// strings plain ASCII: hex hashes, UUIDs, identities without escapes) is written and read
// here directly; anything else (escapes, other spacing or order: a file written or edited
// otherwise) goes through encoding/json, which also names what is wrong. Both paths give
// the same bytes and the same rows (rowcodec_test.go checks them against encoding/json).

// marshalStored is json.Marshal(st).
func marshalStored(st stored) ([]byte, error) {
	if !plain(st.Hash) || !plain(st.ID) || (st.Identity != nil && !plain(*st.Identity)) {
		return json.Marshal(st)
	}
	size := 80 + len(st.Hash) + len(st.ID) // the names, the numbers, the punctuation
	if st.Identity != nil {
		size += len(*st.Identity)
	}
	b := make([]byte, 0, size)
	b = append(append(append(b, `{"h":"`...), st.Hash...), `","id":"`...)
	b = append(append(b, st.ID...), `","rev":`...)
	b = append(strconv.AppendInt(b, int64(st.Revision), 10), `,"ok":`...)
	b = strconv.AppendBool(b, st.Delivered)
	if st.Pull != 0 {
		b = strconv.AppendInt(append(b, `,"p":`...), int64(st.Pull), 10)
	}
	if st.Retracted {
		b = append(b, `,"r":true`...)
	}
	if st.Identity != nil {
		b = append(append(append(b, `,"k":"`...), *st.Identity...), '"')
	}
	return append(b, '}'), nil
}

// plain: encoding/json writes s as it is, between quotes (printable ASCII, none of the
// characters it escapes).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// unmarshalStored is json.Unmarshal(v, &st).
func unmarshalStored(v []byte) (stored, error) {
	if st, ok := readCompact(v); ok {
		return st, nil
	}
	var st stored
	err := json.Unmarshal(v, &st)
	return st, err
}

// readCompact reads v when it is exactly in the form marshalStored writes with plain
// strings; ok is false for anything else.
func readCompact(v []byte) (st stored, ok bool) {
	c := cursor{b: v}
	okAll := c.lit(`{"h":`) && c.str(&st.Hash) && c.lit(`,"id":`) && c.str(&st.ID) &&
		c.lit(`,"rev":`) && c.int(&st.Revision) && c.lit(`,"ok":`) && c.bool(&st.Delivered)
	if !okAll {
		return stored{}, false
	}
	if c.lit(`,"p":`) && !c.int(&st.Pull) {
		return stored{}, false
	}
	st.Retracted = c.lit(`,"r":true`)
	if c.lit(`,"k":`) {
		var k string
		if !c.str(&k) {
			return stored{}, false
		}
		st.Identity = &k
	}
	if !c.lit("}") || c.i != len(v) {
		return stored{}, false
	}
	return st, true
}

// cursor reads a record from i on; each reader moves i past what it read, or fails.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) lit(s string) bool {
	if !bytes.HasPrefix(c.b[c.i:], []byte(s)) {
		return false
	}
	c.i += len(s)
	return true
}

// str reads a plain string.
func (c *cursor) str(dst *string) bool {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return false
	}
	end := bytes.IndexByte(c.b[c.i+1:], '"')
	if end < 0 {
		return false
	}
	s := string(c.b[c.i+1 : c.i+1+end])
	if !plain(s) {
		return false
	}
	*dst, c.i = s, c.i+2+end
	return true
}

// int reads an integer as JSON writes one (no leading zero, no sign but '-'), of at most
// 18 digits: a longer one is left to encoding/json, which knows the int's range.
func (c *cursor) int(dst *int) bool {
	j := c.i
	if j < len(c.b) && c.b[j] == '-' {
		j++
	}
	start := j
	for j < len(c.b) && c.b[j] >= '0' && c.b[j] <= '9' {
		j++
	}
	digits := j - start
	if digits == 0 || digits > 18 || (digits > 1 && c.b[start] == '0') {
		return false
	}
	n, err := strconv.Atoi(string(c.b[c.i:j]))
	if err != nil {
		return false
	}
	*dst, c.i = n, j
	return true
}

func (c *cursor) bool(dst *bool) bool {
	switch {
	case c.lit("true"):
		*dst = true
	case c.lit("false"):
		*dst = false
	default:
		return false
	}
	return true
}
