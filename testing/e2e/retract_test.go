package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// sinkEvents are the events the sink accepted, in order.
func sinkEvents(e *harness.Env) []event.Event {
	var out []event.Event
	for _, r := range e.Sink.Events() {
		out = append(out, r.Event)
	}
	return out
}

// dropRows is the day's rows without those at the indexes.
func dropRows(items []bssfake.Item, drop ...int) (kept, gone []bssfake.Item) {
	skip := map[int]bool{}
	for _, i := range drop {
		skip[i] = true
	}
	for i, it := range items {
		if skip[i] {
			gone = append(gone, it)
		} else {
			kept = append(kept, it)
		}
	}
	return kept, gone
}

// requireRetractions checks that events hold exactly the retractions of the rows gone:
// each under the subject the row was delivered with, above its revision, every amount 0;
// and that a receiver keeping each subject's highest revision sums to the fake's day.
func requireRetractions(t *testing.T, e *harness.Env, day string, events []event.Event, gone []bssfake.Item) {
	t.Helper()
	delivered := map[string]int{} // subject -> the highest revision of a row event
	var retractions []event.Event
	for _, ev := range events {
		rev, err := harness.Revision(ev)
		require.NoError(t, err)
		if harness.Retracted(t, ev) {
			retractions = append(retractions, ev)
		} else {
			delivered[ev.Subject()] = max(delivered[ev.Subject()], rev)
		}
	}
	require.Len(t, retractions, len(gone), "one retraction per row gone")
	want := map[string]bool{}
	for _, it := range gone {
		want[subjectOf(it)] = true
	}
	zero := harness.AmountSums(t) // every amount 0
	for _, ev := range retractions {
		assert.True(t, want[ev.Subject()], "a retraction of a row gone: %s", ev.Subject())
		rev, _ := harness.Revision(ev)
		assert.Greater(t, rev, delivered[ev.Subject()], "above the row's revision")
		assert.Equal(t, zero, harness.AmountSums(t, ev.Data()), "every amount 0")
		assert.Equal(t, "alicloud.account_billing.daily", ev.Type())
	}
	assert.Equal(t, harness.ItemSums(t, e.API.Day(day)), harness.LatestSums(t, events),
		"a receiver that keeps each subject's highest revision sums to the bill as it stands")
}

func subjectOf(it bssfake.Item) string { return job.Subject(it, it.Identity()) }

// emptyAnswer is QueryAccountBill answering the day as empty (a glitch).
func emptyAnswer(day string) bssfake.Fault {
	return bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Page: 1, Action: bssfake.ActionQueryAccountBill,
		Body: fmt.Sprintf(`{"Code":"Success","Message":"Successful!","RequestId":"E","Success":true,"Data":{"AccountID":"1",`+
			`"BillingCycle":%q,"PageNum":1,"PageSize":300,"TotalCount":0,"Items":{"Item":[]}}}`, day[:7])}
}

// Issue 18: a day delivered; the daemon's settle window re-pulls it after 3 of its 20 rows
// vanished: exactly 3 retractions, and the receiver's sums are the bill's.
func TestE2E_ASettleWindowRePullRetractsTheRowsTheBillNoLongerHas(t *testing.T) {
	e := harness.New(t)
	sh, _ := time.LoadLocation("Asia/Shanghai")
	day := "2026-11-04"
	items := bssfake.SampleDay(day, 20, 18)
	e.API.SetDay(day, items)
	fc := clockwork.NewFakeClockAt(time.Date(2026, 11, 5, 1, 59, 0, 0, sh))
	var shut fx.Shutdowner
	log := e.Log()
	wait := e.Start(log, []string{"--config", e.Config(t, nil)}, fx.Decorate(func(clock.Clock) clock.Clock { return fc }), fx.Populate(&shut))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waiting := func(at string) {
		e.Changed.Wait(t, "the daemon to wait for "+at, log, func() bool {
			return strings.Contains(log.String(), `"msg":"waiting for the next pull","at":"`+at)
		})
		require.NoError(t, fc.BlockUntilContext(ctx, 1))
	}
	require.NoError(t, fc.BlockUntilContext(ctx, 1))
	fc.Advance(time.Minute) // Nov 5 02:00: Nov 4
	waiting("2026-11-06T02:00:00+08:00")
	require.Equal(t, 20, e.Sink.Len())

	kept, gone := dropRows(items, 2, 11, 17)
	e.API.SetDay(day, kept)
	fc.Advance(24 * time.Hour) // Nov 6 02:00: Nov 5, and Nov 4 again (settle_days)
	waiting("2026-11-07T02:00:00+08:00")
	require.NoError(t, shut.Shutdown())
	r := wait(t)
	require.Equal(t, 0, r.Code, harness.Tail(r.Stderr, 3000))
	requireRetractions(t, e, day, sinkEvents(e), gone)
	assert.Equal(t, 23, e.Sink.Len(), "the 20 rows, then 3 retractions: nothing else")
	assert.Contains(t, r.Stderr, `"retracted":3`)
	assert.Equal(t, 3.0, r.Metric(t, "alicloud_billing_rows_retracted_total", map[string]string{"account": "default", "bill": "account"}))
	assert.Equal(t, 1, strings.Count(r.Stderr, `"msg":"retracting rows the account bill no longer has"`))
}

// The API answers one read of the day empty, then whole: the empty read is read once
// more, and nothing is retracted.
func TestE2E_AReadThatComesBackEmptyOnceRetractsNothing(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 10, 4))
	args := []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()}
	require.Equal(t, 0, e.Run(t, args).Code)
	e.API.Inject(emptyAnswer(e.Day.String()))
	r := e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `"msg":"a read of the account bill no longer has many rows; reading it once more before retracting them"`)
	assert.Contains(t, r.Stderr, `"gone":10,"rows":10`)
	for _, ev := range sinkEvents(e) {
		assert.False(t, harness.Retracted(t, ev), "nothing retracted")
	}
	assert.Contains(t, r.Stderr, `"fetched":10,`)
	assert.Contains(t, r.Stderr, `"retracted":0`)
	assert.Equal(t, harness.ItemSums(t, e.API.Day(e.Day.String())), harness.LatestSums(t, sinkEvents(e)))
}

// Three of ten rows gone (above retract_max_fraction 0.2): the day is read once more, and
// as they are gone from both reads they are retracted.
func TestE2E_RowsGoneFromTwoReadsAreRetracted(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleDay(e.Day.String(), 10, 5)
	e.API.SetDay(e.Day.String(), items)
	args := []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()}
	require.Equal(t, 0, e.Run(t, args).Code)
	kept, gone := dropRows(items, 0, 4, 9)
	e.API.SetDay(e.Day.String(), kept)
	dry := e.Run(t, append(args, "--dry-run"))
	require.Equal(t, 0, dry.Code, dry.Stderr)
	assert.Contains(t, dry.Stdout, ": 7 rows: 0 new, 0 changed, 0 pending delivery, 7 already delivered, 3 would be retracted - dry run, nothing sent")
	assert.Contains(t, dry.Stderr, `"would_send":7,"would_retract":3`)
	before := len(e.API.Requests())
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--from", e.Day.String(), "--to", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, before+2, len(e.API.Requests()), "the day read twice (one page each)")
	assert.Contains(t, r.Stderr, `"gone":3,"rows":10`)
	assert.Contains(t, r.Stdout, ": 7 fetched, 7 delivered, 0 failed, 3 retracted in ", "the progress line counts them")
	assert.Contains(t, r.Stderr, `"msg":"range done"`)
	assert.Contains(t, r.Stderr, `"failed":0,"retracted":3}`)
	requireRetractions(t, e, e.Day.String(), sinkEvents(e), gone)

	// Retracted once: another run sends no retraction again.
	n := len(e.Sink.Events())
	r = e.Run(t, args)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `"retracted":0`)
	assert.Len(t, e.Sink.Events(), n+len(kept), "an explicit run sends the rows again, never a retraction")
}
