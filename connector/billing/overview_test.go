package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

var month = calendar.Month{Year: 2026, Month: time.November}

func TestOverview_ReadsTheMonthsItemsWithTheirDigits(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	f.SetDay("2026-11-01", []bssfake.Item{{BillingDate: "2026-11-01", ProductCode: "ecs", ProductName: "云服务器 ECS",
		SubscriptionType: "PayAsYouGo", Currency: "CNY", PretaxGrossAmount: "0.1", PretaxAmount: "0.1", PaymentAmount: "0.1"}})
	f.SetDay("2026-11-30", []bssfake.Item{{BillingDate: "2026-11-30", ProductCode: "ecs", SubscriptionType: "PayAsYouGo",
		Currency: "CNY", PretaxGrossAmount: "0.2", PretaxAmount: "0.2", PaymentAmount: "0.2"}})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	o, err := c.Overview(context.Background(), month)
	require.NoError(t, err)
	assert.Equal(t, "2026-11", o.Cycle)
	assert.Equal(t, "1234567890123456", o.AccountID)
	require.Len(t, o.Items, 1)
	assert.Equal(t, billing.OverviewItem{ProductCode: "ecs", ProductName: "云服务器 ECS", SubscriptionType: "PayAsYouGo", Currency: "CNY",
		PretaxGrossAmount: "0.3", PretaxAmount: "0.3", PaymentAmount: "0.3"}, o.Items[0])
	reqs := f.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "QueryBillOverview", reqs[0].Params.Get("Action"))
	assert.Equal(t, "2026-11", reqs[0].Params.Get("BillingCycle"))
	assert.Empty(t, reqs[0].Params.Get("BillOwnerId"))
}

func TestOverview_RetriesThrottlingAndRefusesWhatIsNotTheAPIs(t *testing.T) {
	f := startFake(t, bssfake.Options{})
	c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
	f.Inject(bssfake.Fault{Kind: bssfake.Throttle, Times: 2})
	o, err := c.Overview(context.Background(), month)
	require.NoError(t, err)
	assert.Empty(t, o.Items)

	for name, body := range map[string]string{
		"an amount that is not a number": `{"Success":true,"Code":"Success","Data":{"BillingCycle":"2026-11","Items":{"Item":[{"ProductCode":"ecs","PretaxGrossAmount":"1,5","PretaxAmount":1,"PaymentAmount":1}]}}}`,
		"an amount missing":              `{"Success":true,"Code":"Success","Data":{"BillingCycle":"2026-11","Items":{"Item":[{"ProductCode":"ecs","PretaxGrossAmount":1,"PretaxAmount":1}]}}}`,
		"another month":                  `{"Success":true,"Code":"Success","Data":{"BillingCycle":"2026-10","Items":{"Item":[]}}}`,
		"items that are not a list":      `{"Success":true,"Code":"Success","Data":{"BillingCycle":"2026-11","Items":{"Item":{"a":1}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: body})
			_, err := c.Overview(context.Background(), month)
			require.Error(t, err)
			var apiErr *billing.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, "UnexpectedShape", apiErr.Code, "not retried: %v", err)
			assert.Contains(t, err.Error(), "overview of 2026-11")
		})
	}
}
