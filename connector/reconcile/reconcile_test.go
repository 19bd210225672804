package reconcile

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

func line(product, sub, cur string, gross, pretax, pay bill.Amount) Line {
	return Line{Key: Key{product, sub, cur}, PretaxGrossAmount: gross, PretaxAmount: pretax, PaymentAmount: pay}
}

func sums(t *testing.T, lines ...Line) *Sums {
	t.Helper()
	s := NewSums()
	for _, l := range lines {
		require.NoError(t, s.Add(l))
	}
	return s
}

func TestCompare(t *testing.T) {
	tol := MustDecimal("0.01")
	cases := []struct {
		name       string
		daily      []Line
		overview   []Line
		reconciled bool
		differing  []string
		lines      int
		total      string // the account bill's CNY PaymentAmount difference
		worst      string // CNY
	}{
		{name: "the same figures", reconciled: true, lines: 2, total: "0", worst: "0",
			daily: []Line{line("ecs", "PayAsYouGo", "CNY", "0.1", "0.1", "0.1"), line("ecs", "PayAsYouGo", "CNY", "0.2", "0.2", "0.2"),
				line("oss", "Subscription", "CNY", "1.0001", "1", "1")},
			overview: []Line{line("ecs", "PayAsYouGo", "CNY", "0.3", "0.3", "0.3"), line("oss", "Subscription", "CNY", "1.0001", "1", "1")}},
		{name: "within the tolerance, both ways", reconciled: true, lines: 2, total: "0", worst: "0.01",
			daily:    []Line{line("ecs", "PayAsYouGo", "CNY", "10.004", "10", "10.01"), line("oss", "PayAsYouGo", "CNY", "5", "5", "4.99")},
			overview: []Line{line("ecs", "PayAsYouGo", "CNY", "10", "10", "10"), line("oss", "PayAsYouGo", "CNY", "5", "5", "5")}},
		{name: "one product off by 1.00", reconciled: false, differing: []string{"oss PayAsYouGo CNY"}, lines: 2, total: "-1", worst: "1",
			daily:    []Line{line("ecs", "PayAsYouGo", "CNY", "3", "3", "3"), line("oss", "PayAsYouGo", "CNY", "2", "2", "2")},
			overview: []Line{line("ecs", "PayAsYouGo", "CNY", "3", "3", "3"), line("oss", "PayAsYouGo", "CNY", "3.00", "3.00", "3.00")}},
		{name: "just past the tolerance", reconciled: false, differing: []string{"ecs PayAsYouGo CNY"}, lines: 1, total: "0", worst: "0.0101",
			daily:    []Line{line("ecs", "PayAsYouGo", "CNY", "1.0101", "1", "1")},
			overview: []Line{line("ecs", "PayAsYouGo", "CNY", "1", "1", "1")}},
		{name: "a product only in the overview", reconciled: false, differing: []string{"cdn PayAsYouGo CNY"}, lines: 2, total: "-7", worst: "7",
			daily:    []Line{line("ecs", "PayAsYouGo", "CNY", "3", "3", "3")},
			overview: []Line{line("ecs", "PayAsYouGo", "CNY", "3", "3", "3"), line("cdn", "PayAsYouGo", "CNY", "7", "7", "7")}},
		{name: "a product only in the daily rows, with an exponent", reconciled: false, differing: []string{"nat PayAsYouGo CNY"}, lines: 1, total: "0.5", worst: "0.5",
			daily: []Line{line("nat", "PayAsYouGo", "CNY", "5E-1", "5E-1", "0.5")}},
		{name: "currencies apart", reconciled: true, lines: 2, total: "0", worst: "0",
			daily:    []Line{line("ecs", "PayAsYouGo", "CNY", "3", "3", "3"), line("ecs", "PayAsYouGo", "USD", "1", "1", "1")},
			overview: []Line{line("ecs", "PayAsYouGo", "USD", "1", "1", "1"), line("ecs", "PayAsYouGo", "CNY", "3", "3", "3")}},
		{name: "nothing at all", reconciled: true, lines: 0},
		{name: "float64 would not add up", reconciled: true, lines: 1, total: "0", worst: "0",
			daily: []Line{line("ecs", "PayAsYouGo", "CNY", "0.1", "0.1", "0.1"), line("ecs", "PayAsYouGo", "CNY", "0.2", "0.2", "0.2"),
				line("ecs", "PayAsYouGo", "CNY", "-0.3", "-0.3", "-0.3")},
			overview: []Line{line("ecs", "PayAsYouGo", "CNY", "0", "0", "0")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Compare(Input{Account: "payer", BillingCycle: "2026-05", Bills: []Bill{{Name: "account", Sums: sums(t, tc.daily...)}},
				Overview: sums(t, tc.overview...), Tolerance: tol})
			assert.Equal(t, tc.reconciled, r.Reconciled)
			if tc.differing == nil {
				tc.differing = []string{}
			}
			assert.Equal(t, tc.differing, r.Differing)
			assert.Len(t, r.Lines, tc.lines)
			if tc.total != "" {
				var cny *TotalResult
				for i := range r.Totals {
					if r.Totals[i].Currency == "CNY" {
						cny = &r.Totals[i]
					}
				}
				require.NotNil(t, cny)
				assert.Equal(t, tc.total, cny.Difference.PaymentAmount.String())
				assert.Equal(t, tc.worst, r.Worst()["CNY"].String())
			}
		})
	}
}

func TestCompare_EachBillAgainstTheOverview(t *testing.T) {
	ov := sums(t, line("ecs", "PayAsYouGo", "CNY", "3", "3", "3"))
	r := Compare(Input{Account: "a", BillingCycle: "2026-05", Tolerance: MustDecimal("0.01"), Overview: ov, Bills: []Bill{
		{Name: "account", Sums: sums(t, line("ecs", "PayAsYouGo", "CNY", "3", "3", "3"))},
		{Name: "instance", Sums: sums(t, line("ecs", "PayAsYouGo", "CNY", "2", "2", "2"))}}})
	assert.False(t, r.Reconciled)
	assert.Equal(t, []string{"account", "instance"}, r.Bills)
	require.Len(t, r.Lines, 2)
	assert.True(t, r.Lines[0].Reconciled)
	assert.False(t, r.Lines[1].Reconciled)
	assert.Equal(t, []string{"ecs PayAsYouGo CNY"}, r.Differing)
}

// The event's data: exact decimals as JSON numbers, never a float's digits.
func TestResult_JSONHasExactNumbers(t *testing.T) {
	r := Compare(Input{Account: "default", BillingCycle: "2026-05", Tolerance: MustDecimal("0.01"),
		Bills:    []Bill{{Name: "account", Sums: sums(t, line("ecs", "PayAsYouGo", "CNY", "0.1", "12345678901234567.1", "0.3"), line("ecs", "PayAsYouGo", "CNY", "0.2", "0.0000001", "1E-7"))}},
		Overview: sums(t, line("ecs", "PayAsYouGo", "CNY", "0.3", "12345678901234567.1", "0.3"))})
	b, err := json.Marshal(r)
	require.NoError(t, err)
	s := string(b)
	assert.Contains(t, s, `"daily":{"PretaxGrossAmount":0.3,"PretaxAmount":12345678901234567.1000001,"PaymentAmount":0.3000001}`)
	assert.Contains(t, s, `"difference":{"PretaxGrossAmount":0,"PretaxAmount":0.0000001,"PaymentAmount":0.0000001}`)
	assert.Contains(t, s, `"reconciled":true`)
	assert.Contains(t, s, `"ProductCode":"ecs","SubscriptionType":"PayAsYouGo","Currency":"CNY"`)
	var back Result
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, "12345678901234567.1000001", back.Lines[0].Daily.PretaxAmount.String())
}

func TestLineOf_ReadsBothBills(t *testing.T) {
	l, err := LineOf(bill.AccountRow{ProductCode: "ecs", SubscriptionType: "Subscription", Currency: "CNY",
		PretaxGrossAmount: "2", PretaxAmount: "1.5", PaymentAmount: "1"})
	require.NoError(t, err)
	assert.Equal(t, line("ecs", "Subscription", "CNY", "2", "1.5", "1"), l)

	inst, err := bill.ParseInstance([]byte(`{"BillingDate":"2026-05-01","InstanceID":"i-1","ProductCode":"ecs",
		"SubscriptionType":"PayAsYouGo","Currency":"USD","PretaxGrossAmount":"3.25","PretaxAmount":3,"PaymentAmount":null}`))
	require.NoError(t, err)
	l, err = LineOf(inst)
	require.NoError(t, err)
	assert.Equal(t, line("ecs", "PayAsYouGo", "USD", "3.25", "3", ""), l)
}

func TestParseDecimal_RefusesWhatIsNotTheAPIsNumber(t *testing.T) {
	for _, s := range []string{"1/3", "0x10", "NaN", "1,5", "1e999"} {
		_, err := ParseDecimal(bill.Amount(s))
		assert.Error(t, err, s)
	}
	d, err := ParseDecimal("-0.000")
	require.NoError(t, err)
	assert.Equal(t, "0", d.String())
}

// A month of more keys than a bill has is refused, not held: a day's sums and their merge.
func TestSums_AtMostMaxKeys(t *testing.T) {
	a, b := NewSums(), NewSums()
	for i := range MaxKeys {
		require.NoError(t, a.Add(line(strconv.Itoa(i), "PayAsYouGo", "CNY", "1", "1", "1")))
	}
	require.NoError(t, a.Add(line("0", "PayAsYouGo", "CNY", "1", "1", "1")), "a key it has")
	assert.ErrorContains(t, a.Add(line("one more", "PayAsYouGo", "CNY", "1", "1", "1")), "more than 10000 products")
	require.NoError(t, b.Add(line("one more", "PayAsYouGo", "CNY", "1", "1", "1")))
	assert.Error(t, a.Merge(b))
	assert.Equal(t, MaxKeys, a.Len())
}
