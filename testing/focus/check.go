package focus

import (
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Violation is one MUST of FOCUS 1.2 that a row breaks.
type Violation struct {
	Column string // the column, "" for the row as a whole
	Rule   string // one of the Rule constants
	Detail string // one line
}

func (v Violation) String() string {
	if v.Column == "" {
		return v.Rule + ": " + v.Detail
	}
	return v.Column + ": " + v.Rule + ": " + v.Detail
}

// The rules a violation breaks.
const (
	RuleJSON        = "json"             // the row is not a JSON object
	RuleDuplicate   = "duplicate-column" // a column given twice
	RuleUnknown     = "unknown-column"   // neither a FOCUS column nor prefixed x_ (column_handling.md)
	RuleMissing     = "missing"          // a Mandatory column is absent
	RuleNull        = "null"             // null where the column allows none
	RuleEmpty       = "empty-string"     // "" for no value (null_handling.md)
	RuleType        = "type"             // a value of another data type
	RuleAllowed     = "allowed-values"   // a value outside the column's allowed values
	RuleDateTime    = "datetime-format"  // not UTC YYYY-MM-DDTHH:mm:ssZ (datetime_format.md)
	RuleNumeric     = "numeric-format"   // not a plain decimal (numeric_format.md)
	RuleFloat       = "float-artifact"   // a decimal that went through a binary float (see floatArtifact)
	RuleNegative    = "negative"         // a negative unit price
	RuleCurrency    = "currency"         // not one ISO 4217 national currency code
	RuleKeyValue    = "key-value"        // Tags / SkuPriceDetails not a flat object (key_value_format.md)
	RuleNullability = "conditional-null" // null, or not, against a rule that depends on another column
	RulePeriod      = "period"           // charge period not within the billing period, or an end before its start
	RuleProduct     = "unit-price"       // unit price x PricingQuantity is not the cost
	RuleRelation    = "relation"         // another MUST between columns
	RuleDataset     = "dataset"          // a FOCUS column in some rows of a set and not in others
)

// row is a row's columns, read.
type row map[string]value

func (r row) present(name string) bool { _, ok := r[name]; return ok }
func (r row) null(name string) bool    { v, ok := r[name]; return ok && v.kind == kNull }
func (r row) set(name string) bool     { v, ok := r[name]; return ok && v.kind != kNull }
func (r row) str(name string) string {
	if v, ok := r[name]; ok && v.kind == kString {
		return v.str
	}
	return ""
}

// Check checks one row (an event's data) and returns every violation found, none for a
// conformant row. Of the columns whose presence depends on what the provider supports
// (Conditional, Recommended), it checks those the row has; Dataset.Check also requires
// the ones the provider's data calls for.
func Check(data []byte) []Violation { return Dataset{}.Check(data) }

// Dataset is what a provider's FOCUS dataset holds beyond the Mandatory columns: the
// Conditional and Recommended columns whose condition the provider meets (e.g. RegionId
// "when the provider supports deploying resources ... within a region"), which every row
// must then have. Whether a condition is met is a fact about the provider, not in a row.
type Dataset struct {
	Present []string
}

// Check is the package's Check, with the columns of d.Present required as Mandatory ones
// are.
func (d Dataset) Check(data []byte) []Violation {
	v, err := parse(data)
	if err != nil {
		return []Violation{{"", RuleJSON, fmt.Sprintf("not JSON: %v", err)}}
	}
	if v.kind != kObject {
		return []Violation{{"", RuleJSON, "the row is " + v.kind.String() + ", not an object"}}
	}
	r := row{}
	var out []Violation
	for _, m := range v.members {
		_, dup := r[m.name]
		switch {
		case dup || (envelope[m.name] && r.present("\x00"+m.name)):
			out = append(out, Violation{m.name, RuleDuplicate, "the column is given twice"})
			continue
		case envelope[m.name]:
			r["\x00"+m.name] = m.v
			continue
		case strings.HasPrefix(m.name, "x_") && len(m.name) > 2:
			r[m.name] = m.v
			continue
		}
		sp, ok := columns[m.name]
		if !ok {
			out = append(out, Violation{m.name, RuleUnknown, "not a FOCUS 1.2 column, and custom columns are prefixed x_"})
			continue
		}
		r[m.name] = m.v
		out = append(out, checkValue(m.name, sp, m.v)...)
	}
	for _, name := range sortedColumns() {
		if columns[name].level == mandatory && !r.present(name) {
			out = append(out, Violation{name, RuleMissing, "a Mandatory column is absent"})
		}
	}
	for _, name := range d.Present {
		if !r.present(name) {
			out = append(out, Violation{name, RuleMissing, "absent, and the provider's data calls for it"})
		}
	}
	return append(out, relations(r)...)
}

func sortedColumns() []string {
	out := make([]string, 0, len(columns))
	for n := range columns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// checkValue checks one column's value against its content constraints.
func checkValue(name string, sp spec, v value) []Violation {
	bad := func(rule, format string, a ...any) []Violation {
		return []Violation{{name, rule, fmt.Sprintf(format, a...)}}
	}
	if v.kind == kNull {
		if !sp.nullable {
			return bad(RuleNull, "null, and the column allows none")
		}
		return nil
	}
	switch sp.typ {
	case tString:
		return checkString(name, sp, v)
	case tDecimal:
		if v.kind != kNumber {
			return bad(RuleType, "%s, not a decimal number", v.kind)
		}
		return checkDecimal(name, sp, v.str)
	case tDateTime:
		if v.kind != kString || !isDateTime(v.str) {
			return bad(RuleDateTime, "%s is not a UTC date/time YYYY-MM-DDTHH:mm:ssZ", show(v))
		}
	case tJSON:
		return checkKeyValue(name, v)
	}
	return nil
}

func checkString(name string, sp spec, v value) []Violation {
	bad := func(rule, format string, a ...any) []Violation {
		return []Violation{{name, rule, fmt.Sprintf(format, a...)}}
	}
	switch {
	case v.kind != kString:
		return bad(RuleType, "%s, not a string", v.kind)
	case v.str == "":
		return bad(RuleEmpty, `"" stands for no value, which is null`)
	case sp.allowed != nil && !contains(sp.allowed, v.str):
		return bad(RuleAllowed, "%s is not one of the allowed values", show(v))
	case sp.currency && !nationalCurrencies[v.str] && !(sp.virtual && !codeShaped(v.str)):
		return bad(RuleCurrency, "%s is not one ISO 4217 national currency code", show(v))
	}
	return nil
}

// codeShaped: s is written as a currency code is (three letters), so it is a national
// currency's, not a virtual currency's name ("Credits").
func codeShaped(s string) bool {
	return len(s) == 3 && strings.Trim(strings.ToUpper(s), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// show is a value in a message, cut to 60 bytes.
func show(v value) string {
	s := v.str
	if v.kind != kString && v.kind != kNumber {
		s = v.kind.String()
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strconv.Quote(s)
}

var dateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)

func isDateTime(s string) bool {
	if !dateTime.MatchString(s) {
		return false
	}
	_, err := time.Parse("2006-01-02T15:04:05Z", s)
	return err == nil
}

// checkDecimal checks a number's text (JSON's grammar already holds: no fraction, no
// symbol, no comma, no leading +): an exponent's sign is only written when negative
// ("35.2E+7" is not FOCUS), and no binary-float artifact.
func checkDecimal(name string, sp spec, text string) []Violation {
	var out []Violation
	if strings.Contains(text, "e+") || strings.Contains(text, "E+") {
		out = append(out, Violation{name, RuleNumeric, fmt.Sprintf("%s writes the sign of a positive exponent", text)})
	}
	if floatArtifact(text) {
		out = append(out, Violation{name, RuleFloat, fmt.Sprintf("%s is a binary float's rounding, not a decimal amount", text)})
	}
	if r, ok := new(big.Rat).SetString(text); ok && sp.nonNegative && r.Sign() < 0 {
		out = append(out, Violation{name, RuleNegative, fmt.Sprintf("%s: the column's range is non-negative", text)})
	}
	return out
}

// floatArtifact reports whether a decimal's text is what a binary float64 makes of a
// short decimal: it has 16 or 17 significant digits (more than float64 holds exactly,
// and no more than its shortest round trip writes), it is exactly the shortest text of
// the float64 it reads as, and that float64 written with 15 significant digits (what
// float64 holds faithfully) is a decimal of at most 12 significant digits. So
// 0.30000000000000004 (0.1+0.2) and 434.99999999999994 (4.35*100) are artifacts; 0.3,
// 12.3456, an amount with 18 digits, and 0.1234567890123456 (all of whose digits mean
// something) are not.
func floatArtifact(text string) bool {
	mant := strings.TrimLeft(strings.SplitN(strings.ToLower(text), "e", 2)[0], "-")
	digits := strings.Trim(strings.ReplaceAll(mant, ".", ""), "0")
	if len(digits) < 16 || len(digits) > 17 {
		return false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return false
	}
	a, ok1 := new(big.Rat).SetString(text)
	b, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok1 || !ok2 || a.Cmp(b) != 0 {
		return false
	}
	short := strconv.FormatFloat(f, 'e', 14, 64) // 15 significant digits
	sig := strings.TrimRight(strings.ReplaceAll(strings.SplitN(short, "e", 2)[0], ".", ""), "0")
	return len(strings.TrimLeft(sig, "-")) <= 12
}

// checkKeyValue: a key-value column is a JSON object (or a string holding one), its keys
// unique, its values a number, a string, true, false or null, never an object or array.
// SkuPriceDetails' keys are FOCUS's properties or start with x_.
func checkKeyValue(name string, v value) []Violation {
	bad := func(format string, a ...any) []Violation {
		return []Violation{{name, RuleKeyValue, fmt.Sprintf(format, a...)}}
	}
	if v.kind == kString {
		inner, err := parse([]byte(v.str))
		if err != nil {
			return bad("a string that is not serialized JSON")
		}
		v = inner
	}
	if v.kind != kObject {
		return bad("%s, not a JSON object", v.kind)
	}
	seen := map[string]bool{}
	for _, m := range v.members {
		switch {
		case seen[m.name]:
			return bad("the key %q is given twice", m.name)
		case m.v.kind == kObject || m.v.kind == kArray:
			return bad("the value of %q is %s: values are numbers, strings, true, false or null", m.name, m.v.kind)
		case name == "SkuPriceDetails" && !skuPriceProperties[m.name] && !strings.HasPrefix(m.name, "x_"):
			return bad("the key %q is no FOCUS-defined property and does not start with x_", m.name)
		}
		seen[m.name] = true
	}
	return nil
}
