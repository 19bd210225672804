package focus

import (
	"fmt"
	"sort"
	"strings"
)

// RowViolation is a violation of one row of a set.
type RowViolation struct {
	Row int // the row's index in the set, -1 for the set as a whole
	Violation
}

func (v RowViolation) String() string {
	if v.Row < 0 {
		return "the set: " + v.Violation.String()
	}
	return fmt.Sprintf("row %d: %s", v.Row, v.Violation)
}

// Summary is the check of a set of rows.
type Summary struct {
	Rows       int            // rows checked
	Conformant int            // rows without a violation
	ByRule     map[string]int // violations by rule
	Columns    []string       // the FOCUS columns the set has
	Custom     int            // distinct x_ columns
	Violations []RowViolation // every violation, in row order
}

// Summarize checks every row, and that the set is one dataset: a FOCUS column that some
// rows have, every row has.
func Summarize(rows [][]byte) Summary { return Dataset{}.Summarize(rows) }

// Summarize is the package's Summarize, each row checked by d.Check.
func (d Dataset) Summarize(rows [][]byte) Summary {
	s := Summary{Rows: len(rows), ByRule: map[string]int{}}
	has := map[string]int{}
	custom := map[string]bool{}
	for i, data := range rows {
		vs := d.Check(data)
		if len(vs) == 0 {
			s.Conformant++
		}
		for _, v := range vs {
			s.add(RowViolation{i, v})
		}
		if v, err := parse(data); err == nil && v.kind == kObject {
			for _, m := range v.members {
				switch {
				case strings.HasPrefix(m.name, "x_"):
					custom[m.name] = true
				case columns[m.name].typ != "":
					has[m.name]++
				}
			}
		}
	}
	for _, name := range sortedColumns() {
		n, ok := has[name]
		if !ok {
			continue
		}
		s.Columns = append(s.Columns, name)
		if n != len(rows) {
			s.add(RowViolation{-1, Violation{name, RuleDataset, fmt.Sprintf("in %d of %d rows", n, len(rows))}})
		}
	}
	s.Custom = len(custom)
	return s
}

func (s *Summary) add(v RowViolation) {
	s.ByRule[v.Rule]++
	s.Violations = append(s.Violations, v)
}

// OK reports whether every row conforms and the set is one dataset.
func (s Summary) OK() bool { return len(s.Violations) == 0 }

// String is the summary in a few lines: the counts, then the violations by rule and the
// first ten.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FOCUS 1.2 check: %d rows, %d conformant, %d violations; %d FOCUS columns, %d custom (x_)",
		s.Rows, s.Conformant, len(s.Violations), len(s.Columns), s.Custom)
	rules := make([]string, 0, len(s.ByRule))
	for r := range s.ByRule {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		fmt.Fprintf(&b, "\n  %s: %d", r, s.ByRule[r])
	}
	for i, v := range s.Violations {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... %d more", len(s.Violations)-10)
			break
		}
		fmt.Fprintf(&b, "\n  %s", v)
	}
	return b.String()
}
