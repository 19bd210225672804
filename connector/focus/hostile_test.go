package focus

import (
	"strings"
	"testing"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// A period the day arithmetic would overflow is beyond ten years: no purchase. 2^57+30
// days wrap to 30 days in time.Date's arithmetic, 2^62+1 years (12 x that wraps to 12
// months) to one year, and 2^63-1 seconds reach a year past 9999.
func TestMap_APeriodThatOverflowsIsNoPurchase(t *testing.T) {
	for _, tc := range []struct{ period, unit string }{
		{"144115188075855902", "天"}, {"4611686018427387905", "年"}, {"9223372036854775807", "秒"},
		{"9223372036854775807", "小时"}, {"768614336404564651", "月"}, {"9223372036854775807", "天"},
		{"3661", "天"}, {"121", "月"}, {"11", "年"}, {"316310400", "秒"}, {"87864", "小时"},
	} {
		_, cols, p := mapRowT(t, order(map[string]any{"ServicePeriod": tc.period, "ServicePeriodUnit": tc.unit}))
		if p != nil {
			t.Errorf("%s %s: a purchase %s..%s", tc.period, tc.unit, p.First, p.Last)
		}
		if string(cols["EffectiveCost"]) != string(cols["BilledCost"]) {
			t.Errorf("%s %s: EffectiveCost %s", tc.period, tc.unit, cols["EffectiveCost"])
		}
	}
	for _, tc := range []struct{ period, unit, last string }{
		{"3660", "天", "2036-03-07"}, {"120", "月", "2036-02-29"}, {"10", "年", "2036-02-29"}, {"316224000", "秒", "2036-03-07"},
	} {
		_, _, p := mapRowT(t, order(map[string]any{"ServicePeriod": tc.period, "ServicePeriodUnit": tc.unit}))
		if p == nil || p.Last.String() != tc.last {
			t.Errorf("%s %s: purchase %v, want one to %s", tc.period, tc.unit, p != nil, tc.last)
		}
	}
}

// An API member whose custom column would be one of the connector's own (x_Amortized,
// x_CoverageFirst, x_CoverageLast) is no member the API has: the row is refused in one
// line naming it, rather than delivered with a column given twice.
func TestMap_RefusesAMemberThatWouldBeTheConnectorsColumn(t *testing.T) {
	for _, name := range []string{"Amortized", "CoverageFirst", "CoverageLast"} {
		_, _, err := Map(instance(t, map[string]any{name: "true"}))
		if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("a member %s: %v", name, err)
		}
	}
}

// BillingCurrency is an ISO 4217 national currency (billingcurrency.md): three capitals
// ISO 4217 has not, or a metal's code, are refused in one line naming Currency.
func TestMap_RefusesACurrencyThatIsNoNationalCurrency(t *testing.T) {
	for _, c := range []string{"ABC", "XAU", "XXX", "cny", "CN", "元"} {
		_, _, err := Map(instance(t, map[string]any{"Currency": c}))
		if err == nil || !strings.Contains(err.Error(), "Currency") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Currency %q: %v", c, err)
		}
	}
	for _, c := range []string{"CNY", "USD", " USD ", "HKD", "JPY"} {
		if _, _, err := Map(instance(t, map[string]any{"Currency": c})); err != nil {
			t.Errorf("Currency %q: %v", c, err)
		}
	}
}

// An amortized row's retraction (bill.Retraction of its identity alone: its purchase may
// be forgotten) is named as the row is.
func TestAmortized_ItsRetractionHasItsSubject(t *testing.T) {
	_, _, p := mapRowT(t, order(nil))
	for _, suffix := range []string{"", "#2"} { // the second purchase of one identity in a page
		q := *p
		q.Identity += suffix
		a, err := Amortized(q, p.First.AddDays(3))
		if err != nil {
			t.Fatal(err)
		}
		r, err := bill.Retraction(bill.Focus, a.Identity())
		if err != nil || strings.Join(r.SubjectParts(), "/") != strings.Join(a.SubjectParts(), "/") {
			t.Fatalf("retraction %v (%v), row %v", r, err, a.SubjectParts())
		}
	}
}
