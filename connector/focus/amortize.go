package focus

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// ErrNoShare: WithShare was asked to add a share to a row that takes none (TakesShare).
var ErrNoShare = errors.New("focus: only a usage row takes an amortized share")

// The columns of a purchase that its amortized rows repeat: what names the resource,
// where it is and who pays for it; never its amounts.
var repeatedColumns = []string{"AvailabilityZone", "BillingAccountId", "BillingAccountName",
	"BillingCurrency", "InvoiceIssuerName", "ProviderName", "PublisherName", "RegionId", "RegionName",
	"ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory",
	"SkuId", "SkuMeter", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
	"x_BillAccountID", "x_OwnerID", "x_ProductCode", "x_ProductName", "x_ProductDetail", "x_ProductType",
	"x_CommodityCode", "x_PipCode", "x_BizType", "x_SubscriptionType", "x_CostUnit", "x_ResourceGroup",
	"x_InstanceID", "x_NickName", "x_InstanceSpec", "x_InstanceConfig", "x_Region", "x_Zone",
	"x_BillingItem", "x_BillingItemCode"}

// repeated is Purchase.Columns: the purchase row's repeated columns, then the term it
// bought (x_CoverageFirst, x_CoverageLast: billing days), which Share divides by even
// after a refund ends the spread early.
func repeated(cols columns, first, last calendar.Day) []byte {
	var out columns
	for _, name := range repeatedColumns {
		if raw, ok := cols.get(name); ok {
			out.put(name, raw)
		}
	}
	out.str("x_CoverageFirst", first.String())
	out.str("x_CoverageLast", last.String())
	return out.appendObject(nil, nil)
}

// TakesShare reports whether the row can carry a purchase's share of a day (WithShare):
// a usage row. A purchase's EffectiveCost stays 0 and a refund's or an adjustment's is its
// BilledCost (FOCUS), so a day on which the resource has only such rows gets an Amortized
// row for the share.
func (r Row) TakesShare() bool { return r.cols.text("ChargeCategory") == "Usage" }

func withShare(r Row, share bill.Amount) (Row, error) {
	if !r.TakesShare() {
		return r, ErrNoShare
	}
	have, err := parseDec(string(r.effect))
	if err != nil {
		return r, fmt.Errorf("row EffectiveCost %w", err)
	}
	s, err := parseDec(string(share))
	if err != nil {
		return r, fmt.Errorf("share %w", err)
	}
	eff := formatDec(add(have, s))
	cols := r.cols.set("EffectiveCost", []byte(eff))
	out := newRow(cols, r.identity, r.subject, r.resource)
	return out, nil
}

// EndOn is the purchase whose spread ends on day (a refund's day, RefundOf): its Last is
// day, where the rest of its cost then falls; refunded before First, its whole cost falls
// on day (First and Last are day), so that its EffectiveCost plus the refund's is what was
// billed; a day after Last changes nothing.
func (p Purchase) EndOn(day calendar.Day) Purchase {
	switch {
	case day.Before(p.First):
		p.First, p.Last = day, day
	case day.Before(p.Last):
		p.Last = day
	}
	return p
}

// Covers reports whether day is one of First..Last: a day the purchase has a share of.
func (p Purchase) Covers(day calendar.Day) bool { return !day.Before(p.First) && !p.Last.Before(day) }

// dayIndex is the number of days from a to b (0 when they are the same day).
func dayIndex(a, b calendar.Day) int {
	ta := time.Date(a.Year, a.Month, a.Day, 12, 0, 0, 0, time.UTC)
	tb := time.Date(b.Year, b.Month, b.Day, 12, 0, 0, 0, time.UTC)
	return int(tb.Sub(ta).Round(time.Hour) / (24 * time.Hour))
}

// share: the purchase's cost cut in equal daily parts over the term it bought (to the
// cent, or to the cost's own digits when it has more, toward zero), and on Last the rest:
// the shares of First..Last sum to Cost exactly, whether Last is the term's end or the day
// a refund ended it.
func share(p Purchase, day calendar.Day) bill.Amount {
	if !p.Covers(day) {
		return "0"
	}
	cost, err := parseDec(string(p.Cost))
	if err != nil {
		return "0"
	}
	termLast := p.Last
	var cols struct {
		Last string `json:"x_CoverageLast"`
	}
	if json.Unmarshal(p.Columns, &cols) == nil {
		if d, err := calendar.Parse(cols.Last); err == nil && !d.Before(p.Last) {
			termLast = d
		}
	}
	n := int64(dayIndex(p.First, termLast) + 1)
	scale := max(2, scaleOf(string(p.Cost)))
	unit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	scaled := new(big.Rat).Mul(cost, new(big.Rat).SetInt(unit))
	whole := new(big.Int).Quo(scaled.Num(), scaled.Denom()) // cost in units, exact (scale >= cost's)
	base := new(big.Rat).SetFrac(new(big.Int).Quo(whole, big.NewInt(n)), unit)
	if day != p.Last {
		return bill.Amount(formatDec(base))
	}
	before := new(big.Rat).Mul(base, new(big.Rat).SetInt64(int64(dayIndex(p.First, p.Last))))
	return bill.Amount(formatDec(sub(cost, before)))
}

// amortized: see Amortized.
func amortized(p Purchase, day calendar.Day) (Row, error) {
	if !p.Covers(day) {
		return Row{}, fmt.Errorf("day %s is outside the purchase's %s..%s", day, p.First, p.Last)
	}
	return amortizedRow(p, day, share(p, day))
}

// amortizedRetraction: see AmortizedRetraction.
func amortizedRetraction(p Purchase, day calendar.Day) (Row, error) {
	r, err := amortizedRow(p, day, "0")
	if err != nil {
		return Row{}, err
	}
	return zeroed(r), nil
}

// amortizedRow is the purchase's amortized row of day, its EffectiveCost the share.
func amortizedRow(p Purchase, day calendar.Day, share bill.Amount) (Row, error) {
	rep, err := readObject(p.Columns)
	if err != nil {
		return Row{}, fmt.Errorf("purchase columns: %w", err)
	}
	from := func(c *columns, name string) {
		if raw, ok := rep.get(name); ok {
			c.put(name, raw)
			return
		}
		c.put(name, jsonNull)
	}
	var c columns
	from(&c, "AvailabilityZone")
	c.num("BilledCost", "0")
	for _, n := range []string{"BillingAccountId", "BillingAccountName", "BillingCurrency"} {
		from(&c, n)
	}
	periods(&c, day)
	c.str("ChargeCategory", "Usage")
	c.put("ChargeClass", jsonNull)
	c.str("ChargeDescription", "amortized share of the subscription bought on "+p.First.String()+
		" ("+rep.text("ServiceName")+")")
	c.str("ChargeFrequency", "Recurring")
	c.num("ConsumedQuantity", "1")
	c.str("ConsumedUnit", "Days")
	c.num("ContractedCost", "0")
	c.num("EffectiveCost", string(share))
	from(&c, "InvoiceIssuerName")
	c.num("ListCost", "0")
	c.num("ListUnitPrice", "0")
	c.str("PricingCategory", "Standard")
	c.num("PricingQuantity", "1")
	c.str("PricingUnit", "Days")
	for _, n := range repeatedColumns[5:] {
		from(&c, n)
	}
	from(&c, "x_CoverageFirst")
	from(&c, "x_CoverageLast")
	c.str("x_BillingDate", day.String())
	c.put("x_Amortized", []byte("true"))
	id := AmortizedIdentity(p, day)
	subject := []string{day.String(), rep.text("SubAccountId"), rep.text("ResourceId"), "amortized"}
	return newRow(c, id, subject, p.Resource), nil
}

// identityOf is a JSON array of parts, as the bill package makes identities.
func identityOf(parts ...string) string {
	b, _ := json.Marshal(parts)
	return string(b)
}
