package focus

import (
	"math/big"
	"strings"
)

// amounts are a row's four costs, as decimal text.
type amounts struct{ list, contracted, billed, effective string }

// costs are the row's costs from Alibaba's amounts:
//
//	ListCost       <- PretaxGrossAmount                 the price list's cost of the line (原价)
//	ContractedCost <- PretaxGrossAmount - InvoiceDiscount the cost after the account's
//	                                                       discounts (优惠): its agreed price
//	BilledCost     <- PretaxAmount                      what is payable (应付): after coupons too
//	EffectiveCost  <- PretaxAmount                      0 for a purchase covering future days;
//	                                                       amortized shares are added later
//
// Cash coupons, prepaid cards and outstanding amounts are ways to pay what is payable:
// they leave BilledCost as it is (x_ columns keep them). An adjustment is a charge of its
// own (FOCUS: unrelated to other charges): all four are its PretaxAmount.
func costs(it item, category string, purchase bool) (amounts, error) {
	gross, err := it.amount("PretaxGrossAmount")
	if err != nil {
		return amounts{}, err
	}
	discount, err := it.amount("InvoiceDiscount")
	if err != nil {
		return amounts{}, err
	}
	billed, err := it.amount("PretaxAmount")
	if err != nil {
		return amounts{}, err
	}
	if category == "Adjustment" {
		return amounts{billed, billed, billed, billed}, nil
	}
	g, _ := parseDec(gross)
	d, _ := parseDec(discount)
	a := amounts{list: gross, contracted: formatDec(sub(g, d)), billed: billed, effective: billed}
	if purchase {
		a.effective = "0"
	}
	return a, nil
}

// price is a row's pricing quantity, unit and list unit price.
type price struct{ quantity, unit, listUnit string }

// pricing: the line's Usage in its UsageUnit at its ListPrice when those make its
// ListCost (ListPrice x Usage, rounded to the digits ListCost is written with, is
// ListCost: FOCUS's "the product MUST match"); otherwise the line as one unit ("Units",
// -1 for a negative line) at a unit price of |ListCost|, so that the product is ListCost
// exactly. An adjustment has none (FOCUS: they may be null for it).
func pricing(it item, category, listCost string) price {
	if category == "Adjustment" {
		return price{}
	}
	list, err := parseDec(listCost)
	if err != nil {
		return price{}
	}
	if p, ok := usagePrice(it, list, scaleOf(listCost)); ok {
		return p
	}
	q := "1"
	if list.Sign() < 0 {
		q = "-1"
	}
	return price{quantity: q, unit: "Units", listUnit: formatDec(new(big.Rat).Abs(list))}
}

func usagePrice(it item, list *big.Rat, scale int) (price, bool) {
	usage, unitPrice, u := strings.TrimSpace(it.s("Usage")), strings.TrimSpace(it.s("ListPrice")), unit(it.s("UsageUnit"))
	if usage == "" || unitPrice == "" || u == "" {
		return price{}, false
	}
	q, err1 := parseDec(usage)
	p, err2 := parseDec(unitPrice)
	if err1 != nil || err2 != nil || p.Sign() < 0 {
		return price{}, false
	}
	if roundTo(new(big.Rat).Mul(q, p), scale).Cmp(list) != 0 {
		return price{}, false
	}
	qs, _ := plainNumber(usage)
	ps, _ := plainNumber(unitPrice)
	return price{quantity: qs, unit: u, listUnit: ps}, true
}

// consumed is a usage row's ConsumedQuantity and ConsumedUnit: its Usage in its UsageUnit,
// else its pricing quantity and unit; null for any other row (FOCUS).
func consumed(it item, category string, p price) (quantity, u string) {
	if category != "Usage" {
		return "", ""
	}
	usage, uu := strings.TrimSpace(it.s("Usage")), unit(it.s("UsageUnit"))
	if q, err := plainNumber(usage); err == nil && usage != "" && uu != "" {
		return q, uu
	}
	return p.quantity, p.unit
}
