package focus

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	checker "github.com/cloudbill/alicloud-billing-source/testing/focus"
)

// base is a pay-as-you-go line of DescribeInstanceBill, amounts as raw JSON numbers.
func base() map[string]any {
	return map[string]any{
		"BillingDate": "2026-03-01", "BillAccountID": "100", "BillAccountName": "payer", "OwnerID": "200",
		"ProductCode": "ecs", "ProductName": "云服务器 ECS", "CommodityCode": "ecs", "InstanceID": "i-1",
		"NickName": "web", "BillingItemCode": "instance_type", "BillingItem": "实例规格", "SubscriptionType": "PayAsYouGo",
		"Item": "PayAsYouGoBill", "Currency": "CNY", "Region": "华东1（杭州）", "Zone": "cn-hangzhou-h",
		"Usage": "24", "UsageUnit": "小时", "ListPrice": "0.5", "ListPriceUnit": "元/小时", "ServicePeriod": "86400",
		"ServicePeriodUnit": "秒", "Tag": "", "CostUnit": "", "ResourceGroup": "rg-1",
		"PretaxGrossAmount": json.Number("12"), "InvoiceDiscount": json.Number("1.2"), "DeductedByCoupons": json.Number("0"),
		"PretaxAmount": json.Number("10.8"), "PaymentAmount": json.Number("10.8"), "CashAmount": json.Number("10.8"),
		"DeductedByResourcePackage": "0",
	}
}

func instance(t *testing.T, changes map[string]any) bill.InstanceRow {
	t.Helper()
	m := base()
	for k, v := range changes {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bill.ParseInstance(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mapRowT maps a line and returns its row, its data as raw columns, and its purchase.
func mapRowT(t *testing.T, changes map[string]any) (Row, map[string]json.RawMessage, *Purchase) {
	t.Helper()
	row, p, err := Map(instance(t, changes))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := row.AppendData(nil)
	if vs := checker.Check(data); len(vs) != 0 {
		t.Fatalf("the row does not conform: %v\n%s", vs, data)
	}
	var cols map[string]json.RawMessage
	if err := json.Unmarshal(data, &cols); err != nil {
		t.Fatal(err)
	}
	return row, cols, p
}

func want(t *testing.T, cols map[string]json.RawMessage, expect map[string]string) {
	t.Helper()
	for k, v := range expect {
		if got := string(cols[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
}

func TestMap_PeriodsAreTheUTC8DayAndMonthInUTC(t *testing.T) {
	_, cols, _ := mapRowT(t, nil)
	want(t, cols, map[string]string{
		"ChargePeriodStart": `"2026-02-28T16:00:00Z"`, "ChargePeriodEnd": `"2026-03-01T16:00:00Z"`,
		"BillingPeriodStart": `"2026-02-28T16:00:00Z"`, "BillingPeriodEnd": `"2026-03-31T16:00:00Z"`,
		"x_BillingDate": `"2026-03-01"`, "VanceType": `"alicloud.focus_billing.daily"`, "VanceSource": `"cloud.alicloud.billing"`,
	})
}

func TestMap_CostsFromAlibabasAmounts(t *testing.T) {
	row, cols, _ := mapRowT(t, map[string]any{"PretaxGrossAmount": json.Number("100"), "InvoiceDiscount": json.Number("10"),
		"DeductedByCoupons": json.Number("5"), "PretaxAmount": json.Number("85"), "Usage": "200", "ListPrice": "0.5"})
	want(t, cols, map[string]string{"ListCost": "100", "ContractedCost": "90", "BilledCost": "85", "EffectiveCost": "85",
		"ListUnitPrice": "0.5", "PricingQuantity": "200", "PricingUnit": `"Hours"`, "ConsumedQuantity": "200", "x_DeductedByCoupons": "5"})
	if row.BilledCost() != "85" || row.EffectiveCost() != "85" {
		t.Fatalf("BilledCost %s EffectiveCost %s", row.BilledCost(), row.EffectiveCost())
	}
}

// No float64 on the way: digits a float64 cannot hold arrive as the API wrote them, and
// a number with an exponent is written out without a "+" (FOCUS's numeric format).
func TestMap_KeepsTheAPIsDigits(t *testing.T) {
	_, cols, _ := mapRowT(t, map[string]any{"PretaxAmount": json.Number("12345678901.123456789"),
		"PretaxGrossAmount": json.Number("1.5E+1"), "InvoiceDiscount": json.Number("0.1"), "Usage": "", "ListPrice": ""})
	want(t, cols, map[string]string{"BilledCost": "12345678901.123456789", "ListCost": "15", "ContractedCost": "14.9",
		"x_PretaxGrossAmount": "15", "PricingQuantity": "1", "PricingUnit": `"Units"`, "ListUnitPrice": "15"})
}

func TestMap_ChargeCategoryClassFrequencyAndPricing(t *testing.T) {
	for _, tc := range []struct {
		item, sub, pkg                      string
		category, class, frequency, pricing string
	}{
		{"PayAsYouGoBill", "PayAsYouGo", "0", `"Usage"`, "null", `"Usage-Based"`, `"Standard"`},
		{"PayAsYouGoBill", "PayAsYouGo", "12.5GB", `"Usage"`, "null", `"Usage-Based"`, `"Committed"`},
		{"SubscriptionOrder", "Subscription", "0", `"Purchase"`, "null", `"One-Time"`, `"Standard"`},
		{"Refund", "Subscription", "0", `"Purchase"`, "null", `"One-Time"`, `"Standard"`},
		{"Refund", "PayAsYouGo", "0", `"Usage"`, "null", `"Usage-Based"`, `"Standard"`},
		{"Adjustment", "PayAsYouGo", "0", `"Adjustment"`, `"Correction"`, `"One-Time"`, "null"},
		{"SomethingNew", "Subscription", "0", `"Purchase"`, "null", `"One-Time"`, `"Standard"`},
		{"SomethingNew", "PayAsYouGo", "0", `"Usage"`, "null", `"Usage-Based"`, `"Standard"`},
	} {
		_, cols, _ := mapRowT(t, map[string]any{"Item": tc.item, "SubscriptionType": tc.sub, "DeductedByResourcePackage": tc.pkg})
		want(t, cols, map[string]string{"ChargeCategory": tc.category, "ChargeClass": tc.class,
			"ChargeFrequency": tc.frequency, "PricingCategory": tc.pricing})
	}
}

// An adjustment is a charge of its own: all four costs are what it bills.
func TestMap_AdjustmentCostsAreItsBilledCost(t *testing.T) {
	_, cols, _ := mapRowT(t, map[string]any{"Item": "Adjustment", "PretaxGrossAmount": json.Number("-3"),
		"InvoiceDiscount": json.Number("0"), "PretaxAmount": json.Number("-2.5")})
	want(t, cols, map[string]string{"ListCost": "-2.5", "ContractedCost": "-2.5", "BilledCost": "-2.5",
		"EffectiveCost": "-2.5", "ListUnitPrice": "null", "PricingQuantity": "null", "ConsumedQuantity": "null"})
}

func TestTags_ValuesKeptValuelessKeysTrueProviderTagsPrefixed(t *testing.T) {
	for tag, expect := range map[string]string{
		"":         "null",
		" ; ;":     "null",
		"env:prod": `{"env":"prod"}`,
		"cost center:R&D team; 项目:计费 系统": `{"cost center":"R\u0026D team","项目":"计费 系统"}`,
		"endpoint:db.internal:3306":      `{"endpoint":"db.internal:3306"}`,
		"flag;env:prod":                  `{"env":"prod","flag":true}`,
		"empty:":                         `{"empty":""}`,
		"acs:rm:rgId:rg-123;env:a:b":     `{"acs:rm:rgId":"rg-123","env":"a:b"}`,
		"env:a;env:b":                    `{"env":"b"}`,
		":orphan":                        "null",
	} {
		if got := string(tags(tag)); got != expect {
			t.Errorf("tags(%q) = %s, want %s", tag, got, expect)
		}
	}
}

// Every product of the table has a category and subcategory FOCUS allows, the
// subcategory under its category; a code not in it is Other.
func TestProducts_CategoriesAreFOCUSsAndOthersAreOther(t *testing.T) {
	if len(products) < 60 {
		t.Fatalf("the product table has %d products, fewer than 60", len(products))
	}
	for code := range products {
		_, _, _ = mapRowT(t, map[string]any{"ProductCode": code})
	}
	_, cols, _ := mapRowT(t, map[string]any{"ProductCode": "never-heard-of"})
	want(t, cols, map[string]string{"ServiceCategory": `"Other"`, "ServiceSubcategory": `"Other (Other)"`})
	_, cols, _ = mapRowT(t, map[string]any{"ProductCode": "ecs"})
	want(t, cols, map[string]string{"ServiceCategory": `"Compute"`, "ServiceSubcategory": `"Virtual Machines"`})
}

func TestMap_Region(t *testing.T) {
	for _, tc := range []struct{ region, zone, id, name string }{
		{"华东1（杭州）", "", `"cn-hangzhou"`, `"华东1（杭州）"`},
		{"Singapore", "", `"ap-southeast-1"`, `"Singapore"`},
		{"cn-beijing", "", `"cn-beijing"`, `"华北2（北京）"`},
		{"", "ap-southeast-1a", `"ap-southeast-1"`, `"新加坡"`},
		{"火星", "", "null", "null"},
	} {
		_, cols, _ := mapRowT(t, map[string]any{"Region": tc.region, "Zone": tc.zone})
		want(t, cols, map[string]string{"RegionId": tc.id, "RegionName": tc.name})
	}
}

func order(changes map[string]any) map[string]any {
	m := map[string]any{"Item": "SubscriptionOrder", "SubscriptionType": "Subscription", "ServicePeriod": "1",
		"ServicePeriodUnit": "月", "Usage": "1", "UsageUnit": "月", "ListPrice": "120",
		"PretaxGrossAmount": json.Number("120"), "InvoiceDiscount": json.Number("20"), "PretaxAmount": json.Number("100")}
	for k, v := range changes {
		m[k] = v
	}
	return m
}

// A subscription bought for days after its own is a purchase: EffectiveCost 0, its cost
// spread from its day to the day before the same day of the month it ends in.
func TestMap_SubscriptionOrderCoveringFutureDaysIsAPurchase(t *testing.T) {
	for _, tc := range []struct {
		day, period, unit, last string
	}{
		{"2026-11-15", "1", "月", "2026-12-14"},
		{"2026-01-31", "1", "月", "2026-02-27"},
		{"2026-11-15", "3", "天", "2026-11-17"},
		{"2026-11-15", "1", "年", "2027-11-14"},
		{"2026-11-15", "172800", "秒", "2026-11-16"},
	} {
		row, cols, p := mapRowT(t, order(map[string]any{"BillingDate": tc.day, "ServicePeriod": tc.period, "ServicePeriodUnit": tc.unit}))
		if p == nil {
			t.Fatalf("%s for %s %s: no purchase", tc.day, tc.period, tc.unit)
		}
		want(t, cols, map[string]string{"ChargeCategory": `"Purchase"`, "EffectiveCost": "0", "BilledCost": "100"})
		if p.First.String() != tc.day || p.Last.String() != tc.last || p.Cost != "100" || p.Resource != "200/i-1" ||
			p.Identity != row.Identity() || row.Resource() != p.Resource {
			t.Errorf("%s for %s %s: purchase %+v", tc.day, tc.period, tc.unit, p)
		}
	}
}

func TestMap_WhatIsNoPurchase(t *testing.T) {
	for name, changes := range map[string]map[string]any{
		"a subscription of its own day only": {"ServicePeriod": "1", "ServicePeriodUnit": "天"},
		"a period in no unit known":          {"ServicePeriodUnit": "fortnight"},
		"a period that is no number":         {"ServicePeriod": "one"},
		"a period beyond ten years":          {"ServicePeriod": "999999"},
		"an order of no instance":            {"InstanceID": ""},
		"a refund":                           {"Item": "Refund", "PretaxAmount": json.Number("-100")},
	} {
		_, cols, p := mapRowT(t, order(changes))
		if p != nil {
			t.Errorf("%s: a purchase %+v", name, p)
		}
		if string(cols["EffectiveCost"]) != string(cols["BilledCost"]) {
			t.Errorf("%s: EffectiveCost %s, BilledCost %s", name, cols["EffectiveCost"], cols["BilledCost"])
		}
	}
}

func day(t *testing.T, s string) calendar.Day {
	t.Helper()
	d, err := calendar.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPurchase_SharesAreExactAndTheRestFallsOnTheLastDay(t *testing.T) {
	p := Purchase{Cost: "100", First: day(t, "2026-11-15"), Last: day(t, "2026-12-14")}
	sum := new(big.Rat)
	for d := p.First; !p.Last.Before(d); d = d.AddDays(1) {
		s, _ := new(big.Rat).SetString(p.Share(d).String())
		sum.Add(sum, s)
	}
	if sum.Cmp(big.NewRat(100, 1)) != 0 || p.Share(p.First) != "3.33" || p.Share(p.Last) != "3.43" {
		t.Fatalf("shares sum to %s (first %s, last %s)", sum.FloatString(4), p.Share(p.First), p.Share(p.Last))
	}
	if p.Share(p.First.AddDays(-1)) != "0" || p.Share(p.Last.AddDays(1)) != "0" {
		t.Fatal("a day outside the purchase has a share")
	}
	fine := Purchase{Cost: "0.0001234", First: p.First, Last: p.First.AddDays(2)}
	if fine.Share(fine.First) != "0.0000411" || fine.Share(fine.Last) != "0.0000412" {
		t.Fatalf("a cost with more digits than cents: %s, %s", fine.Share(fine.First), fine.Share(fine.Last))
	}
}

// A refund ends the spread: the rest of the cost falls on its day, the daily share stays
// what it was.
func TestPurchase_EndOnPutsTheRestOnTheRefundsDay(t *testing.T) {
	_, _, bought := mapRowT(t, order(map[string]any{"BillingDate": "2026-11-01", "PretaxAmount": json.Number("150")}))
	refundRow := instance(t, order(map[string]any{"BillingDate": "2026-11-10", "Item": "Refund", "PretaxAmount": json.Number("-100")}))
	res, ok := RefundOf(refundRow)
	if !ok || res != bought.Resource {
		t.Fatalf("RefundOf = %q, %v", res, ok)
	}
	if _, ok := RefundOf(instance(t, nil)); ok {
		t.Fatal("a pay-as-you-go line is no refund")
	}
	if _, ok := RefundOf(instance(t, map[string]any{"Item": "Refund", "PretaxAmount": json.Number("-1")})); ok {
		t.Fatal("the refund of a pay-as-you-go charge ended a subscription's spread")
	}
	if !bought.Covers(bought.First) || !bought.Covers(bought.Last) || bought.Covers(bought.Last.AddDays(1)) {
		t.Fatal("Covers is not First..Last")
	}
	ended := bought.EndOn(day(t, "2026-11-10"))
	if ended.Last.String() != "2026-11-10" || ended.Share(day(t, "2026-11-09")) != "5" || ended.Share(ended.Last) != "105" {
		t.Fatalf("ended %s..%s: daily %s, last %s", ended.First, ended.Last, ended.Share(day(t, "2026-11-09")), ended.Share(ended.Last))
	}
	if bought.EndOn(day(t, "2027-01-01")).Last != bought.Last {
		t.Fatal("a refund after the term moved its end")
	}
	early := bought.First.AddDays(-1)
	if e := bought.EndOn(early); e.First != early || e.Last != early || e.Share(early) != bought.Cost {
		t.Fatalf("refunded before its days began: %s..%s, share %s of %s", e.First, e.Last, e.Share(early), bought.Cost)
	}
}

func TestRow_WithShareAddsToEffectiveCostOfUsageOnly(t *testing.T) {
	row, _, _ := mapRowT(t, nil)
	got, err := row.WithShare("3.33")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := got.AppendData(nil)
	if got.EffectiveCost() != "14.13" || got.BilledCost() != "10.8" || !strings.Contains(string(data), `"EffectiveCost":14.13,`) ||
		got.Identity() != row.Identity() {
		t.Fatalf("with a share: EffectiveCost %s, %s", got.EffectiveCost(), data)
	}
	if vs := checker.Check(data); len(vs) != 0 {
		t.Fatal(vs)
	}
	purchase, _, _ := mapRowT(t, order(nil))
	if _, err := purchase.WithShare("1"); !errors.Is(err, ErrNoShare) || purchase.TakesShare() {
		t.Fatalf("a purchase row took a share: %v", err)
	}
}

func TestAmortized_IsAUsageRowOfTheShare(t *testing.T) {
	_, _, p := mapRowT(t, order(map[string]any{"BillingDate": "2026-11-15", "Tag": "env:prod"}))
	a, err := Amortized(*p, day(t, "2026-12-01"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := a.AppendData(nil)
	if vs := checker.Check(data); len(vs) != 0 {
		t.Fatalf("%v\n%s", vs, data)
	}
	var cols map[string]json.RawMessage
	_ = json.Unmarshal(data, &cols)
	want(t, cols, map[string]string{"ChargeCategory": `"Usage"`, "BilledCost": "0", "EffectiveCost": "3.33",
		"x_Amortized": "true", "ResourceId": `"i-1"`, "Tags": `{"env":"prod"}`, "ChargePeriodStart": `"2026-11-30T16:00:00Z"`,
		"BillingPeriodStart": `"2026-11-30T16:00:00Z"`})
	again, _ := Amortized(*p, day(t, "2026-12-01"))
	next, _ := Amortized(*p, day(t, "2026-12-02"))
	if a.Identity() != again.Identity() || a.Identity() == next.Identity() || a.Identity() == p.Identity ||
		a.Date() != "2026-12-01" || a.Resource() != p.Resource || a.Kind() != bill.Focus {
		t.Fatalf("identities %s %s %s, date %s", a.Identity(), again.Identity(), next.Identity(), a.Date())
	}
	if _, err := Amortized(*p, day(t, "2026-12-15")); err == nil {
		t.Fatal("a day after the purchase's last got a row")
	}
	stored, _ := json.Marshal(p)
	var back Purchase
	if err := json.Unmarshal(stored, &back); err != nil || back.Share(back.Last) != p.Share(p.Last) {
		t.Fatalf("a purchase read back from the state: %v", err)
	}
}

func TestMap_RowIsTheInstanceRows(t *testing.T) {
	r := instance(t, nil)
	row, _, err := Map(r)
	if err != nil {
		t.Fatal(err)
	}
	if row.Identity() != r.Identity() || row.Date() != "2026-03-01" || row.Kind() != bill.Focus ||
		strings.Join(row.SubjectParts(), "|") != strings.Join(r.SubjectParts(), "|") || row.Resource() != "200/i-1" {
		t.Fatalf("row %s %v %s", row.Identity(), row.SubjectParts(), row.Resource())
	}
}

// A row that no FOCUS row can be made of is refused with one line that names what it
// lacks, never delivered as a row that does not conform.
func TestMap_RefusesARowWithoutCurrencyOrAccount(t *testing.T) {
	for name, changes := range map[string]map[string]any{
		"no currency":        {"Currency": ""},
		"two currencies":     {"Currency": "CNY,USD"},
		"no account":         {"BillAccountID": "", "OwnerID": ""},
		"a date of no month": {"BillingDate": "2026-13-01"},
	} {
		_, _, err := Map(instance(t, changes))
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
