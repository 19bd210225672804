package billing

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/bssopenapi"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// MaxOverviewItems is the most items a month's overview is believed to have (one per
// product, billing mode and currency, and a few more lines of each): an answer with more
// is taken for a broken one.
const MaxOverviewItems = 10_000

// OverviewItem is one item of a month's QueryBillOverview: a product's figures in one
// billing mode and currency, with the API's digits.
type OverviewItem struct {
	ProductCode, ProductName, SubscriptionType, Currency string
	PretaxGrossAmount, PretaxAmount, PaymentAmount       bill.Amount
}

// Overview is the answer of QueryBillOverview for a month: Alibaba's own monthly figures,
// the ones finance teams reconcile against.
type Overview struct {
	Cycle     string // the answer's BillingCycle: the month asked for
	AccountID string // the answer's AccountID ("" when it has none)
	Items     []OverviewItem
}

// Overview reads the month's overview of the account (BillOwnerId for a member), in one
// call, paced and retried as every call. Its answer is read from the body as the bills'
// are (bill.Members): an amount that is not a number, an item that is not an object, more
// than MaxOverviewItems items, or an answer of another month is a final error.
func (c *Client) Overview(ctx context.Context, month calendar.Month) (Overview, error) {
	var out Overview
	err := c.query(ctx, []any{"overview", month.String()}, func() requests.AcsRequest {
		req := bssopenapi.CreateQueryBillOverviewRequest()
		req.BillingCycle = month.String()
		if c.owner != 0 {
			req.BillOwnerId = requests.NewInteger64(c.owner)
		}
		return req
	}, func(top map[string][]byte) *problem {
		var pr *problem
		out, pr = c.readOverview(month, top)
		return pr
	})
	if err != nil {
		return Overview{}, fmt.Errorf("query the overview of %s: %w", month, err)
	}
	return out, nil
}

// readOverview reads a successful QueryBillOverview answer's Data.
func (c *Client) readOverview(month calendar.Month, top map[string][]byte) (Overview, *problem) {
	if d := top["Data"]; d == nil || string(d) == "null" {
		return Overview{}, &problem{msg: "the answer says Success but has no Data"}
	}
	data, err := bill.MembersOfChecked(top["Data"], "BillingCycle", "AccountID", "Items")
	if err != nil {
		return Overview{}, c.final("the answer's Data " + err.Error())
	}
	var o Overview
	if o.Cycle, err = text(data["BillingCycle"]); err != nil || o.Cycle != month.String() {
		return Overview{}, c.final(fmt.Sprintf("the answer is of the billing cycle %s, not %s (a cache or proxy that ignores the query?)",
			clip(string(data["BillingCycle"])), month))
	}
	o.AccountID, _ = text(data["AccountID"])
	var list []rawRef
	if raw := data["Items"]; raw != nil && string(raw) != "null" {
		items, err := bill.MembersOfChecked(raw, "Item")
		if err != nil {
			return Overview{}, c.final("the answer's Items " + err.Error())
		}
		if raw := items["Item"]; raw != nil && string(raw) != "null" {
			if err := json.Unmarshal(raw, &list); err != nil {
				return Overview{}, c.final(fmt.Sprintf("the answer's Items.Item is %s, not a list", clip(string(raw))))
			}
		}
	}
	if len(list) > MaxOverviewItems {
		return Overview{}, c.final(fmt.Sprintf("the overview has %d items, more than the %d a month's can have", len(list), MaxOverviewItems))
	}
	o.Items = make([]OverviewItem, len(list))
	for i, raw := range list {
		if o.Items[i], err = overviewItem(raw); err != nil {
			return Overview{}, c.final(fmt.Sprintf("item %d: %s", i+1, err))
		}
	}
	return o, nil
}

// overviewItem reads one item: every amount must be there (null is 0), text members are
// strings or numbers (their text).
func overviewItem(raw []byte) (OverviewItem, error) {
	m, err := bill.MembersOfChecked(raw, "ProductCode", "ProductName", "SubscriptionType", "Currency",
		"PretaxGrossAmount", "PretaxAmount", "PaymentAmount")
	if err != nil {
		return OverviewItem{}, fmt.Errorf("an item %w", err)
	}
	var it OverviewItem
	for _, t := range []struct {
		name string
		dst  *string
	}{{"ProductCode", &it.ProductCode}, {"ProductName", &it.ProductName}, {"SubscriptionType", &it.SubscriptionType}, {"Currency", &it.Currency}} {
		if *t.dst, err = text(m[t.name]); err != nil {
			return OverviewItem{}, fmt.Errorf("member %s %w", t.name, err)
		}
	}
	for _, a := range []struct {
		name string
		dst  *bill.Amount
	}{{"PretaxGrossAmount", &it.PretaxGrossAmount}, {"PretaxAmount", &it.PretaxAmount}, {"PaymentAmount", &it.PaymentAmount}} {
		v, ok := m[a.name]
		if !ok {
			return OverviewItem{}, fmt.Errorf("an item has no member %s", a.name)
		}
		if *a.dst, err = bill.ParseAmount(v); err != nil {
			return OverviewItem{}, fmt.Errorf("member %s %w", a.name, err)
		}
	}
	return it, nil
}

// text is a text member's value: a string's content, a number's digits, "" for null or
// nothing; anything else is an error.
func text(raw []byte) (string, error) {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("is %s, not text", clip(string(raw)))
}
