package focus

import (
	"strings"
	"testing"
)

// good is a conformant row written from the spec, not by the connector's mapping: a day
// of a virtual machine's usage.
var good = [][2]string{
	{"VanceSource", `"cloud.alicloud.billing"`},
	{"VanceType", `"alicloud.focus_billing.daily"`},
	{"AvailabilityZone", `"zone-a"`},
	{"BilledCost", `9`},
	{"BillingAccountId", `"acct-1"`},
	{"BillingAccountName", `"Payer"`},
	{"BillingCurrency", `"USD"`},
	{"BillingPeriodEnd", `"2026-12-01T00:00:00Z"`},
	{"BillingPeriodStart", `"2026-11-01T00:00:00Z"`},
	{"ChargeCategory", `"Usage"`},
	{"ChargeClass", `null`},
	{"ChargeDescription", `"VM hours"`},
	{"ChargeFrequency", `"Usage-Based"`},
	{"ChargePeriodEnd", `"2026-11-04T00:00:00Z"`},
	{"ChargePeriodStart", `"2026-11-03T00:00:00Z"`},
	{"ConsumedQuantity", `24`},
	{"ConsumedUnit", `"Hours"`},
	{"ContractedCost", `9.6`},
	{"EffectiveCost", `9`},
	{"InvoiceIssuerName", `"Provider"`},
	{"ListCost", `12`},
	{"ListUnitPrice", `0.5`},
	{"PricingCategory", `"Standard"`},
	{"PricingQuantity", `24`},
	{"PricingUnit", `"Hours"`},
	{"ProviderName", `"Provider"`},
	{"PublisherName", `"Provider"`},
	{"RegionId", `"r-1"`},
	{"RegionName", `"Region One"`},
	{"ResourceId", `"vm-1"`},
	{"ResourceName", `"web"`},
	{"ResourceType", `"Virtual Machine"`},
	{"ServiceCategory", `"Compute"`},
	{"ServiceName", `"VMs"`},
	{"ServiceSubcategory", `"Virtual Machines"`},
	{"SkuId", `"vm"`},
	{"SkuMeter", `"Compute Usage"`},
	{"SkuPriceId", `"vm-std"`},
	{"SubAccountId", `"sub-1"`},
	{"SubAccountName", `"Team"`},
	{"Tags", `{"env":"prod","cost center":"R&D team","flag":true}`},
	{"x_Anything", `{"nested":[1,2]}`},
}

// goodRow writes good with changes: a name mapped to a raw value replaces that column's
// value (or adds the column), to "" drops it.
func goodRow(changes map[string]string) []byte {
	var b strings.Builder
	b.WriteString("{")
	n := 0
	put := func(k, v string) {
		if n > 0 {
			b.WriteString(",")
		}
		n++
		b.WriteString(`"` + k + `":` + v)
	}
	done := map[string]bool{}
	for _, kv := range good {
		v, changed := changes[kv[0]]
		done[kv[0]] = true
		switch {
		case !changed:
			put(kv[0], kv[1])
		case v != "":
			put(kv[0], v)
		}
	}
	for k, v := range changes {
		if !done[k] && v != "" {
			put(k, v)
		}
	}
	b.WriteString("}")
	return []byte(b.String())
}

func TestCheck_AcceptsAConformantRow(t *testing.T) {
	if vs := Check(goodRow(nil)); len(vs) != 0 {
		t.Fatalf("a conformant row: %v", vs)
	}
}

func TestCheck_RejectsEachKindOfViolation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes map[string]string
		column  string
		rule    string
	}{
		{"a missing Mandatory column", map[string]string{"BilledCost": ""}, "BilledCost", RuleMissing},
		{"a missing Mandatory nullable column", map[string]string{"ChargeClass": ""}, "ChargeClass", RuleMissing},
		{"a null where none is allowed", map[string]string{"BillingAccountId": "null"}, "BillingAccountId", RuleNull},
		{"a null Recommended column that allows none", map[string]string{"ChargeFrequency": "null"}, "ChargeFrequency", RuleNull},
		{"a value outside an allowed list", map[string]string{"ChargeCategory": `"Discount"`}, "ChargeCategory", RuleAllowed},
		{"a service category in the wrong case", map[string]string{"ServiceCategory": `"compute"`}, "ServiceCategory", RuleAllowed},
		{"a ChargeClass other than Correction", map[string]string{"ChargeClass": `"Refund"`}, "ChargeClass", RuleAllowed},
		{"a subcategory of another category", map[string]string{"ServiceSubcategory": `"Object Storage"`}, "ServiceSubcategory", RuleRelation},
		{"a local time", map[string]string{"ChargePeriodStart": `"2026-11-03T08:00:00+08:00"`}, "ChargePeriodStart", RuleDateTime},
		{"a date without time", map[string]string{"BillingPeriodStart": `"2026-11-01"`}, "BillingPeriodStart", RuleDateTime},
		{"a time without Z", map[string]string{"ChargePeriodEnd": `"2026-11-04T00:00:00"`}, "ChargePeriodEnd", RuleDateTime},
		{"an impossible date", map[string]string{"ChargePeriodEnd": `"2026-02-30T00:00:00Z"`}, "ChargePeriodEnd", RuleDateTime},
		{"a float-rounded decimal", map[string]string{"BilledCost": `0.30000000000000004`}, "BilledCost", RuleFloat},
		{"a float-rounded decimal below", map[string]string{"ListCost": `434.99999999999994`}, "ListCost", RuleFloat},
		{"a decimal as a string", map[string]string{"EffectiveCost": `"9"`}, "EffectiveCost", RuleType},
		{"a positive exponent's sign", map[string]string{"ContractedCost": `9.6E+0`}, "ContractedCost", RuleNumeric},
		{"a negative unit price", map[string]string{"ListUnitPrice": `-0.5`}, "ListUnitPrice", RuleNegative},
		{"a nested tag value", map[string]string{"Tags": `{"env":{"k":"v"}}`}, "Tags", RuleKeyValue},
		{"an array tag value", map[string]string{"Tags": `{"env":["a"]}`}, "Tags", RuleKeyValue},
		{"a duplicate tag key", map[string]string{"Tags": `{"env":"a","env":"b"}`}, "Tags", RuleKeyValue},
		{"tags that are not an object", map[string]string{"Tags": `["env"]`}, "Tags", RuleKeyValue},
		{"a string that is not serialized JSON", map[string]string{"Tags": `"env=prod"`}, "Tags", RuleKeyValue},
		{"a SkuPriceDetails key of its own without x_", map[string]string{"SkuPriceDetails": `{"Speed":1}`}, "SkuPriceDetails", RuleKeyValue},
		{"an unprefixed custom column", map[string]string{"CostUnit": `"team"`}, "CostUnit", RuleUnknown},
		{"a custom column with another prefix", map[string]string{"X_CostUnit": `"team"`}, "X_CostUnit", RuleUnknown},
		{"two currencies", map[string]string{"BillingCurrency": `"USD,CNY"`}, "BillingCurrency", RuleCurrency},
		{"a virtual currency for billing", map[string]string{"BillingCurrency": `"XAU"`}, "BillingCurrency", RuleCurrency},
		{"a lowercase currency", map[string]string{"BillingCurrency": `"usd"`}, "BillingCurrency", RuleCurrency},
		{"an empty string for no value", map[string]string{"ResourceName": `""`}, "ResourceName", RuleEmpty},
		{"a number for a string", map[string]string{"BillingAccountId": `12345`}, "BillingAccountId", RuleType},
		{"a charge period outside the billing period", map[string]string{"ChargePeriodEnd": `"2026-12-01T16:00:00Z"`}, "ChargePeriodStart", RulePeriod},
		{"a charge period that ends before it starts", map[string]string{"ChargePeriodEnd": `"2026-11-02T00:00:00Z"`}, "ChargePeriodEnd", RulePeriod},
		{"a unit price that does not make the cost", map[string]string{"ListUnitPrice": `0.6`}, "ListCost", RuleProduct},
		{"a quantity without a unit", map[string]string{"PricingUnit": `null`}, "PricingUnit", RuleNullability},
		{"a usage charge without a quantity", map[string]string{"ConsumedQuantity": `null`, "ConsumedUnit": `null`}, "ConsumedQuantity", RuleNullability},
		{"a purchase with a consumed quantity", map[string]string{"ChargeCategory": `"Purchase"`, "ChargeFrequency": `"One-Time"`}, "ConsumedQuantity", RuleNullability},
		{"a usage-based purchase", map[string]string{"ChargeCategory": `"Purchase"`, "ConsumedQuantity": `null`, "ConsumedUnit": `null`}, "ChargeFrequency", RuleRelation},
		{"a usage charge without a SKU", map[string]string{"SkuId": `null`, "SkuMeter": `null`}, "SkuId", RuleNullability},
		{"a tax with a unit price", map[string]string{"ChargeCategory": `"Tax"`, "ConsumedQuantity": `null`, "ConsumedUnit": `null`}, "ListUnitPrice", RuleNullability},
		{"a region name without its ID", map[string]string{"RegionId": `null`}, "RegionName", RuleNullability},
		{"a resource name without its resource", map[string]string{"ResourceId": `null`, "ResourceType": `null`}, "ResourceName", RuleNullability},
		{"a credit whose effective cost is not billed", map[string]string{"ChargeCategory": `"Credit"`, "ConsumedQuantity": `null`, "ConsumedUnit": `null`, "EffectiveCost": `1`}, "EffectiveCost", RuleRelation},
		{"a column given twice", map[string]string{"BilledCost\":9,\"BilledCost": `9`}, "BilledCost", RuleDuplicate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := Check(goodRow(tc.changes))
			for _, v := range vs {
				if v.Column == tc.column && v.Rule == tc.rule {
					return
				}
			}
			t.Fatalf("want %s on %s, got %v", tc.rule, tc.column, vs)
		})
	}
}

func TestDataset_RequiresTheColumnsTheProviderCallsFor(t *testing.T) {
	d := Dataset{Present: []string{"RegionId", "InvoiceId"}}
	vs := d.Check(goodRow(nil))
	if len(vs) != 1 || vs[0].Column != "InvoiceId" || vs[0].Rule != RuleMissing {
		t.Fatalf("want InvoiceId missing, got %v", vs)
	}
	if vs := Check(goodRow(map[string]string{"RegionId": "", "RegionName": ""})); len(vs) != 0 {
		t.Fatalf("a Conditional column absent from a row of no dataset: %v", vs)
	}
}

func TestCheck_RejectsWhatIsNoRow(t *testing.T) {
	for _, data := range []string{``, `[]`, `"row"`, `{"BilledCost":1`, `{} {}`} {
		vs := Check([]byte(data))
		if len(vs) != 1 || vs[0].Rule != RuleJSON {
			t.Errorf("%q: want one json violation, got %v", data, vs)
		}
	}
}

func TestFloatArtifact(t *testing.T) {
	for text, want := range map[string]bool{
		"0.30000000000000004": true, "434.99999999999994": true, "1.2100000000000002": true,
		"0.3": false, "12.3456": false, "0.1234567890123456": false, "123456789.123456789": false,
		"-0.30000000000000004": true, "3.0000000000000004E-5": true, "100": false,
	} {
		if got := floatArtifact(text); got != want {
			t.Errorf("floatArtifact(%s) = %v, want %v", text, got, want)
		}
	}
}

func TestSummarize_CountsAndFindsColumnsMissingFromSomeRows(t *testing.T) {
	s := Summarize([][]byte{goodRow(nil), goodRow(map[string]string{"AvailabilityZone": ""}), goodRow(map[string]string{"BilledCost": "null"})})
	if s.Rows != 3 || s.Conformant != 2 || s.ByRule[RuleNull] != 1 || s.ByRule[RuleDataset] != 1 || s.OK() {
		t.Fatalf("summary: %s", s)
	}
	if !strings.Contains(s.String(), "3 rows, 2 conformant") || !strings.Contains(s.String(), "the set: AvailabilityZone: dataset: in 2 of 3 rows") {
		t.Fatalf("summary text: %s", s)
	}
}
