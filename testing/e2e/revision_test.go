package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// pullAmounts runs --once for the day on fc, one pull per amount of the day's one row, a
// day of fc apart; before the pull at index lost, the state file is moved aside as the
// corrupt-state message says.
func pullAmounts(t *testing.T, e *harness.Env, fc *clockwork.FakeClock, lost int, amounts ...bill.Amount) {
	t.Helper()
	items := bssfake.SampleDay(e.Day.String(), 1, 22)
	onClock := fx.Decorate(func(clock.Clock) clock.Clock { return fc })
	for i, a := range amounts {
		if i == lost {
			require.NoError(t, os.Rename(e.StatePath, e.StatePath+".corrupt"))
		}
		items[0].PaymentAmount = a
		e.API.SetDay(e.Day.String(), items)
		r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()}, onClock)
		require.Equal(t, 0, r.Code, r.Stderr)
		fc.Advance(24 * time.Hour)
	}
}

func paymentAmount(t *testing.T, r sink.Received) string {
	t.Helper()
	var d struct{ PaymentAmount json.Number }
	dec := json.NewDecoder(bytes.NewReader(r.Event.Data()))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&d))
	return d.PaymentAmount.String()
}

// Issue 22: 1.5, 2.5, 3.5 delivered on three pulls, the state file moved aside, then 4.5.
// A receiver that upserts by subject keeping the highest revision holds 4.5 (the last
// release sent it as revision 1, under the 3 of 3.5).
func TestE2E_AfterTheStateFileIsMovedAsideTheLatestContentHasTheHighestRevision(t *testing.T) {
	e := harness.New(t)
	fc := clockwork.NewFakeClockAt(e.Clock.Now().UTC())
	pullAmounts(t, e, fc, 3, "1.5", "2.5", "3.5", "4.5")

	got := e.Sink.Events()
	require.Len(t, got, 4)
	var kept sink.Received
	best := 0
	for _, r := range got {
		assert.Equal(t, got[0].Event.Subject(), r.Event.Subject(), "one row")
		rev, err := harness.Revision(r.Event)
		require.NoError(t, err)
		assert.Greater(t, rev, best, "each content a higher revision than the ones before")
		if rev > best {
			kept, best = r, rev
		}
	}
	assert.Equal(t, "4.5", paymentAmount(t, kept))
}

// A, then B, then the state file moved aside and A again: A arrives as an event never seen
// before (a receiver that drops the ids it has seen keeps it), above B.
func TestE2E_OldContentAfterTheStateFileIsMovedAsideIsANewEvent(t *testing.T) {
	e := harness.New(t)
	fc := clockwork.NewFakeClockAt(e.Clock.Now().UTC())
	pullAmounts(t, e, fc, 2, "1.5", "2.5", "1.5")

	got := e.Sink.Events()
	require.Len(t, got, 3)
	assert.Len(t, harness.IDs(got), 3, "three distinct ids")
	assert.Equal(t, "1.5", paymentAmount(t, got[2]))
	b, err := harness.Revision(got[1].Event)
	require.NoError(t, err)
	again, err := harness.Revision(got[2].Event)
	require.NoError(t, err)
	assert.Greater(t, again, b)
}
