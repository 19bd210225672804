package billing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// pageBody is a successful answer of kind whose Data's items member holds items (JSON
// text, written as is): Data.Items of the instance bill, Data.Items.Item of the account
// bill.
func pageBody(kind bill.Kind, items string) []byte {
	if kind == bill.Instance {
		return []byte(`{"RequestId":"R-1","Success":true,"Code":"Success","Message":"Successful!",` +
			`"Data":{"TotalCount":300,"BillingCycle":"2026-11","NextToken":"T1","Items":` + items + `}}`)
	}
	return []byte(`{"RequestId":"R-1","Success":true,"Code":"Success","Message":"Successful!",` +
		`"Data":{"TotalCount":300,"PageNum":1,"BillingCycle":"2026-11","Items":{"Item":` + items + `}}}`)
}

// readBody reads body as judge and readAnswer do: the page, or the one line that says
// what is wrong with it ("retry: ..." or "final: ...").
func readBody(c *Client, kind bill.Kind, body []byte) (*answerPage, string) {
	top, _, err := envelopeOf(body)
	if err != nil {
		return nil, "body: " + err.Error()
	}
	p, pr := c.readAnswer(kind, top)
	switch {
	case pr == nil:
		return p, ""
	case pr.final:
		return nil, "final: " + pr.msg
	}
	return nil, "retry: " + pr.msg
}

func testClient() *Client { return &Client{redact: newRedactor("", "", "")} }

const anItem = `{"BillingDate":"2026-11-03","InstanceID":"i-1","PretaxAmount":1.5}`

// Every answer the connector refused at the level of the list of items (or of an item
// inside it) it refuses with the same line, whichever way the list is read.
func TestReadAnswer_RefusesAListOrItemAsItDid(t *testing.T) {
	for _, tc := range []struct {
		kind        bill.Kind
		items, want string
	}{
		{bill.Instance, `{}`, `final: the answer's Items is {}, not a list`},
		{bill.Instance, `"x"`, `final: the answer's Items is "x", not a list`},
		{bill.Instance, `5`, `final: the answer's Items is 5, not a list`},
		{bill.Instance, `true`, `final: the answer's Items is true, not a list`},
		{bill.Instance, `{"Item":[` + anItem + `]}`, `final: the answer's Items is {"Item":[{"BillingDate":"2026-11-03","In..., not a list`},
		{bill.Instance, `[1]`, `final: item 1: an item is not a JSON object`},
		{bill.Instance, `[` + anItem + `,"x"]`, `final: item 2: an item is not a JSON object`},
		{bill.Instance, `[null]`, `final: item 1: an item is not a JSON object`},
		{bill.Instance, `[[]]`, `final: item 1: an item is not a JSON object`},
		{bill.Instance, `[` + anItem + `,]`, `body: is not valid JSON`},
		{bill.Instance, `[` + anItem + `]]`, `body: is not valid JSON`},
		{bill.Instance, `[` + anItem + ` x]`, `body: is not valid JSON`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","InstanceID":"i-` + "\xff" + `"}]`, `body: is not valid UTF-8`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","InstanceID":"i-\ud800"}]`, `body: escapes a lone surrogate (not valid UTF-16)`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","InstanceID":"i-\udc00\ud800"}]`, `body: escapes a lone surrogate (not valid UTF-16)`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","\uDBFF":"i"}]`, `body: escapes a lone surrogate (not valid UTF-16)`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","InstanceID":"i-1","InstanceID":"i-2"}]`, `final: item 1: an item has the member "InstanceID" twice`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","InstanceID":"i-1","Instance\u0049D":"i-2"}]`, `final: item 1: an item has the member "InstanceID" twice`},
		{bill.Instance, `[` + anItem + `,{"BillingDate":"2026-11-03","InstanceID":"i-1","Tags":"x"}]`, `final: item 2: an item has a member "Tags", a name the event's data reserves`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","InstanceID":"i-1","":1}]`, `final: item 1: an item has a member name of 0 bytes`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","InstanceID":"i-1","PretaxAmount":"1,5"}]`, `final: item 1: member PretaxAmount is the string "1,5", not a number`},
		{bill.Instance, `[{"BillingDate":"2026-11-03","InstanceID":"i-1","Tax":true}]`, `final: item 1: member Tax is "true", not a number`},
		{bill.Instance, `[{"InstanceID":"i-1"}]`, `final: item 1: an item has no BillingDate`},
		{bill.Instance, `[{"BillingDate":"2026-11-03"}]`, `final: item 1: an item has neither an InstanceID nor a ProductCode`},
		{bill.Account, `{}`, `final: the answer's Items.Item is {}, not a list`},
		{bill.Account, `"x"`, `final: the answer's Items.Item is "x", not a list`},
		{bill.Account, `[1]`, `final: item 1: an item is not a JSON object`},
		{bill.Account, `[null]`, `final: item 1: an item is not a JSON object`},
		{bill.Account, `[{"BillingDate":"2026-11-03","BillingDate":"2026-11-04"}]`, `final: item 1: an item has the member "BillingDate" twice`},
		{bill.Account, `[{"billingDate":"2026-11-03"}]`, `final: item 1: an item has a member "billingDate" where the API writes "BillingDate"`},
		{bill.Account, `[{"BillingDate":"2026-11-03"}]`, `final: item 1: an item has no member AdjustAmount`},
		{bill.Account, `[{"ProductCode":"\udfff"}]`, `body: escapes a lone surrogate (not valid UTF-16)`},
		{bill.Account, `[{"ProductCode":"` + "\xc3" + `"}]`, `body: is not valid UTF-8`},
		{bill.Account, `[{}]]`, `body: is not valid JSON`},
	} {
		_, got := readBody(testClient(), tc.kind, pageBody(tc.kind, tc.items))
		assert.Equal(t, tc.want, got, "%s %s", tc.kind, tc.items)
	}
}

// An account bill whose Items is not an object, or names Item but for case, is refused.
func TestReadAnswer_RefusesAccountItemsThatAreNotTheAPIs(t *testing.T) {
	for items, want := range map[string]string{
		`[]`:                    `final: the answer's Items is not a JSON object`,
		`{"item":[]}`:           `final: the answer's Items has a member "item" where the API writes "Item"`,
		`{"Item":[],"Item":[]}`: `final: the answer's Items has the member "Item" twice`,
	} {
		body := []byte(`{"Success":true,"Data":{"TotalCount":0,"BillingCycle":"2026-11","Items":` + items + `}}`)
		_, got := readBody(testClient(), bill.Account, body)
		assert.Equal(t, want, got, items)
	}
}

// Items the lists hold with white space, nested values and escapes are read: white space
// between items, null and an empty list as no items.
func TestReadAnswer_ReadsListsWithWhiteSpaceNullAndNothing(t *testing.T) {
	for items, n := range map[string]int{
		`null`: 0, `[]`: 0, "[ \n\t]": 0, `[` + anItem + `]`: 1,
		" [\n " + anItem + " ,\r\n\t" + anItem + " \n] ":                                      2,
		`[{"BillingDate":"2026-11-03","InstanceID":"i-\"]}","X":{"a":[1,{"b":"]"}]},"Y":[]}]`: 1,
	} {
		p, msg := readBody(testClient(), bill.Instance, pageBody(bill.Instance, items))
		require.Empty(t, msg, items)
		assert.Len(t, p.rows, n, items)
	}
}

// instancePage300 is a page of 300 of the fake's instance rows, as the API writes them.
func instancePage300(t testing.TB) []byte {
	items, err := json.Marshal(bssfake.SampleInstanceDay("2026-11-03", 300, 7))
	require.NoError(t, err)
	return pageBody(bill.Instance, string(items))
}

// accountPage300 is a page of 300 of the fake's account rows, with the API's names.
func accountPage300(t testing.TB) []byte {
	var list []json.RawMessage
	for _, it := range bssfake.SampleDay("2026-11-03", 300, 7) {
		b, err := json.Marshal(it)
		require.NoError(t, err)
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &m))
		m["OwnerID"] = m["OwnerId"]
		delete(m, "OwnerId")
		b, err = json.Marshal(m)
		require.NoError(t, err)
		list = append(list, b)
	}
	items, err := json.Marshal(list)
	require.NoError(t, err)
	return pageBody(bill.Account, string(items))
}

// Items written in every way the API may write them: numbers as strings, escapes in names
// and values, white space, nested values, tags with ':' and ';'.
const trickyItems = `[ {"BillingDate" : "2026-11-03", "Instance\u0049D":"i-\u00e9\ud83d\ude00",` +
	` "PretaxAmount":"12.30","Tax":-0.0,"CashAmount":"1.5E-7","PaymentAmount":null,"AdjustAmount":"",` +
	` "Tag":" b:2 ; a:x:y;;c ; a:z ","X":{"k":[1,"\"]"]},"Y":[ ],"Z":true,"Item":"Refund"} ,` +
	"\n" + `{"BillingDate":"2026-11-03","ProductCode":"oss","OwnerID":123,"BillingItemCode":"","BillingItem":"流量",` +
	`"SubscriptionType":"PayAsYouGo","Tag":"","InvoiceDiscount":1e2,"BillAccountID":"\/\\\b"}]`

// trickyAccountItems are account items written in every way the API may write them.
const trickyAccountItems = `[ {"AdjustAmount":null,"BillAccountID":123,"BillAccountName":"a\"b\u00e9<&\\","BillingDate":"2026-11-03",` +
	`"BizType":null,"CashAmount":"12.30","CostUnit":"\u672a\u5206\u914d","Currency":"CNY","DeductedByCashCoupons":-0.0,` +
	`"DeductedByCoupons":"1.5E-7","DeductedByPrepaidCard":"","InvoiceDiscount":1e2,"OutstandingAmount":0,"OwnerID":"\ud83d\ude00",` +
	`"OwnerName":-5,"PaymentAmount":"-0","PipCode":"","PretaxAmount":100.000,"PretaxGrossAmount":7,"ProductCode":"ecs",` +
	`"ProductName":"\u2028x","SubscriptionType":"Subscription","Extra":{"a":[1]}} ,` + "\n" +
	`{"SubscriptionType":"PayAsYouGo","ProductCode":"oss","PretaxGrossAmount":1,"PretaxAmount":1,"PaymentAmount":1,` +
	`"OutstandingAmount":1,"InvoiceDiscount":1,"DeductedByPrepaidCard":1,"DeductedByCoupons":1,"DeductedByCashCoupons":1,` +
	`"CashAmount":1,"AdjustAmount":1,"BillingDate":"2026-11-03"}]`

// digest is the SHA-256 of every row's event data, identity and subject, in order.
func digest(rows []bill.Row) string {
	h := sha256.New()
	for _, r := range rows {
		d, err := r.AppendData(nil)
		if err != nil {
			return err.Error()
		}
		fmt.Fprintf(h, "%s\n%s\n%q\n", d, r.Identity(), r.SubjectParts())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The rows read from the fake's pages, and from items written every way the API may, are
// byte for byte those of the connector before reading answers was made cheaper (the
// digests were taken at cd7ab86).
func TestReadAnswer_RowsAreByteForByteAsBefore(t *testing.T) {
	for name, tc := range map[string]struct {
		kind bill.Kind
		body []byte
		want string
	}{
		"instance page":        {bill.Instance, instancePage300(t), "a4cfacb58243ca01ed7e456a0df61edd536a5215c022b442898a378a87c897d9"},
		"account page":         {bill.Account, accountPage300(t), "31518ca79d2a115c11b50b87be472cf2d1ec5067629cb391ee4a1e33578eb7c6"},
		"tricky items":         {bill.Instance, pageBody(bill.Instance, trickyItems), "a225202c7b833ce9ae0ff552b4c0300be2a516408033daa3fff4119cca4691d8"},
		"tricky account items": {bill.Account, pageBody(bill.Account, trickyAccountItems), "66092c2a3ba609044321f3c93bb2a8ebab83b4298deb8b59194e12118424fb3c"},
	} {
		p, msg := readBody(testClient(), tc.kind, tc.body)
		require.Empty(t, msg, name)
		assert.Equal(t, tc.want, digest(p.rows), name)
	}
}

func benchmarkReadAnswer(b *testing.B, kind bill.Kind, body []byte) {
	c := testClient()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, msg := readBody(c, kind, body); msg != "" {
			b.Fatal(msg)
		}
	}
}

// A page of 300 instance rows read as the connector reads an answer (envelopeOf, then
// readAnswer).
func BenchmarkReadAnswer_InstancePage300(b *testing.B) {
	benchmarkReadAnswer(b, bill.Instance, instancePage300(b))
}

// A page of 300 account rows read as the connector reads an answer.
func BenchmarkReadAnswer_AccountPage300(b *testing.B) {
	benchmarkReadAnswer(b, bill.Account, accountPage300(b))
}
