package billing

import (
	"encoding/json"
	"fmt"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// unexpectedShape is the code of a success answer that is the API's JSON but not its
// shape: a count or an amount that is not a number, an item that is not a row. Asking
// again gets the same answer, so it is not retried: the day fails naming the member.
const unexpectedShape = "UnexpectedShape"

// answerPage is one successful answer of either action, read from the body the SDK
// parsed (the same bytes: not read, nor copied, again) by member names as the SDK matches
// them (exactly, case included), and never from the SDK's structs: the SDK reads
// "1,234.50" as 1, "0x10" as 0 and true as 1, and amounts through float64.
type answerPage struct {
	total   int
	pageNum int    // QueryAccountBill's PageNum, 0 when the answer has none
	cycle   string // Data.BillingCycle, "" when the answer has none
	token   string // DescribeInstanceBill's NextToken
	rows    []bill.Row
}

// problem is what is wrong with a successful answer. A final one is not retried.
type problem struct {
	msg   string
	final bool
}

// envelope is what every BSS answer says of itself.
type envelope struct {
	success                  bool
	code, message, requestID string
}

// envelopeOf reads an answer's top-level members as the SDK matches them (exactly, case
// included; see bill.Members for what is refused): Success (true, or "true"), and Code,
// Message and RequestId when they are strings. err says what is wrong with the body.
func envelopeOf(body []byte) (top map[string][]byte, env envelope, err error) {
	top, err = bill.Members(body, "Success", "Code", "Message", "RequestId", "Data")
	if err != nil {
		return nil, env, err
	}
	s := string(top["Success"])
	env.success = s == "true" || s == `"true"`
	for _, m := range []struct {
		name string
		dst  *string
	}{{"Code", &env.code}, {"Message", &env.message}, {"RequestId", &env.requestID}} {
		_ = json.Unmarshal(top[m.name], m.dst) // a member of another type is left out
	}
	return top, env, nil
}

// dataMembers are the members of an answer's Data that the connector reads.
var dataMembers = []string{"TotalCount", "PageNum", "BillingCycle", "NextToken", "Items"}

// readAnswer reads a successful answer of the bill of kind from its top-level members. An
// answer without a Data object is retried (a proxy's page, a cut answer); counts, the
// cycle and the items must be in the API's shape (bill.ParseCount, bill.ParseAccount,
// bill.ParseInstance), else the problem is final. top is what envelopeOf read: its text
// is checked whole (bill.Members), so the items are read without checking it again
// (bill.ListOfChecked, bill.InstanceOfChecked, bill.AccountOfChecked).
func (c *Client) readAnswer(kind bill.Kind, top map[string][]byte) (*answerPage, *problem) {
	if d := top["Data"]; d == nil || string(d) == "null" {
		return nil, &problem{msg: "the answer says Success but has no Data"}
	}
	data, err := bill.MembersOfChecked(top["Data"], dataMembers...)
	if err != nil {
		return nil, c.final("the answer's Data " + err.Error())
	}
	if tc := data["TotalCount"]; tc == nil || string(tc) == "null" {
		return nil, &problem{msg: "the answer says Success but its Data has no TotalCount"}
	}
	p := &answerPage{}
	if pr := c.counts(data, p); pr != nil {
		return nil, pr
	}
	items, pr := c.itemsOf(kind, data)
	if pr != nil {
		return nil, pr
	}
	p.rows = make([]bill.Row, len(items))
	for i, it := range items {
		var err error
		if kind == bill.Instance {
			p.rows[i], err = bill.InstanceOfChecked(it)
		} else {
			p.rows[i], err = bill.AccountOfChecked(it)
		}
		if err != nil {
			return nil, c.final(fmt.Sprintf("item %d: %s", i+1, err))
		}
	}
	return p, nil
}

// counts reads TotalCount, PageNum, BillingCycle (which the API always sends: an answer
// that does not say which month it is of cannot be checked) and NextToken into p.
func (c *Client) counts(data map[string][]byte, p *answerPage) *problem {
	for _, m := range []struct {
		name string
		dst  *int
	}{{"TotalCount", &p.total}, {"PageNum", &p.pageNum}} {
		if raw := data[m.name]; raw != nil {
			n, err := bill.ParseCount(raw)
			if err != nil {
				return c.final(fmt.Sprintf("the answer's %s %s", m.name, err))
			}
			*m.dst = int(n)
		}
	}
	for _, m := range []struct {
		name string
		dst  *string
	}{{"BillingCycle", &p.cycle}, {"NextToken", &p.token}} {
		if raw := data[m.name]; raw != nil && string(raw) != "null" {
			if err := json.Unmarshal(raw, m.dst); err != nil {
				return c.final(fmt.Sprintf("the answer's %s is %s, not a string", m.name, clip(string(raw))))
			}
		}
	}
	if p.cycle == "" {
		return c.final("the answer's Data has no BillingCycle: it does not say which month it is of")
	}
	return nil
}

// itemsOf are the answer's items: Data.Items.Item of QueryAccountBill, Data.Items of
// DescribeInstanceBill. data is of a document envelopeOf checked whole.
func (c *Client) itemsOf(kind bill.Kind, data map[string][]byte) ([][]byte, *problem) {
	raw, name := data["Items"], "Items"
	if kind != bill.Instance && raw != nil && string(raw) != "null" {
		items, err := bill.MembersOfChecked(raw, "Item")
		if err != nil {
			return nil, c.final("the answer's Items " + err.Error())
		}
		raw, name = items["Item"], "Items.Item"
	}
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	list, err := bill.ListOfChecked(raw)
	if err != nil {
		return nil, c.final(fmt.Sprintf("the answer's %s is %s, not a list", name, clip(string(raw))))
	}
	return list, nil
}

// checkDay says what is wrong when a page is not of the day asked for: every row's
// BillingDate must be the day, and the answer's BillingCycle, when it has one, its month.
// A cache or proxy that ignores the query string serves another day's bill as this one.
func checkDay(p *answerPage, day calendar.Day) string {
	if p.cycle != day.Cycle() {
		return fmt.Sprintf("the answer is of the billing cycle %q, not %s (a cache or proxy that ignores the query?)", clip(p.cycle), day.Cycle())
	}
	for i, r := range p.rows {
		if d := r.Date(); d != day.String() {
			return fmt.Sprintf("item %d is of the day %q, not %s (a cache or proxy that ignores the query?)", i+1, clip(d), day)
		}
	}
	return ""
}

// retry is a problem with the body that asking again may cure.
func (c *Client) retry(what string, err error) *problem {
	return &problem{msg: c.shape(what, err)}
}

// final is a problem that asking again does not cure.
func (c *Client) final(msg string) *problem {
	return &problem{msg: c.redact.clean(msg, maxMessage), final: true}
}

// clip cuts a value the API wrote (text, or a JSON value's bytes) to 40 bytes for a
// message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
