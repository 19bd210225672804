package focus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// kind is a JSON value's kind.
type kind int

const (
	kNull kind = iota
	kString
	kNumber
	kBool
	kObject
	kArray
)

func (k kind) String() string {
	return [...]string{"null", "a string", "a number", "a boolean", "an object", "an array"}[k]
}

// value is a JSON value read without losing what FOCUS checks: a number's text, an
// object's members in order with their duplicates.
type value struct {
	kind    kind
	str     string // a string's content, a number's text
	b       bool
	members []member // an object's
}

type member struct {
	name string
	v    value
}

// maxDepth bounds nesting: a row is a flat object with flat objects in it.
const maxDepth = 32

// parse reads one JSON value that is the whole of data.
func parse(data []byte) (value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return value{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return value{}, errors.New("text after the JSON value")
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth int) (value, error) {
	if depth > maxDepth {
		return value{}, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	t, err := dec.Token()
	if err != nil {
		return value{}, err
	}
	switch t := t.(type) {
	case nil:
		return value{kind: kNull}, nil
	case string:
		return value{kind: kString, str: t}, nil
	case json.Number:
		return value{kind: kNumber, str: string(t)}, nil
	case bool:
		return value{kind: kBool, b: t}, nil
	case json.Delim:
		if t == '[' {
			for dec.More() {
				if _, err := readValue(dec, depth+1); err != nil {
					return value{}, err
				}
			}
			_, err := dec.Token()
			return value{kind: kArray}, err
		}
		return readMembers(dec, depth)
	}
	return value{}, fmt.Errorf("unexpected token %v", t)
}

func readMembers(dec *json.Decoder, depth int) (value, error) {
	v := value{kind: kObject}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return value{}, err
		}
		name, _ := t.(string)
		mv, err := readValue(dec, depth+1)
		if err != nil {
			return value{}, err
		}
		v.members = append(v.members, member{name, mv})
	}
	_, err := dec.Token() // '}'
	return v, err
}
