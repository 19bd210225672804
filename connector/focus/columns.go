package focus

import (
	"strings"
)

// columns is the FOCUS row of the instance row: FOCUS's columns in alphabetical order
// (FOCUS allows it), then the custom ones.
func (m mapped) columns() columns {
	it := m.it
	var c columns
	c.str("AvailabilityZone", it.s("Zone"))
	c.num("BilledCost", m.costs.billed)
	m.accounts(&c)
	periods(&c, m.day) // BillingPeriodEnd, BillingPeriodStart, ChargePeriodEnd, ChargePeriodStart
	m.charge(&c)
	m.quantities(&c)
	c.num("ContractedCost", m.costs.contracted)
	c.num("EffectiveCost", m.costs.effective)
	c.str("InvoiceIssuerName", provider)
	c.num("ListCost", m.costs.list)
	c.num("ListUnitPrice", m.price.listUnit)
	c.str("PricingCategory", pricingCategory(it, m.category))
	c.num("PricingQuantity", m.price.quantity)
	c.str("PricingUnit", m.price.unit)
	c.str("ProviderName", provider)
	c.str("PublisherName", provider)
	id, name := region(it.s("Region"), it.s("Zone"))
	c.str("RegionId", id)
	c.str("RegionName", name)
	m.resource(&c)
	m.service(&c)
	m.sku(&c, id)
	c.str("SubAccountId", it.s("OwnerID"))
	c.str("SubAccountName", subAccountName(it))
	c.put("Tags", tags(it.s("Tag")))
	c = append(c, it.customs()...)
	c.put("x_Amortized", []byte("false"))
	return c
}

// accounts: the bill's account (the payer) is the billing account, its owner's account
// the sub account.
func (m mapped) accounts(c *columns) {
	id := m.it.s("BillAccountID")
	if id == "" {
		id = m.it.s("OwnerID")
	}
	c.str("BillingAccountId", id)
	c.str("BillingAccountName", m.it.s("BillAccountName"))
	c.str("BillingCurrency", strings.TrimSpace(m.it.s("Currency")))
}

// subAccountName: the instance bill names the owner by its ID only (OwnerName where an
// answer has it, the bill account's name when the owner is the payer).
func subAccountName(it item) string {
	switch {
	case it.s("OwnerID") == "":
		return ""
	case it.s("OwnerName") != "":
		return it.s("OwnerName")
	case it.s("OwnerID") == it.s("BillAccountID") && it.s("BillAccountName") != "":
		return it.s("BillAccountName")
	}
	return it.s("OwnerID")
}

func (m mapped) charge(c *columns) {
	c.str("ChargeCategory", m.category)
	c.str("ChargeClass", chargeClass(m.category))
	c.str("ChargeDescription", description(m.it))
	c.str("ChargeFrequency", chargeFrequency(m.it, m.category))
}

// description: the product and the billing item ("云服务器 ECS - 实例规格").
func description(it item) string {
	product := firstOf(it.s("ProductName"), it.s("ProductCode"))
	parts := []string{}
	for _, p := range []string{product, firstOf(it.s("BillingItem"), it.s("BillingItemCode"))} {
		if strings.TrimSpace(p) != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " - ")
}

func firstOf(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func (m mapped) quantities(c *columns) {
	q, u := consumed(m.it, m.category, m.price)
	c.num("ConsumedQuantity", q)
	c.str("ConsumedUnit", u)
}

// resource: the instance, its nickname (not when it is only the ID again) and product.
func (m mapped) resource(c *columns) {
	id := m.it.s("InstanceID")
	c.str("ResourceId", id)
	name := m.it.s("NickName")
	if id == "" || name == id {
		name = ""
	}
	c.str("ResourceName", name)
	typ := ""
	if id != "" {
		typ = firstOf(m.it.s("ProductName"), m.it.s("ProductCode"), m.it.s("CommodityCode"))
	}
	c.str("ResourceType", typ)
}

func (m mapped) service(c *columns) {
	s := serviceOf(strings.ToLower(strings.TrimSpace(m.it.s("ProductCode"))))
	c.str("ServiceCategory", s.category)
	c.str("ServiceName", firstOf(m.it.s("ProductName"), m.it.s("ProductCode"), m.it.s("CommodityCode"), provider))
	c.str("ServiceSubcategory", s.subcategory)
}

// sku: SkuId is the product and billing item (the same for pay-as-you-go and
// subscription); SkuPriceId adds what the price depends on (commodity, specification,
// region); SkuMeter is the billing item's name. The instance bill carries no price-list
// ID: these are keys built from its fields.
func (m mapped) sku(c *columns, regionID string) {
	it := m.it
	item := firstOf(it.s("BillingItemCode"), it.s("BillingItem"))
	skuID := joinNonEmpty(firstOf(it.s("ProductCode"), it.s("CommodityCode")), item)
	c.str("SkuId", skuID)
	meter := ""
	if skuID != "" {
		meter = firstOf(it.s("BillingItem"), it.s("BillingItemCode"), it.s("ProductName"))
	}
	c.str("SkuMeter", meter)
	price := ""
	if skuID != "" {
		price = joinNonEmpty(skuID, it.s("CommodityCode"), it.s("InstanceSpec"), regionID)
	}
	c.str("SkuPriceId", price)
}

func joinNonEmpty(parts ...string) string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}
