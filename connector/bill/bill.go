// Package bill defines the bill rows the connector delivers, once each: the account bill
// (QueryAccountBill, grouped by product) and the instance bill (DescribeInstanceBill, by
// billing item). A row knows its stable identity, its subject and its event data; the
// billing package fills rows from the API's answers, the job turns them into events. It
// imports nothing of the SDK.
package bill

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Source is every event's source attribute, and VanceSource in its data.
const Source = "cloud.alicloud.billing"

// Kind names a bill.
type Kind string

// The bills the connector delivers (config key bills).
const (
	Account  Kind = "account"
	Instance Kind = "instance"
	// Focus is the instance bill as FOCUS 1.2 rows (package focus); it is read with the
	// instance bill, once a day.
	Focus Kind = "focus"
)

// Kinds are the known bills, in the order a day runs them.
var Kinds = []Kind{Account, Instance, Focus}

// ParseKind reads a bill name from the config.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("%q is not a bill (account, instance, focus)", s)
}

// Reads is the bill the API is read for to deliver k: the instance bill for Focus (its
// rows are the instance bill's), k itself otherwise.
func (k Kind) Reads() Kind {
	if k == Focus {
		return Instance
	}
	return k
}

// EventType is the CloudEvents type of the bill's events.
func (k Kind) EventType() string {
	switch k {
	case Instance:
		return "alicloud.instance_billing.daily"
	case Focus:
		return "alicloud.focus_billing.daily"
	default:
		return "alicloud.account_billing.daily"
	}
}

// Row is one row of a bill.
type Row interface {
	// Kind is the bill the row is of.
	Kind() Kind
	// Identity names the bill line: the same on every pull of the day, whatever its
	// amounts. Unbounded in length (the state stores long ones under a hash).
	Identity() string
	// Date is the billing day (YYYY-MM-DD) the row says it is of: the reader checks it
	// against the day it asked for.
	Date() string
	// SubjectParts are the readable parts of the event's subject, most significant first.
	SubjectParts() []string
	// AppendData appends the event's data (a JSON object: VanceSource, VanceType, then the
	// row) to b.
	AppendData(b []byte) ([]byte, error)
}

// identity is a JSON array of parts: unambiguous whatever the parts hold. It is the text
// json.Marshal writes (identities are stored: a byte changed is another row).
func identity(parts ...string) string {
	n := 2
	for _, p := range parts {
		n += len(p) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, p)
	}
	return string(append(b, ']'))
}

// appendString appends s as json.Marshal writes it: as it is between quotes when it has
// nothing json.Marshal escapes (most text), else as json.Marshal writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			if c < utf8.RuneSelf || !plainUTF8(s) {
				q, _ := json.Marshal(s)
				return append(b, q...)
			}
			break
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// plainUTF8 reports whether s is valid UTF-8 holding only runes json.Marshal writes as
// they are: none below U+0020, no ", \\, <, > or &, no U+2028 or U+2029.
func plainUTF8(s string) bool {
	for _, r := range s {
		switch {
		case r < 0x20, r == '"', r == '\\', r == '<', r == '>', r == '&', r == '\u2028', r == '\u2029', r == utf8.RuneError:
			return false
		}
	}
	return true
}

// Page is one page of a bill, read and checked.
type Page struct {
	Rows   []Row
	Number int // 1 for the first page of a read
	Total  int // the bill's TotalCount
}

// ErrMoved marks a read that the bill moved under: its rows may have shifted across pages
// while they were read, so that one was skipped and another came twice. The read stops
// there; what has been read stands, and the bill can only be read again from its start.
// errors.Is(err, ErrMoved) finds a *MovedError.
var ErrMoved = errors.New("the bill moved while it was read")

// MovedError says how a bill moved under its read: the reader saw it on page Page.
type MovedError struct {
	Page int
	What string // one line: "the bill changed while paging: TotalCount 700 on page 1, 705 on page 2"
}

func (e *MovedError) Error() string { return e.What }

// Is makes errors.Is(err, ErrMoved) true.
func (e *MovedError) Is(target error) bool { return target == ErrMoved }

// DayName names a bill's day in messages: "2026-11-03" for the account bill (as ever),
// "instance bill 2026-11-03" for another.
func (k Kind) DayName(day fmt.Stringer) string {
	if k == Account {
		return day.String()
	}
	return string(k) + " bill " + day.String()
}
