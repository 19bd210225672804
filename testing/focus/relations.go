package focus

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// relations are the MUSTs that tie a column to others, each checked when the columns it
// names are in the row (a Conditional column that is absent is the dataset's choice).
func relations(r row) []Violation {
	var out []Violation
	out = append(out, pricingNulls(r)...)
	out = append(out, pairedNulls(r)...)
	out = append(out, quantityNulls(r)...)
	out = append(out, periods(r)...)
	out = append(out, products(r)...)
	out = append(out, sameAsBilled(r)...)
	if r.str("ChargeCategory") == "Purchase" && r.str("ChargeFrequency") == "Usage-Based" {
		out = append(out, Violation{"ChargeFrequency", RuleRelation, `"Usage-Based" on a Purchase`})
	}
	if sub, cat := r.str("ServiceSubcategory"), r.str("ServiceCategory"); sub != "" && cat != "" &&
		contains(columns["ServiceSubcategory"].allowed, sub) && !contains(serviceSubcategories[cat], sub) {
		out = append(out, Violation{"ServiceSubcategory", RuleRelation, fmt.Sprintf("%q is not a subcategory of %q", sub, cat)})
	}
	return out
}

// pricingNulls: these are null for Tax, and not null for Usage and Purchase that are not
// a correction (pricingquantity.md, listunitprice.md, skuid.md, ...).
func pricingNulls(r row) []Violation {
	var out []Violation
	cat, correction := r.str("ChargeCategory"), r.str("ChargeClass") == "Correction"
	for _, name := range []string{"PricingQuantity", "ListUnitPrice", "ContractedUnitPrice", "PricingCategory",
		"SkuId", "SkuPriceId", "PricingCurrencyListUnitPrice", "PricingCurrencyContractedUnitPrice"} {
		switch {
		case !r.present(name):
		case cat == "Tax" && r.set(name):
			out = append(out, Violation{name, RuleNullability, "not null on a Tax charge"})
		case (cat == "Usage" || cat == "Purchase") && !correction && r.null(name):
			out = append(out, Violation{name, RuleNullability, "null on a " + cat + " charge that is not a correction"})
		}
	}
	return out
}

// pairedNulls: a column that is null exactly when another is (iff), or null whenever
// another is (ifNull).
func pairedNulls(r row) []Violation {
	var out []Violation
	iff := [][2]string{{"PricingUnit", "PricingQuantity"}, {"ConsumedUnit", "ConsumedQuantity"},
		{"RegionName", "RegionId"}, {"ResourceType", "ResourceId"}, {"SubAccountName", "SubAccountId"},
		{"SubAccountType", "SubAccountId"}, {"BillingAccountType", "BillingAccountId"},
		{"CommitmentDiscountCategory", "CommitmentDiscountId"}, {"CommitmentDiscountType", "CommitmentDiscountId"},
		{"CommitmentDiscountUnit", "CommitmentDiscountQuantity"}}
	for _, p := range iff {
		if r.present(p[0]) && r.present(p[1]) && r.null(p[0]) != r.null(p[1]) {
			out = append(out, Violation{p[0], RuleNullability, fmt.Sprintf("null must go with a null %s, and only with it", p[1])})
		}
	}
	ifNull := [][2]string{{"ResourceName", "ResourceId"}, {"SkuMeter", "SkuId"}, {"SkuPriceDetails", "SkuPriceId"},
		{"CommitmentDiscountName", "CommitmentDiscountId"}, {"CommitmentDiscountStatus", "CommitmentDiscountId"},
		{"CapacityReservationStatus", "CapacityReservationId"}}
	for _, p := range ifNull {
		if r.set(p[0]) && r.present(p[1]) && r.null(p[1]) {
			out = append(out, Violation{p[0], RuleNullability, "not null while " + p[1] + " is null"})
		}
	}
	usage := r.str("ChargeCategory") == "Usage"
	for _, p := range [][2]string{{"CommitmentDiscountStatus", "CommitmentDiscountId"}, {"CapacityReservationStatus", "CapacityReservationId"}} {
		if usage && r.null(p[0]) && r.set(p[1]) {
			out = append(out, Violation{p[0], RuleNullability, "null on Usage with a " + p[1]})
		}
	}
	return out
}

// quantityNulls: ConsumedQuantity and CommitmentDiscountQuantity (consumedquantity.md,
// commitmentdiscountquantity.md).
func quantityNulls(r row) []Violation {
	var out []Violation
	cat, correction := r.str("ChargeCategory"), r.str("ChargeClass") == "Correction"
	unused := r.str("CommitmentDiscountStatus") == "Unused"
	if r.present("ConsumedQuantity") {
		switch {
		case (cat != "Usage" || unused) && r.set("ConsumedQuantity"):
			out = append(out, Violation{"ConsumedQuantity", RuleNullability, "not null on a charge that is not used Usage"})
		case cat == "Usage" && !unused && !correction && r.null("ConsumedQuantity"):
			out = append(out, Violation{"ConsumedQuantity", RuleNullability, "null on Usage that is not a correction"})
		}
	}
	if r.present("CommitmentDiscountQuantity") {
		related := (cat == "Usage" || cat == "Purchase") && r.set("CommitmentDiscountId")
		switch {
		case !related && r.set("CommitmentDiscountQuantity"):
			out = append(out, Violation{"CommitmentDiscountQuantity", RuleNullability, "not null without a commitment discount's Usage or Purchase"})
		case related && !correction && r.null("CommitmentDiscountQuantity"):
			out = append(out, Violation{"CommitmentDiscountQuantity", RuleNullability, "null on a commitment discount's Usage or Purchase"})
		}
	}
	return out
}

// periods: each period ends after it starts, and the charge period is within the
// billing period.
func periods(r row) []Violation {
	at := map[string]time.Time{}
	for _, n := range []string{"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"} {
		t, err := time.Parse("2006-01-02T15:04:05Z", r.str(n))
		if err != nil || !isDateTime(r.str(n)) {
			return nil // reported by the column's own check
		}
		at[n] = t
	}
	var out []Violation
	if !at["BillingPeriodStart"].Before(at["BillingPeriodEnd"]) {
		out = append(out, Violation{"BillingPeriodEnd", RulePeriod, "not after BillingPeriodStart"})
	}
	if !at["ChargePeriodStart"].Before(at["ChargePeriodEnd"]) {
		out = append(out, Violation{"ChargePeriodEnd", RulePeriod, "not after ChargePeriodStart"})
	}
	if at["ChargePeriodStart"].Before(at["BillingPeriodStart"]) || at["BillingPeriodEnd"].Before(at["ChargePeriodEnd"]) {
		out = append(out, Violation{"ChargePeriodStart", RulePeriod, "the charge period is not within the billing period"})
	}
	return out
}

// products: ListUnitPrice x PricingQuantity matches ListCost, and ContractedUnitPrice x
// PricingQuantity ContractedCost, unless the row is a correction. A provider writes a
// line's cost rounded: the product matches when it is the cost, or rounds (half away
// from zero) to it at the digits after the point the cost is written with.
func products(r row) []Violation {
	if r.str("ChargeClass") == "Correction" {
		return nil
	}
	var out []Violation
	for _, p := range [][2]string{{"ListUnitPrice", "ListCost"}, {"ContractedUnitPrice", "ContractedCost"}} {
		price, q, cost := r.dec(p[0]), r.dec("PricingQuantity"), r.dec(p[1])
		if price == nil || q == nil || cost == nil {
			continue
		}
		product := new(big.Rat).Mul(price, q)
		if product.Cmp(cost) != 0 && roundTo(product, scaleOf(r[p[1]].str)).Cmp(cost) != 0 {
			out = append(out, Violation{p[1], RuleProduct, fmt.Sprintf("%s x PricingQuantity is %s, not %s",
				p[0], product.FloatString(8), r[p[1]].str)})
		}
	}
	return out
}

// sameAsBilled: a Credit is a charge unrelated to others: its EffectiveCost, and its
// ListCost and ContractedCost when their unit price is null, are its BilledCost.
func sameAsBilled(r row) []Violation {
	billed := r.dec("BilledCost")
	if r.str("ChargeCategory") != "Credit" || billed == nil {
		return nil
	}
	var out []Violation
	for _, p := range [][2]string{{"EffectiveCost", ""}, {"ListCost", "ListUnitPrice"}, {"ContractedCost", "ContractedUnitPrice"}} {
		if c := r.dec(p[0]); c != nil && (p[1] == "" || !r.set(p[1])) && c.Cmp(billed) != 0 {
			out = append(out, Violation{p[0], RuleRelation, "a Credit's " + p[0] + " is its BilledCost"})
		}
	}
	return out
}

// dec is a decimal column's value, nil when it is absent, null or not a number.
func (r row) dec(name string) *big.Rat {
	v, ok := r[name]
	if !ok || v.kind != kNumber {
		return nil
	}
	d, ok := new(big.Rat).SetString(v.str)
	if !ok {
		return nil
	}
	return d
}

// scaleOf is the number of digits after the point a decimal's text writes ("1.50" 2,
// "1.5E-7" 8).
func scaleOf(s string) int {
	parts := strings.SplitN(strings.ToLower(s), "e", 2)
	n := 0
	if i := strings.IndexByte(parts[0], '.'); i >= 0 {
		n = len(parts[0]) - i - 1
	}
	if len(parts) == 2 {
		if e, err := strconv.Atoi(parts[1]); err == nil && e < 64 && e > -64 {
			n -= e
		}
	}
	return max(n, 0)
}

// roundTo is x rounded half away from zero to scale digits after the point.
func roundTo(x *big.Rat, scale int) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	y := new(big.Rat).Mul(x, new(big.Rat).SetInt(p))
	num := new(big.Int).Abs(y.Num())
	q, rem := new(big.Int).QuoRem(num, y.Denom(), new(big.Int))
	if new(big.Int).Mul(rem, big.NewInt(2)).Cmp(y.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if y.Sign() < 0 {
		q.Neg(q)
	}
	return new(big.Rat).SetFrac(q, p)
}
