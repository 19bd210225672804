package job_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// counter keeps, per bill's day, the identities of the rows of its last read.
type counter struct {
	mu    sync.Mutex
	reads int
	rows  map[string][]string
}

func (c *counter) Read(kind bill.Kind, day calendar.Day) func([]bill.Row) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	key := string(kind) + " " + day.String()
	c.rows[key] = nil
	return func(rows []bill.Row) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, r := range rows {
			c.rows[key] = append(c.rows[key], r.Identity())
		}
		return nil
	}
}

// The month's close sums what a day's read returns: every page of the read that ends the
// day, each row once, nothing of a read abandoned because the bill moved; a dry run too.
func TestWithCounter_SeesEveryRowOfTheLastReadOnce(t *testing.T) {
	for _, dry := range []bool{false, true} {
		c := &counter{rows: map[string][]string{}}
		j := newJob(&billingRestart{}, &publisher{}, openState(t)).WithCounter(c)
		var err error
		j.RunDays(context.Background(), []calendar.Day{day}, job.Incremental, dry, func(_ job.Report, e error) bool {
			err = e
			return true
		})
		require.NoError(t, err)
		assert.Equal(t, 2, c.reads, "dry %v: a read, and a read again from the start", dry)
		assert.Equal(t, []string{row("x").Identity(), row("y").Identity()}, c.rows["account "+day.String()], "dry %v", dry)
	}
}

// The job a counter was given to is a copy: the job itself counts nothing.
func TestWithCounter_LeavesTheJobAlone(t *testing.T) {
	c := &counter{rows: map[string][]string{}}
	j := newJob(fetcher{rows: nil}, &publisher{}, openState(t))
	_ = j.WithCounter(c)
	_, err := j.Run(context.Background(), day, job.Incremental)
	require.NoError(t, err)
	assert.Zero(t, c.reads)
}
