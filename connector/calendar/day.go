// Package calendar is the billing day: a calendar date without a zone, as the BSS API names
// it (BillingDate YYYY-MM-DD, BillingCycle YYYY-MM). It has no dependencies, so that every
// package can name a day without importing the SDK.
package calendar

import (
	"fmt"
	"time"
)

// Day is one billing day (a calendar date, without a zone).
type Day struct {
	Year  int
	Month time.Month
	Day   int
}

// Parse parses YYYY-MM-DD.
func Parse(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Day{}, fmt.Errorf("%q is not a date in the form YYYY-MM-DD", s)
	}
	return Of(t), nil
}

// Of is the calendar date of t in t's location.
func Of(t time.Time) Day {
	y, m, d := t.Date()
	return Day{y, m, d}
}

// Yesterday is the day before now, reckoned in loc.
func Yesterday(now time.Time, loc *time.Location) Day {
	return Of(now.In(loc)).AddDays(-1)
}

// AddDays returns the day n days later (earlier for negative n).
func (d Day) AddDays(n int) Day {
	return Of(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Before reports whether d is earlier than o.
func (d Day) Before(o Day) bool { return d.String() < o.String() }

// At is the instant of hour:00 on this day in loc.
func (d Day) At(hour int, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, hour, 0, 0, 0, loc)
}

// String is YYYY-MM-DD, the API's BillingDate.
func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Cycle is YYYY-MM, the API's BillingCycle.
func (d Day) Cycle() string { return fmt.Sprintf("%04d-%02d", d.Year, d.Month) }

// Month is one billing month (the API's BillingCycle), without a zone.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth parses YYYY-MM.
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Month{}, fmt.Errorf("%q is not a month in the form YYYY-MM", s)
	}
	return Month{t.Year(), t.Month()}, nil
}

// MonthOf is the month of the day.
func MonthOf(d Day) Month { return Month{d.Year, d.Month} }

// First is the month's first day.
func (m Month) First() Day { return Day{m.Year, m.Month, 1} }

// Last is the month's last day.
func (m Month) Last() Day { return m.Next().First().AddDays(-1) }

// Days are the month's days, in order.
func (m Month) Days() []Day {
	var out []Day
	for d := m.First(); MonthOf(d) == m; d = d.AddDays(1) {
		out = append(out, d)
	}
	return out
}

// Next is the month after.
func (m Month) Next() Month {
	if m.Month == time.December {
		return Month{m.Year + 1, time.January}
	}
	return Month{m.Year, m.Month + 1}
}

// Prev is the month before.
func (m Month) Prev() Month {
	if m.Month == time.January {
		return Month{m.Year - 1, time.December}
	}
	return Month{m.Year, m.Month - 1}
}

// Before reports whether m is earlier than o.
func (m Month) Before(o Month) bool { return m.String() < o.String() }

// String is YYYY-MM, the API's BillingCycle.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, m.Month) }
