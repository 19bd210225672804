package job_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// tenRows are ten rows of one day, each with its own amount.
func tenRows() []billing.Row {
	rows := make([]billing.Row, 10)
	for i := range rows {
		rows[i] = row(fmt.Sprintf("p%02d", i))
		rows[i].PaymentAmount = bill.Amount(fmt.Sprintf("%d.%02d", i+1, i*7))
	}
	return rows
}

// without is rows without those at the indexes drop, in pages of 3.
func without(rows []billing.Row, drop ...int) [][]billing.Row {
	skip := map[int]bool{}
	for _, i := range drop {
		skip[i] = true
	}
	var kept []billing.Row
	for i, r := range rows {
		if !skip[i] {
			kept = append(kept, r)
		}
	}
	var pages [][]billing.Row
	for i := 0; i < len(kept); i += 3 {
		pages = append(pages, kept[i:min(i+3, len(kept))])
	}
	return pages
}

// retractDay is a daemon's job (retract_max_fraction 0.2) on st, a day of the clock c after
// the last run; first is the bill as the first run reads it, every read of it.
type retractDay struct {
	t  *testing.T
	st *state.Store
	c  *clockwork.FakeClock
	p  *publisher
}

func newRetractDay(t *testing.T, first []billing.Row) *retractDay {
	d := &retractDay{t: t, st: openState(t), c: clockwork.NewFakeClockAt(pulled), p: &publisher{}}
	rep, err := d.run(&reads{reads: [][][]billing.Row{without(first)}})
	require.NoError(t, err)
	require.Equal(t, len(first), rep.Delivered)
	return d
}

func (d *retractDay) run(f job.Fetcher) (job.Report, error) {
	d.c.Advance(24 * time.Hour)
	j := job.New(job.Params{Budget: shared, Options: job.Options{RetractMaxFraction: 0.2}, Fetcher: f, Publisher: d.p, State: d.st,
		Clock: d.c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return j.Run(context.Background(), day, job.Incremental)
}

func retracted(t *testing.T, e event.Event) bool {
	t.Helper()
	v, ok := e.Extensions()[job.RetractedExtension]
	if !ok {
		return false
	}
	b, err := types.ToBool(v)
	require.NoError(t, err)
	return b
}

// latest is what a receiver that upserts by subject and keeps the highest revision holds.
func latest(t *testing.T, events []event.Event) map[string]event.Event {
	t.Helper()
	out := map[string]event.Event{}
	for _, e := range events {
		if kept, ok := out[e.Subject()]; !ok || revision(t, e) > revision(t, kept) {
			out[e.Subject()] = e
		}
	}
	return out
}

// paymentSum sums PaymentAmount of the events' rows, as decimals.
func paymentSum(t *testing.T, events map[string]event.Event) *big.Rat {
	t.Helper()
	sum := new(big.Rat)
	for _, e := range events {
		var r struct{ PaymentAmount json.Number }
		require.NoError(t, json.Unmarshal(e.Data(), &r))
		v, ok := new(big.Rat).SetString(r.PaymentAmount.String())
		require.True(t, ok, "amount %q", r.PaymentAmount)
		sum.Add(sum, v)
	}
	return sum
}

func rowsSum(t *testing.T, rows []billing.Row) *big.Rat {
	t.Helper()
	sum := new(big.Rat)
	for _, r := range rows {
		v, ok := new(big.Rat).SetString(r.PaymentAmount.String())
		require.True(t, ok)
		sum.Add(sum, v)
	}
	return sum
}

func sameSum(t *testing.T, want, got *big.Rat) {
	t.Helper()
	assert.Equal(t, want.RatString(), got.RatString(), "the receiver's sum is the bill's")
}

func retractions(t *testing.T, events []event.Event) []event.Event {
	var out []event.Event
	for _, e := range events {
		if retracted(t, e) {
			out = append(out, e)
		}
	}
	return out
}

// A complete read that no longer has a delivered row retracts it, once: the row's
// subject, a higher revision, retracted = true, every amount 0; the receiver's sum is the
// bill's. A row that comes back is a higher revision again.
func TestRun_ARowTheBillNoLongerHasIsRetractedOnce(t *testing.T) {
	rows := tenRows()
	d := newRetractDay(t, rows)
	delivered := latest(t, d.p.got)

	f := &reads{reads: [][][]billing.Row{without(rows, 4)}}
	rep, err := d.run(f)
	require.NoError(t, err)
	assert.Equal(t, 1, f.calls, "1 of 10 is within retract_max_fraction: no second read")
	assert.Equal(t, [4]int{9, 0, 1, 1}, [4]int{rep.Fetched, rep.Delivered, rep.Retracted, rep.Sent})
	gone := retractions(t, d.p.got)
	require.Len(t, gone, 1)
	old := delivered[gone[0].Subject()]
	assert.Equal(t, rowOf(old).Identity(), rows[4].Identity(), "the row gone, under its subject")
	assert.Greater(t, revision(t, gone[0]), revision(t, old))
	assert.Equal(t, "0", rowOf(gone[0]).PaymentAmount.String())
	sameSum(t, rowsSum(t, append(append([]billing.Row{}, rows[:4]...), rows[5:]...)), paymentSum(t, latest(t, d.p.got)))
	ok, err := d.st.Complete(day, "account")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, d.st.Check())

	sent := len(d.p.got)
	rep, err = d.run(&reads{reads: [][][]billing.Row{without(rows, 4)}})
	require.NoError(t, err)
	assert.Zero(t, rep.Retracted)
	assert.Len(t, d.p.got, sent, "retracted once, never again")

	rep, err = d.run(&reads{reads: [][][]billing.Row{without(rows)}})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Changed, "the row that came back")
	back := d.p.got[len(d.p.got)-1]
	assert.False(t, retracted(t, back))
	assert.Greater(t, revision(t, back), revision(t, gone[0]))
	sameSum(t, rowsSum(t, rows), paymentSum(t, latest(t, d.p.got)))
}

// The API answers one read empty, then the day again: the empty read is doubted (every
// row gone), read once more, and nothing is retracted.
func TestRun_AReadThatComesBackEmptyOnceRetractsNothing(t *testing.T) {
	rows := tenRows()
	d := newRetractDay(t, rows)
	sent := len(d.p.got)
	f := &reads{reads: [][][]billing.Row{{}, without(rows)}}
	rep, err := d.run(f)
	require.NoError(t, err)
	assert.Equal(t, 2, f.calls, "read once more")
	assert.Zero(t, rep.Retracted)
	assert.Equal(t, 10, rep.Fetched)
	assert.Len(t, d.p.got, sent, "nothing sent")
	ok, err := d.st.Complete(day, "account")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, d.st.Check())
}

// Three of ten rows gone (above 0.2): read once more; gone again, they are retracted.
func TestRun_ManyRowsGoneTwiceAreRetracted(t *testing.T) {
	rows := tenRows()
	d := newRetractDay(t, rows)
	f := &reads{reads: [][][]billing.Row{without(rows, 1, 5, 9), without(rows, 1, 5, 9)}}
	rep, err := d.run(f)
	require.NoError(t, err)
	assert.Equal(t, 2, f.calls)
	assert.Equal(t, 3, rep.Retracted)
	assert.Len(t, retractions(t, d.p.got), 3)
	want := rowsSum(t, rows)
	sameSum(t, want.Sub(want, rowsSum(t, []billing.Row{rows[1], rows[5], rows[9]})), paymentSum(t, latest(t, d.p.got)))
	require.NoError(t, d.st.Check())
}

// Two reads that each lose three rows, not the same ones: nothing is retracted, the day
// fails naming the counts and is due again.
func TestRun_TwoReadsThatDisagreeRetractNothingAndFailTheDay(t *testing.T) {
	rows := tenRows()
	d := newRetractDay(t, rows)
	f := &reads{reads: [][][]billing.Row{without(rows, 0, 1, 2), without(rows, 3, 4, 5)}}
	rep, err := d.run(f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no longer had 3 of the 10 rows, the second 3 of 10, not the same ones; nothing retracted")
	assert.Zero(t, rep.Retracted)
	assert.Empty(t, retractions(t, d.p.got))
	ok, err := d.st.Complete(day, "account")
	require.NoError(t, err)
	assert.False(t, ok, "the daemon reads the day again")
	rs, err := d.st.Rows(day)
	require.NoError(t, err)
	for id, r := range rs {
		assert.False(t, r.Retracted, id)
	}
}

// A read that fails (a page, then an error) retracts nothing, whatever it did not reach.
func TestRun_AFailedReadRetractsNothing(t *testing.T) {
	rows := tenRows()
	d := newRetractDay(t, rows)
	_, err := d.run(fetcher{rows: rows[:3], err: fmt.Errorf("api down")})
	require.Error(t, err)
	assert.Empty(t, retractions(t, d.p.got))
}

// A retraction the receiver refuses fails the day; the next run sends it again with its id.
func TestRun_ARetractionNotDeliveredIsSentAgainWithItsID(t *testing.T) {
	rows := tenRows()
	d := newRetractDay(t, rows)
	d.p.fail = 1
	rep, err := d.run(&reads{reads: [][][]billing.Row{without(rows, 7)}})
	require.ErrorIs(t, err, job.ErrUndelivered)
	assert.Equal(t, [2]int{1, 0}, [2]int{rep.Failed, rep.Retracted})
	first := retractions(t, d.p.got)
	require.Len(t, first, 1)
	d.p.fail = 0
	rep, err = d.run(&reads{reads: [][][]billing.Row{without(rows, 7)}})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Retracted)
	again := retractions(t, d.p.got)
	require.Len(t, again, 2)
	assert.Equal(t, first[0].ID(), again[1].ID(), "the same retraction")
	require.NoError(t, d.st.Check())
}

// A dry run counts the rows a run would retract, and sends and records nothing.
func TestDryRun_CountsTheRowsItWouldRetract(t *testing.T) {
	rows := tenRows()
	d := newRetractDay(t, rows)
	j := job.New(job.Params{Budget: shared, Options: job.Options{RetractMaxFraction: 0.2}, Fetcher: &reads{reads: [][][]billing.Row{without(rows, 2, 3)}},
		Publisher: d.p, State: d.st, Clock: d.c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	sent := len(d.p.got)
	rep, err := j.DryRun(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.WouldRetract)
	assert.Contains(t, fmt.Sprint(rep.Attrs()...), "would_retract2")
	assert.Len(t, d.p.got, sent)
}
