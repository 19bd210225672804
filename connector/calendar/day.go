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
