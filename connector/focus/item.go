package focus

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// item is an instance row's event data (bill.InstanceRow): VanceSource, VanceType, the
// API's members in the API's order, then the connector's Tags.
type item columns

// The members of the instance row's data that are the connector's, not the API's.
var notAPI = map[string]bool{"VanceSource": true, "VanceType": true, "Tags": true}

func readItem(r bill.InstanceRow) (item, error) {
	data, err := r.AppendData(nil)
	if err != nil {
		return nil, err
	}
	cols, err := readObject(data)
	if err != nil {
		return nil, fmt.Errorf("instance row: %w", err)
	}
	return item(cols), nil
}

// s is a member's value as text: a string's content, a number's digits, "" for null,
// absent or another kind of value.
func (it item) s(name string) string {
	raw, ok := columns(it).get(name)
	if !ok || len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw)
	}
	return ""
}

// amount is a numeric member's text as FOCUS writes it, "0" when the API left it empty
// (the SDK reads an empty amount as 0, and so does the instance bill).
func (it item) amount(name string) (string, error) {
	s := strings.TrimSpace(it.s(name))
	if s == "" {
		return "0", nil
	}
	n, err := plainNumber(s)
	if err != nil {
		return "", fmt.Errorf("%s %w", name, err)
	}
	return n, nil
}

// customs are the API's members as custom columns: x_ and the API's name, in the API's
// order, with the value as sent ("" is null: FOCUS's null handling), Tag left out (it is
// Tags), numbers with an exponent written out.
func (it item) customs() columns {
	var out columns
	for _, c := range it {
		if notAPI[c.name] || c.name == "Tag" {
			continue
		}
		raw := c.raw
		switch {
		case string(raw) == `""`:
			raw = jsonNull
		case len(raw) > 0 && raw[0] != '"' && raw[0] != 'n' && raw[0] != 't' && raw[0] != 'f' &&
			raw[0] != '{' && raw[0] != '[':
			if n, err := plainNumber(string(raw)); err == nil {
				raw = []byte(n)
			}
		}
		out.put("x_"+c.name, raw)
	}
	return out
}
