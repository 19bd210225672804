package bill_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

const item = `{"BillingDate":"2026-11-03","InstanceID":"i-abc","PretaxAmount":1.25,"BillingItemCode":"disk",` +
	`"SubscriptionType":"PayAsYouGo","OwnerID":"42","ResourceGroup":"","Tag":"env:prod; team : billing;url:http://x:8080;;solo"}`

func TestParseInstance_KeepsEveryMemberInOrderAndAddsTags(t *testing.T) {
	r, err := bill.ParseInstance([]byte(item))
	require.NoError(t, err)
	assert.Equal(t, bill.Instance, r.Kind())
	data, err := r.AppendData(nil)
	require.NoError(t, err)
	assert.Equal(t, `{"VanceSource":"cloud.alicloud.billing","VanceType":"alicloud.instance_billing.daily",`+
		`"BillingDate":"2026-11-03","InstanceID":"i-abc","PretaxAmount":1.25,"BillingItemCode":"disk",`+
		`"SubscriptionType":"PayAsYouGo","OwnerID":"42","ResourceGroup":"","Tag":"env:prod; team : billing;url:http://x:8080;;solo",`+
		`"Tags":{"env":"prod","solo":"","team":"billing","url":"http://x:8080"}}`, string(data))
	assert.True(t, json.Valid(data))
	assert.Equal(t, []string{"2026-11-03", "42", "i-abc", "disk"}, r.SubjectParts())
}

func TestParseInstance_IdentityIgnoresAmountsAndNamesTheLine(t *testing.T) {
	a, _ := bill.ParseInstance([]byte(item))
	b, _ := bill.ParseInstance([]byte(strings.Replace(item, "1.25", "9.5", 1)))
	c, _ := bill.ParseInstance([]byte(strings.Replace(item, `"disk"`, `"bandwidth"`, 1)))
	d, _ := bill.ParseInstance([]byte(strings.Replace(item, "PayAsYouGo", "Subscription", 1)))
	refund, _ := bill.ParseInstance([]byte(strings.Replace(item, `"OwnerID"`, `"Item":"Refund","OwnerID"`, 1)))
	assert.Equal(t, a.Identity(), b.Identity())
	assert.NotEqual(t, a.Identity(), c.Identity())
	assert.NotEqual(t, a.Identity(), d.Identity())
	assert.NotEqual(t, a.Identity(), refund.Identity(), "a refund is another line than the charge")
}

func TestParseInstance_EmptyTagIsAnEmptyObject(t *testing.T) {
	r, err := bill.ParseInstance([]byte(`{"BillingDate":"2026-11-03","InstanceID":"i-1","Tag":""}`))
	require.NoError(t, err)
	data, _ := r.AppendData(nil)
	assert.Contains(t, string(data), `"Tags":{}`)
	r, err = bill.ParseInstance([]byte(`{"BillingDate":"2026-11-03","InstanceID":"i-1"}`))
	require.NoError(t, err)
	data, _ = r.AppendData(nil)
	assert.Contains(t, string(data), `"Tags":{}`)
}

func TestParseInstance_RefusesWhatTheAPINeverSends(t *testing.T) {
	for name, raw := range map[string]string{
		"not an object":           `["a"]`,
		"duplicate member":        `{"InstanceID":"a","InstanceID":"b"}`,
		"reserved member":         `{"VanceType":"x"}`,
		"reserved Tags":           `{"Tags":{}}`,
		"trailing data":           `{"a":1} {"b":2}`,
		"truncated":               `{"a":1`,
		"huge value":              `{"a":"` + strings.Repeat("x", bill.MaxValueBytes) + `"}`,
		"huge name":               `{"` + strings.Repeat("n", bill.MaxFieldName+1) + `":1}`,
		"too many members":        manyMembers(bill.MaxInstanceFields + 1),
		"too many tag pairs":      `{"BillingDate":"d","InstanceID":"i","Tag":"` + manyTags(bill.MaxTags+1) + `"}`,
		"invalid UTF-8":           "{\"BillingDate\":\"d\",\"InstanceID\":\"i-\xff\"}",
		"no BillingDate":          `{"InstanceID":"i-1"}`,
		"no instance, no product": `{"BillingDate":"2026-11-03","ResourceGroup":"rg"}`,
		"empty object":            `{}`,
	} {
		_, err := bill.ParseInstance([]byte(raw))
		assert.Error(t, err, name)
	}
	_, err := bill.ParseInstance([]byte(strings.Replace(manyMembers(bill.MaxInstanceFields-2), "{", `{"BillingDate":"d","InstanceID":"i",`, 1)))
	assert.NoError(t, err, "the bound itself is fine")
}

func manyMembers(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"m` + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + itoa(i) + `":0`
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func manyTags(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "k" + itoa(i) + ":v"
	}
	return strings.Join(parts, ";")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestAccountRow_DataIsTheSeedsShape(t *testing.T) {
	r := bill.AccountRow{BillAccountID: "123456", BillAccountName: "aliyun23456", BillingDate: "2022-06-13", Currency: "CNY",
		OwnerID: "123456", OwnerName: "aliyun23456", PaymentAmount: "0.23", PipCode: "disk",
		PretaxGrossAmount: "0.2352", ProductCode: "disk", SubscriptionType: "PayAsYouGo"}
	data, err := r.AppendData(nil)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), `{"VanceSource":"cloud.alicloud.billing","VanceType":"alicloud.account_billing.daily","AdjustAmount":0,`))
	assert.Contains(t, string(data), `"OwnerId":"123456"`)
	assert.Equal(t, []string{"2022-06-13", "123456", "disk", "PayAsYouGo"}, r.SubjectParts())
}

func TestParseKind(t *testing.T) {
	k, err := bill.ParseKind("instance")
	require.NoError(t, err)
	assert.Equal(t, "alicloud.instance_billing.daily", k.EventType())
	assert.Equal(t, "alicloud.account_billing.daily", bill.Account.EventType())
	_, err = bill.ParseKind("Instance")
	assert.Error(t, err)
	k, err = bill.ParseKind("focus")
	require.NoError(t, err)
	assert.Equal(t, "alicloud.focus_billing.daily", k.EventType())
	assert.Equal(t, bill.Instance, k.Reads(), "the FOCUS bill is the instance bill's rows")
	assert.Equal(t, bill.Account, bill.Account.Reads())
}
