package focus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// The provider, publisher and invoice issuer of every row: the instance bill is Alibaba
// Cloud's own (marketplace lines are not told apart by it).
const provider = "Alibaba Cloud"

// focusPrefix starts every FOCUS event's data, as instance rows start theirs.
var focusPrefix = func() []byte {
	src, _ := json.Marshal(bill.Source)
	typ, _ := json.Marshal(bill.Focus.EventType())
	return []byte(`{"VanceSource":` + string(src) + `,"VanceType":` + string(typ))
}()

// utc8 is Alibaba's billing day's zone: a day D is D-1T16:00:00Z..DT16:00:00Z.
var utc8 = time.FixedZone("UTC+8", 8*3600)

// instant is the start of day in UTC, FOCUS's date/time format.
func instant(d calendar.Day) string {
	return d.At(0, utc8).UTC().Format("2006-01-02T15:04:05Z")
}

// periods puts the charge period (the billing day) and the billing period (its month).
func periods(c *columns, d calendar.Day) {
	m := calendar.MonthOf(d)
	c.str("BillingPeriodEnd", instant(m.Next().First()))
	c.str("BillingPeriodStart", instant(m.First()))
	c.str("ChargePeriodEnd", instant(d.AddDays(1)))
	c.str("ChargePeriodStart", instant(d))
}

// mapped is what Map decided about one instance row.
type mapped struct {
	it       item
	day      calendar.Day
	category string
	costs    amounts
	price    price
	purchase *Purchase
}

// Map: see focus.go.
func mapRow(r bill.InstanceRow) (Row, *Purchase, error) {
	it, err := readItem(r)
	if err != nil {
		return Row{}, nil, err
	}
	day, err := calendar.Parse(it.s("BillingDate"))
	if err != nil {
		return Row{}, nil, fmt.Errorf("instance row BillingDate: %w", err)
	}
	if err := required(it); err != nil {
		return Row{}, nil, err
	}
	m := mapped{it: it, day: day, category: chargeCategory(it)}
	resource := resourceOf(it)
	last, covers := coverage(it, day)
	buys := m.category == "Purchase" && it.s("Item") == itemOrder && covers && resource != ""
	if m.costs, err = costs(it, m.category, buys); err != nil {
		return Row{}, nil, fmt.Errorf("instance row %w", err)
	}
	m.price = pricing(it, m.category, m.costs.list)
	cols := m.columns()
	row := newRow(cols, r.Identity(), r.SubjectParts(), resource)
	if !buys {
		return row, nil, nil
	}
	p := &Purchase{Resource: resource, Identity: r.Identity(), Cost: bill.Amount(m.costs.billed),
		First: day, Last: last, Columns: repeated(cols, day, last)}
	return row, p, nil
}

// required checks what a FOCUS row cannot be without: a currency (BillingCurrency, an
// ISO 4217 national currency) and an account (BillingAccountId); and that no member of the
// API would be one of the connector's own columns.
func required(it item) error {
	c := strings.TrimSpace(it.s("Currency"))
	if !currencies[c] {
		return fmt.Errorf("instance row Currency %.20q is not an ISO 4217 national currency code (FOCUS's BillingCurrency)", c)
	}
	for _, col := range it {
		if connectorColumns["x_"+col.name] {
			return fmt.Errorf("instance row member %.40q would be the connector's own column x_%.40s", col.name, col.name)
		}
	}
	if it.s("BillAccountID") == "" && it.s("OwnerID") == "" {
		return errors.New("instance row has neither a BillAccountID nor an OwnerID (FOCUS's BillingAccountId)")
	}
	return nil
}

// connectorColumns are the custom columns the connector writes, not the API.
var connectorColumns = map[string]bool{"x_Amortized": true, "x_CoverageFirst": true, "x_CoverageLast": true}

// resourceOf is the key of the row's resource: its owner and its instance, "" when the
// row names no instance.
func resourceOf(it item) string {
	id := it.s("InstanceID")
	if id == "" {
		return ""
	}
	return it.s("OwnerID") + "/" + id
}

// newRow makes the row of cols.
func newRow(cols columns, identity string, subject []string, resource string) Row {
	return Row{
		data:     cols.appendObject(nil, focusPrefix),
		cols:     cols,
		identity: identity,
		subject:  subject,
		resource: resource,
		billed:   bill.Amount(numberOf(cols, "BilledCost")),
		effect:   bill.Amount(numberOf(cols, "EffectiveCost")),
	}
}

func numberOf(c columns, name string) string {
	raw, _ := c.get(name)
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// coverage is the last day a subscription order covers, from its ServicePeriod and
// ServicePeriodUnit (天 / 月 / 年, seconds and hours in whole days): a month bought on
// the 15th covers up to the 14th of the next month (a day the next month has not is
// clamped to its last: the 31st of January covers up to the 27th of February). covers is false when it covers no day after day, or the
// period is not a whole number within ten years.
func coverage(it item, day calendar.Day) (last calendar.Day, covers bool) {
	n, err := strconv.Atoi(strings.TrimSpace(it.s("ServicePeriod")))
	u, known := periodUnits[unit(it.s("ServicePeriodUnit"))]
	// n is bounded before any arithmetic: time.Date's wraps (2^57+30 days is 30 days).
	if err != nil || n <= 0 || !known || n > u.most {
		return day, false
	}
	start := time.Date(day.Year, day.Month, day.Day, 12, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, n/u.per)
	if u.months {
		end = addMonths(start, n*u.per)
	}
	last = calendar.Of(end).AddDays(-1)
	return last, day.Before(last)
}

// periodUnit is a ServicePeriodUnit: a period of n is n/per days (or, months, n*per
// months); n is at most most (ten years).
type periodUnit struct {
	per, most int
	months    bool
}

var periodUnits = map[string]periodUnit{
	"Seconds": {per: 86400, most: 3660 * 86400}, "Hours": {per: 24, most: 3660 * 24}, "Days": {per: 1, most: 3660},
	"Months": {per: 1, most: 120, months: true}, "Years": {per: 12, most: 10, months: true},
}

// addMonths adds n months to t, the day clamped to the last of the month reached.
func addMonths(t time.Time, n int) time.Time {
	first := time.Date(t.Year(), t.Month()+time.Month(n), 1, 12, 0, 0, 0, time.UTC)
	lastDay := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(t.Day(), lastDay), 12, 0, 0, 0, time.UTC)
}
