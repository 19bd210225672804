package focus

import "testing"

// What FOCUS 1.2 allows, the checker accepts.
func TestCheck_AcceptsWhatFOCUSAllows(t *testing.T) {
	for name, changes := range map[string]map[string]string{
		"a virtual pricing currency (currency_format.md)": {"PricingCurrency": `"Credits"`, "PricingCurrencyEffectiveCost": `90`},
		"a national pricing currency":                     {"PricingCurrency": `"EUR"`, "PricingCurrencyEffectiveCost": `8.5`},
		"a tag whose value is null (tags.md)":             {"Tags": `{"env":null,"team":"a"}`},
		"tags as a serialized JSON string":                {"Tags": `"{\"env\":\"prod\"}"`},
		"a negative exponent":                             {"EffectiveCost": `9E-0`, "BilledCost": `9.0E-0`},
		"a correction of usage without a consumed quantity": {"ChargeClass": `"Correction"`, "ConsumedQuantity": `null`,
			"ConsumedUnit": `null`, "PricingCategory": `null`, "ListUnitPrice": `null`},
	} {
		if vs := Check(goodRow(changes)); len(vs) != 0 {
			t.Errorf("%s: %v", name, vs)
		}
	}
}

// What FOCUS 1.2 forbids that the column tables alone do not say: PricingCurrency and
// PricingCurrencyEffectiveCost "MUST NOT be null" (their files' requirements, which the
// Content constraints' "Allows nulls: True" contradicts; the MUST is the requirement),
// and a pricing currency written as a three-letter code is ISO 4217's.
func TestCheck_RejectsWhatTheRequirementsForbid(t *testing.T) {
	for _, tc := range []struct {
		name         string
		changes      map[string]string
		column, rule string
	}{
		{"a null pricing currency", map[string]string{"PricingCurrency": `null`, "PricingCurrencyEffectiveCost": `9`}, "PricingCurrency", RuleNull},
		{"a null pricing-currency effective cost", map[string]string{"PricingCurrency": `"USD"`, "PricingCurrencyEffectiveCost": `null`}, "PricingCurrencyEffectiveCost", RuleNull},
		{"a three-letter pricing currency ISO 4217 has not", map[string]string{"PricingCurrency": `"ABC"`, "PricingCurrencyEffectiveCost": `9`}, "PricingCurrency", RuleCurrency},
		{"a lowercase national pricing currency", map[string]string{"PricingCurrency": `"usd"`, "PricingCurrencyEffectiveCost": `9`}, "PricingCurrency", RuleCurrency},
	} {
		vs := Check(goodRow(tc.changes))
		found := false
		for _, v := range vs {
			found = found || v.Column == tc.column && v.Rule == tc.rule
		}
		if !found {
			t.Errorf("%s: want %s on %s, got %v", tc.name, tc.rule, tc.column, vs)
		}
	}
}
