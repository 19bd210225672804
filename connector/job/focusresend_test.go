package job_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// refusingPublisher refuses every retraction while refuse is set, and answers the rest.
type refusingPublisher struct {
	mu      sync.Mutex
	refuse  bool
	retract []event.Event
}

func (p *refusingPublisher) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	for e := range events {
		if e.Extensions()[job.RetractedExtension] != true {
			result(e.ID(), nil)
			continue
		}
		p.mu.Lock()
		p.retract = append(p.retract, e)
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			result(e.ID(), errors.New("boom"))
			continue
		}
		result(e.ID(), nil)
	}
}

// A retraction refused, then made again from a read that cannot make it the same (its rows
// now in two currencies: the retraction is no longer whole) is other content: it must not
// carry the revision of the first, or a receiver holds two contents of one subject and
// revision, and keeps whichever came last.
func TestFocus_ARetractionMadeAgainWithOtherContentGetsANewRevision(t *testing.T) {
	st := openState(t)
	var usd, mixed []bill.Row
	for i := range 10 {
		usd = append(usd, currencyRow(t, fmt.Sprintf("i-%d", i), "USD"))
		mixed = append(mixed, currencyRow(t, fmt.Sprintf("i-%d", i), []string{"USD", "CNY"}[i%2]))
	}
	p := &refusingPublisher{}
	run := func(rows []bill.Row) error {
		j := job.New(job.Params{Budget: shared, Options: job.Options{Bills: []bill.Kind{bill.Focus}},
			Fetcher: &instanceReads{reads: [][][]bill.Row{{rows}}}, Publisher: p, State: st,
			Clock: clockwork.NewFakeClockAt(pulled), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		_, err := j.Run(context.Background(), fday, job.Incremental)
		return err
	}
	require.NoError(t, run(usd))
	p.refuse = true
	require.ErrorIs(t, run(usd[:9]), job.ErrUndelivered)
	p.refuse = false
	require.NoError(t, run(mixed[:9]))
	require.Len(t, p.retract, 2, "the retraction, refused, then sent again")
	first, again := p.retract[0], p.retract[1]
	require.NotEqual(t, string(first.Data()), string(again.Data()), "the read made the retraction otherwise")
	assert.NotEqual(t, first.ID(), again.ID())
	assert.Equal(t, first.Subject(), again.Subject())
	assert.Greater(t, again.Extensions()[job.RevisionExtension], first.Extensions()[job.RevisionExtension],
		"other content of the subject: a higher revision")
	require.NoError(t, st.Check())
}
