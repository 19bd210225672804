package focus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// column is one member of a FOCUS row: its ID and its JSON value.
type column struct {
	name string
	raw  []byte // a JSON value: "null", a string, a number, true/false, an object
}

// columns are a row's members, in order.
type columns []column

var jsonNull = []byte("null")

func (c *columns) put(name string, raw []byte) { *c = append(*c, column{name, raw}) }

// str puts a string column, null when s is "" (FOCUS's null handling: no empty strings).
func (c *columns) str(name, s string) {
	if s == "" {
		c.put(name, jsonNull)
		return
	}
	b, _ := json.Marshal(s)
	c.put(name, b)
}

// num puts a decimal column: its text, null when "".
func (c *columns) num(name, text string) {
	if text == "" {
		c.put(name, jsonNull)
		return
	}
	c.put(name, []byte(text))
}

func (c columns) get(name string) ([]byte, bool) {
	for _, col := range c {
		if col.name == name {
			return col.raw, true
		}
	}
	return nil, false
}

// set replaces a column's value (or adds the column).
func (c columns) set(name string, raw []byte) columns {
	out := append(columns(nil), c...)
	for i := range out {
		if out[i].name == name {
			out[i].raw = raw
			return out
		}
	}
	return append(out, column{name, raw})
}

// text is a string column's value ("" for null or another kind of value).
func (c columns) text(name string) string {
	raw, _ := c.get(name)
	var s string
	if len(raw) > 0 && raw[0] == '"' {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// appendObject appends the columns as a JSON object, after prefix (an object's opening
// members, without its closing brace) when there is one.
func (c columns) appendObject(b, prefix []byte) []byte {
	if len(prefix) > 0 {
		b = append(b, prefix...)
	} else {
		b = append(b, '{')
	}
	for i, col := range c {
		if i > 0 || len(prefix) > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(col.name)
		b = append(append(append(b, k...), ':'), col.raw...)
	}
	return append(b, '}')
}

// readObject reads a JSON object into its members, in order.
func readObject(data []byte) (columns, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out columns
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("read a member: %w", err)
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("read member %q: %w", name, err)
		}
		out = append(out, column{name, raw})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errors.New("not a JSON object: it does not end")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not one JSON object: more follows it")
	}
	return out, nil
}
