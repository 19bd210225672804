package bill

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Bounds of a number in an answer: the API writes amounts with a few decimals, and counts
// far below these.
const (
	MaxNumberBytes = 64 // characters of an amount, sign, point and exponent included
	MaxExponent    = 30 // |exponent| of an amount written with one (1.5E-7)
)

// Amount is a money amount (or another decimal of a bill row) with the exact value the API
// wrote: the text of a JSON number (see canonical), never a float64, so that no digit is
// lost or invented on the way to the receiver. The zero value is the amount 0. It is written into an event's data
// as a JSON number with that text.
type Amount string

// MarshalJSON writes the amount as the JSON number the API wrote.
func (a Amount) MarshalJSON() ([]byte, error) {
	if a == "" {
		return []byte("0"), nil
	}
	return []byte(a), nil
}

// String is the amount's text ("0" for the zero value).
func (a Amount) String() string {
	if a == "" {
		return "0"
	}
	return string(a)
}

// ParseAmount reads one member of an answer that holds a number. The API writes numbers as
// JSON numbers; a string that holds a plain decimal number in the same grammar ("12.30",
// "-0.5", "1.5E-7") is read as that number, its text kept. null, "" and an absent member
// are the amount 0 (empty, as the SDK reads them). Anything else is an error that says
// what the value is: a string with separators ("1,234.50"), hex ("0x10"), a boolean, NaN,
// Infinity, an exponent beyond ±MaxExponent, more than MaxNumberBytes characters, an
// object or an array. raw is the member's JSON value.
func ParseAmount(raw []byte) (Amount, error) {
	text, err := numberText(raw)
	if err != nil || text == "" {
		return "", err
	}
	return Amount(canonical(text)), nil
}

// canonical is a decimal's text without the zeros that end its fraction ("12.30" is
// "12.3", "0.0" and "-0" are "0"): the same number, spelled as 0.2 spelled it (through
// float64, whose shortest form has no such zeros), so that a row delivered by 0.2 and read
// again is the same content, not a revision. Digits are never dropped or added otherwise;
// a number with an exponent is kept as written.
func canonical(s string) string {
	if strings.ContainsAny(s, "eE") {
		return s
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// ParseCount reads a member that holds a count (TotalCount, PageNum, PageSize,
// MaxResults): a JSON integer, or a string holding one ("1", as the SDK accepts), within
// ±2^53 (the reader checks the range it allows). null and "" are an error: a count the
// API always sends is never guessed.
func ParseCount(raw []byte) (int64, error) {
	text, err := numberText(raw)
	if err != nil {
		return 0, err
	}
	if text == "" {
		return 0, errors.New("is empty")
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < -1<<53 || n > 1<<53 {
		return 0, fmt.Errorf("is %s, not a count", quoteValue([]byte(text)))
	}
	return n, nil
}

// numberText is the number a JSON value holds, as text, "" for null, "" and nothing.
func numberText(raw []byte) (string, error) {
	b, err := numberBytes(raw)
	return string(b), err
}

// numberBytes is numberText's text as a slice of raw (of a copy when raw escapes in a
// string), nil for null, "" and nothing.
func numberBytes(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null" || string(raw) == `""`:
		return nil, nil
	case raw[0] == '"':
		if len(raw) < 2 || raw[len(raw)-1] != '"' {
			return nil, fmt.Errorf("is %s, not a number", quoteValue(raw))
		}
		s := raw[1 : len(raw)-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			s = []byte(unquote(raw))
		}
		if !isDecimal(string(s)) {
			return nil, fmt.Errorf("is the string %s, not a number", quoteValue(s))
		}
		return s, nil
	case !isDecimal(string(raw)):
		return nil, fmt.Errorf("is %s, not a number", quoteValue(raw))
	}
	return raw, nil
}

// isDecimal reports whether s is a number in JSON's grammar (-?(0|[1-9][0-9]*)(.[0-9]+)?
// ([eE][+-]?[0-9]+)?) within MaxNumberBytes and with an exponent within ±MaxExponent.
func isDecimal(s string) bool {
	if len(s) == 0 || len(s) > MaxNumberBytes {
		return false
	}
	i := 0
	if s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start || (s[start] == '0' && i-start > 1) {
		return false // no digits, or a leading zero
	}
	if i < len(s) && s[i] == '.' {
		i++
		frac := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == frac {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if e, err := strconv.Atoi(s[exp:i]); i == exp || err != nil || e > MaxExponent {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// quoteValue shows a value in a message: quoted, cut to 40 bytes, control characters
// escaped (the caller cleans the whole message for a terminal).
func quoteValue(v []byte) string {
	if len(v) > 40 {
		return strconv.Quote(string(v[:40])) + "..."
	}
	return strconv.Quote(string(v))
}

// UnmarshalJSON reads an amount as ParseAmount does.
func (a *Amount) UnmarshalJSON(b []byte) error {
	v, err := ParseAmount(b)
	if err != nil {
		return fmt.Errorf("amount %w", err)
	}
	*a = v
	return nil
}
