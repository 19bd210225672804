package contract_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/contract"
)

// TestContract_Fake runs the contract suite against bssfake: what the connector assumes of
// the API holds for the fake that every other test uses.
func TestContract_Fake(t *testing.T) {
	day := calendar.Day{Year: 2026, Month: time.October, Day: 31}
	contract.Run(t, func(t *testing.T) contract.Harness {
		c := clock.New()
		f := bssfake.New(bssfake.Options{Keys: map[string]string{"LTAIcontract": "contract-secret"}, Now: c.Now})
		f.SetDay(day.String(), bssfake.SampleDay(day.String(), 321, 9))
		// 700 rows: three pages at MaxResults 300, so that a NextToken can be left behind.
		f.SetInstanceDay(day.String(), bssfake.SampleInstanceDay(day.String(), 700, 9))
		require.NoError(t, f.Start("127.0.0.1:0"))
		t.Cleanup(func() { _ = f.Close() })
		return contract.Harness{Endpoint: f.URL(), KeyID: "LTAIcontract", Secret: "contract-secret", Day: day,
			MinRows: 321, RegionID: "cn-hangzhou", Fake: true, ExactRows: 321, ReplayCheck: true,
			MinInstanceRows: 700, ExactInstanceRows: 700, Clock: c}
	})
}
