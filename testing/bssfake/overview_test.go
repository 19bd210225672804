package bssfake

import (
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/bssopenapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func overviewOf(t *testing.T, f *sdkFake, cycle string, set func(*bssopenapi.QueryBillOverviewRequest)) *bssopenapi.QueryBillOverviewResponse {
	t.Helper()
	req := bssopenapi.CreateQueryBillOverviewRequest()
	req.Scheme, req.Domain = "http", strings.TrimPrefix(f.URL(), "http://")
	req.BillingCycle = cycle
	if set != nil {
		set(req)
	}
	resp, err := f.c.QueryBillOverview(req)
	require.NoError(t, err)
	require.True(t, resp.Success)
	return resp
}

// The overview is the month's daily rows summed per ProductCode, SubscriptionType and
// Currency, read by the SDK's own structs; other months' days do not count.
func TestOverview_IsTheSumOfTheMonthsDailyRows(t *testing.T) {
	f := startSDKFake(t, Options{})
	f.SetDay("2026-05-01", []Item{
		{BillingDate: "2026-05-01", ProductCode: "ecs", SubscriptionType: "PayAsYouGo", Currency: "CNY", PretaxGrossAmount: "0.1", PretaxAmount: "0.1", PaymentAmount: "0.1"},
		{BillingDate: "2026-05-01", ProductCode: "oss", SubscriptionType: "PayAsYouGo", Currency: "CNY", PretaxGrossAmount: "5", PretaxAmount: "4", PaymentAmount: "3"}})
	f.SetDay("2026-05-31", []Item{
		{BillingDate: "2026-05-31", ProductCode: "ecs", SubscriptionType: "PayAsYouGo", Currency: "CNY", PretaxGrossAmount: "0.2", PretaxAmount: "0.2", PaymentAmount: "0.2"}})
	f.SetDay("2026-06-01", []Item{
		{BillingDate: "2026-06-01", ProductCode: "ecs", SubscriptionType: "PayAsYouGo", Currency: "CNY", PretaxGrossAmount: "9", PretaxAmount: "9", PaymentAmount: "9"}})
	resp := overviewOf(t, f, "2026-05", nil)
	assert.Equal(t, "2026-05", resp.Data.BillingCycle)
	items := resp.Data.Items.Item
	require.Len(t, items, 2)
	assert.Equal(t, "ecs", items[0].ProductCode)
	assert.Equal(t, "PayAsYouGo", items[0].SubscriptionType)
	assert.Equal(t, "CNY", items[0].Currency)
	assert.InDelta(t, 0.3, items[0].PretaxGrossAmount, 1e-12)
	assert.Equal(t, 3.0, items[1].PaymentAmount)
	assert.Equal(t, "0.3", f.Overview(f.opts.AccountID, "2026-05")[0].PaymentAmount.String(), "exact, not 0.30000000000000004")

	only := overviewOf(t, f, "2026-05", func(r *bssopenapi.QueryBillOverviewRequest) { r.ProductCode = "oss" })
	require.Len(t, only.Data.Items.Item, 1)
	assert.Equal(t, "oss", only.Data.Items.Item[0].ProductCode)
	assert.Empty(t, overviewOf(t, f, "2026-04", nil).Data.Items.Item)
}

// Told so, the overview disagrees with the detail for a product; a revised day changes it.
func TestOverview_DisagreesAndFollowsARevisedDay(t *testing.T) {
	f := startSDKFake(t, Options{Members: []string{"222"}})
	f.SetDay("2026-05-02", []Item{{BillingDate: "2026-05-02", ProductCode: "ecs", SubscriptionType: "PayAsYouGo", Currency: "CNY",
		PretaxGrossAmount: "2", PretaxAmount: "2", PaymentAmount: "2"}})
	f.OverviewDisagrees(Disagreement{Cycle: "2026-05", ProductCode: "ecs", By: "1.00"})
	f.OverviewDisagrees(Disagreement{Cycle: "2026-05", ProductCode: "cdn", By: "-0.5"})
	items := overviewOf(t, f, "2026-05", nil).Data.Items.Item
	require.Len(t, items, 2)
	assert.Equal(t, "cdn", items[0].ProductCode)
	assert.Equal(t, -0.5, items[0].PretaxAmount)
	assert.Equal(t, 3.0, items[1].PretaxAmount)

	f.Revise("2026-05-02", func(rows []Item) []Item {
		rows[0].PretaxAmount = "7"
		return append(rows, Item{BillingDate: "2026-05-02", ProductCode: "rds", SubscriptionType: "Subscription", Currency: "CNY", PretaxAmount: "1"})
	})
	items = overviewOf(t, f, "2026-05", nil).Data.Items.Item
	require.Len(t, items, 3)
	assert.Equal(t, 8.0, items[1].PretaxAmount)
	assert.Equal(t, "SubscriptionOrder", items[2].Item)

	member := overviewOf(t, f, "2026-05", func(r *bssopenapi.QueryBillOverviewRequest) { r.BillOwnerId = requests.NewInteger(222) })
	assert.Equal(t, "222", member.Data.AccountID)
	require.Len(t, member.Data.Items.Item, 2, "the member has no days; only the disagreements for every account")
}
