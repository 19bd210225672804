package job

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// The retraction of a row gone from the read, from what the state knows of it: a row not
// retracted yet gets the next revision; a retraction not acknowledged keeps its revision
// and id; the event has the row's type and subject, retracted = true and every amount 0.
func TestRetraction_DecidesTheRevisionFromWhatTheStateKnows(t *testing.T) {
	pulled := time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC)
	now := TimeRevision(pulled)
	row := bill.AccountRow{BillingDate: "2026-11-03", OwnerID: "1", ProductCode: "ecs", SubscriptionType: "PayAsYouGo",
		Currency: "CNY", OwnerName: "shop", PaymentAmount: "1.5", PretaxAmount: "2"}
	inst, err := bill.ParseInstance([]byte(`{"BillingDate":"2026-11-03","InstanceID":"i-1","OwnerID":"1","PaymentAmount":3.5}`))
	require.NoError(t, err)
	const earlier = 1000
	for _, tc := range []struct {
		name     string
		kind     bill.Kind
		row      bill.Row
		suffix   string    // the identity's "#n"
		known    state.Row // what the state knows of it
		revision int
	}{
		{"a delivered row", bill.Account, row, "", state.Row{Hash: "h", Revision: earlier, Delivered: true}, now},
		{"a row delivered above the clock", bill.Account, row, "", state.Row{Revision: now + 5, Delivered: true}, now + 6},
		{"a row planned, not delivered", bill.Account, row, "", state.Row{Revision: earlier}, now},
		{"a retraction not acknowledged keeps its revision", bill.Account, row, "", state.Row{Revision: earlier, Retracted: true}, earlier},
		{"a retraction not acknowledged, made otherwise now", bill.Account, row, "", state.Row{Hash: "other", Revision: earlier, Retracted: true}, now},
		{"a retraction with a damaged revision", bill.Account, row, "", state.Row{Revision: -4, Retracted: true}, now},
		{"the second row of one identity", bill.Account, row, "#2", state.Row{Revision: earlier, Delivered: true}, now},
		{"an instance row", bill.Instance, inst, "", state.Row{Revision: earlier, Delivered: true}, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := classifier{account: "payer", pulled: pulled}
			identity := tc.row.Identity() + tc.suffix
			if tc.known.Retracted && tc.known.Hash == "" { // planned with the content made now
				r, err := bill.Retraction(tc.kind, identity)
				require.NoError(t, err)
				tc.known.Hash = mustHash(t, r)
			}
			e, planned, err := c.retraction(tc.kind, state.Gone{Identity: identity, Row: tc.known})
			require.NoError(t, err)
			original := newEvent("payer", tc.row, identity, mustBody(t, tc.row), earlier, pulled)
			assert.Equal(t, original.Subject(), e.Subject(), "the row's subject")
			assert.Equal(t, original.Type(), e.Type())
			assert.Equal(t, true, e.Extensions()[RetractedExtension])
			assert.Equal(t, int32(tc.revision), e.Extensions()[RevisionExtension])
			assert.Equal(t, state.Row{Hash: planned.Hash, ID: e.ID(), Revision: tc.revision}, planned, "not delivered until acknowledged")
			var data map[string]any
			require.NoError(t, json.Unmarshal(e.Data(), &data))
			for _, amount := range []string{"PaymentAmount", "PretaxAmount", "PretaxGrossAmount", "CashAmount"} {
				assert.Equal(t, 0.0, data[amount], amount)
			}
			recorded := planned
			recorded.Retracted = true // as state.Pull.Retract records it
			again, _, err := c.retraction(tc.kind, state.Gone{Identity: identity, Row: recorded})
			require.NoError(t, err)
			assert.Equal(t, e.ID(), again.ID(), "a retraction planned is sent again with its id")
		})
	}
}

func TestRetraction_OfAnIdentityNotTheBillsIsAnError(t *testing.T) {
	c := classifier{account: "default", pulled: time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC)}
	_, _, err := c.retraction(bill.Account, state.Gone{Identity: "not an identity", Row: state.Row{Revision: 7, Delivered: true}})
	assert.ErrorContains(t, err, "not an identity")
}
