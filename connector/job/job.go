// Package job is one billing day: fetch every row, build the seed's event for each,
// deliver them all, and report the counts.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
)

// Fetcher reads a day's bill (billing.Client).
type Fetcher interface {
	FetchDay(ctx context.Context, day billing.Day) ([]billing.Row, error)
}

// Publisher delivers events and returns those it could not deliver (sender.Sender).
type Publisher interface {
	Send(ctx context.Context, events []event.Event) []sender.Failure
}

// Clock reads the time.
type Clock interface {
	Now() time.Time
}

// Report is what one day's run did.
type Report struct {
	Day       billing.Day
	Fetched   int
	Delivered int
	Failed    int
	Duration  time.Duration
}

// Complete reports whether every fetched row was delivered.
func (r Report) Complete() bool { return r.Failed == 0 && r.Delivered == r.Fetched }

// ErrUndelivered is returned (wrapped) when some rows were not delivered.
var ErrUndelivered = errors.New("not all rows delivered")

// Job runs billing days.
type Job struct {
	fetch   Fetcher
	publish Publisher
	clock   Clock
	log     *slog.Logger
}

// Params are the inputs of New.
type Params struct {
	fx.In
	Fetcher   Fetcher
	Publisher Publisher
	Clock     Clock
	Logger    *slog.Logger
}

// New builds a Job.
func New(p Params) *Job {
	return &Job{fetch: p.Fetcher, publish: p.Publisher, clock: p.Clock, log: p.Logger}
}

// Run pulls one day and delivers every row. The error is non-nil when the day was not
// read completely or not every row was delivered; the report has the counts either way.
func (j *Job) Run(ctx context.Context, day billing.Day) (Report, error) {
	start := j.clock.Now()
	rep := Report{Day: day}

	rows, err := j.fetch.FetchDay(ctx, day)
	if err != nil {
		rep.Duration = j.clock.Now().Sub(start)
		return rep, err
	}
	rep.Fetched = len(rows)
	pulled := j.clock.Now().UTC()
	events, err := Events(rows, pulled)
	if err != nil {
		rep.Duration = j.clock.Now().Sub(start)
		return rep, fmt.Errorf("build events of %s: %w", day, err)
	}
	failures := j.publish.Send(ctx, events)
	rep.Failed = len(failures)
	rep.Delivered = len(events) - len(failures)
	rep.Duration = j.clock.Now().Sub(start)
	if len(failures) > 0 {
		return rep, fmt.Errorf("%s: %d of %d rows not delivered (first: %s: %v): %w",
			day, len(failures), len(events), failures[0].ID, failures[0].Err, ErrUndelivered)
	}
	return rep, nil
}

// Events builds the events of a day's rows. Two rows that are identical in every field
// (which the API should never return, but a receiver must not drop one of them as a
// duplicate if it did) get distinct ids by their occurrence number.
func Events(rows []billing.Row, pulled time.Time) ([]event.Event, error) {
	events := make([]event.Event, 0, len(rows))
	seen := make(map[string]int, len(rows))
	for _, r := range rows {
		e, err := NewEvent(r, pulled)
		if err != nil {
			return nil, err
		}
		if n := seen[e.ID()]; n > 0 {
			seen[e.ID()] = n + 1
			e.SetID(uuid.NewSHA1(idNamespace, []byte(fmt.Sprintf("%s#%d", e.ID(), n))).String())
		} else {
			seen[e.ID()] = 1
		}
		events = append(events, e)
	}
	return events, nil
}
