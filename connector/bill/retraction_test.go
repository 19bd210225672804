package bill_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// A retraction is rebuilt from the identity alone: the same identity and subject as the
// row, its identity's members, every other text "" and every amount 0.
func TestRetraction_IsTheRowsIdentityWithEveryAmountZero(t *testing.T) {
	row := bill.AccountRow{BillingDate: "2026-11-03", BillAccountID: "9", BillAccountName: "payer", OwnerID: "42",
		OwnerName: "shop", ProductCode: "ecs", PipCode: "ecs", SubscriptionType: "PayAsYouGo", BizType: "Internal",
		CostUnit: "<team & co>", ProductName: "云服务器 ECS", Currency: "CNY", PaymentAmount: "12.5", PretaxAmount: "-3",
		CashAmount: "1E-7", AdjustAmount: "0.01"}
	for _, suffix := range []string{"", "#2", "#17"} {
		r, err := bill.Retraction(bill.Account, row.Identity()+suffix)
		require.NoError(t, err, suffix)
		assert.Equal(t, row.Identity(), r.Identity())
		assert.Equal(t, row.SubjectParts(), r.SubjectParts())
		data, err := r.AppendData(nil)
		require.NoError(t, err)
		assert.JSONEq(t, `{"VanceSource":"cloud.alicloud.billing","VanceType":"alicloud.account_billing.daily",
			"AdjustAmount":0,"BillAccountID":"9","BillAccountName":"","BillingDate":"2026-11-03","BizType":"Internal",
			"CashAmount":0,"CostUnit":"<team & co>","Currency":"CNY","DeductedByCashCoupons":0,"DeductedByCoupons":0,
			"DeductedByPrepaidCard":0,"InvoiceDiscount":0,"OutstandingAmount":0,"OwnerId":"42","OwnerName":"",
			"PaymentAmount":0,"PipCode":"ecs","PretaxAmount":0,"PretaxGrossAmount":0,"ProductCode":"ecs",
			"ProductName":"云服务器 ECS","SubscriptionType":"PayAsYouGo"}`, string(data))
	}
}

func TestRetraction_OfAnInstanceRowHasItsIdentityZerosAndNoTags(t *testing.T) {
	row, err := bill.ParseInstance([]byte(`{"BillingDate":"2026-11-03","InstanceID":"i-abc","PretaxAmount":1.25,` +
		`"BillingItemCode":"disk","BillingItem":"Disk","SubscriptionType":"PayAsYouGo","OwnerID":"42","Item":"Refund",` +
		`"BillAccountID":"9","ProductCode":"ecs","Region":"cn-hangzhou","Tag":"env:prod","DeductQuantity":"3"}`))
	require.NoError(t, err)
	r, err := bill.Retraction(bill.Instance, row.Identity())
	require.NoError(t, err)
	assert.Equal(t, row.Identity(), r.Identity())
	assert.Equal(t, row.SubjectParts(), r.SubjectParts())
	data, err := r.AppendData(nil)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(data, &got))
	for _, name := range []string{"BillingDate", "BillAccountID", "OwnerID", "ProductCode", "InstanceID",
		"BillingItemCode", "BillingItem", "SubscriptionType", "Item"} {
		assert.Contains(t, got, name)
	}
	assert.Equal(t, "i-abc", got["InstanceID"])
	for _, name := range []string{"PretaxAmount", "PretaxGrossAmount", "PaymentAmount", "CashAmount", "DeductQuantity", "Tax"} {
		assert.Equal(t, 0.0, got[name], name)
	}
	assert.Equal(t, map[string]any{}, got["Tags"])
	assert.NotContains(t, got, "Region", "a member the identity does not name is not known")
	assert.NotContains(t, got, "Tag")
}

func TestRetraction_RefusesWhatIsNotARowIdentity(t *testing.T) {
	for name, tc := range map[string]struct {
		kind     bill.Kind
		identity string
	}{
		"not JSON":             {bill.Account, "ecs"},
		"not an array":         {bill.Account, `{"a":1}`},
		"too few members":      {bill.Account, `["2026-11-03","9"]`},
		"numbers":              {bill.Account, `[1,2,3,4,5,6,7,8,9,10]`},
		"a suffix not a count": {bill.Account, `["a","b","c","d","e","f","g","h","i","j"]#x`},
		"instance, 10 members": {bill.Instance, `["a","b","c","d","e","f","g","h","i","j"]`},
		"instance, no day":     {bill.Instance, `["","b","c","d","e","f","g","h","i"]`},
		"written otherwise":    {bill.Account, `[ "a","b","c","d","e","f","g","h","i","j"]`},
		"another bill":         {bill.Kind("other"), `["a"]`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := bill.Retraction(tc.kind, tc.identity)
			assert.Error(t, err)
		})
	}
}

// A FOCUS row is named as its instance row: its retraction has the instance row's
// identity and subject, the FOCUS bill's type and its cost columns at 0.
func TestRetraction_OfAFocusRowIsNamedAsItsInstanceRow(t *testing.T) {
	row, err := bill.ParseInstance([]byte(`{"BillingDate":"2026-11-03","InstanceID":"i-abc","PretaxAmount":1.25,` +
		`"BillingItemCode":"disk","OwnerID":"42","ProductCode":"ecs"}`))
	require.NoError(t, err)
	r, err := bill.Retraction(bill.Focus, row.Identity()+"#2")
	require.NoError(t, err)
	assert.Equal(t, bill.Focus, r.Kind())
	assert.Equal(t, row.Identity(), r.Identity())
	assert.Equal(t, row.SubjectParts(), r.SubjectParts())
	assert.Equal(t, "2026-11-03", r.Date())
	data, err := r.AppendData(nil)
	require.NoError(t, err)
	assert.JSONEq(t, `{"VanceSource":"cloud.alicloud.billing","VanceType":"alicloud.focus_billing.daily",
		"BilledCost":0,"ContractedCost":0,"EffectiveCost":0,"ListCost":0}`, string(data))
	_, err = bill.Retraction(bill.Focus, `["amortized","x"]`)
	assert.ErrorContains(t, err, "instance bill")
}
