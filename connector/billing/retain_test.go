package billing_test

import (
	"context"
	"runtime"
	"testing"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// A page given to Stream's fn is the caller's alone: while fn waits (the job waits there
// for room in the memory budget before the next page is read), Stream holds nothing of it.
// A hundred accounts waiting so held a hundred pages outside the budget (100 MB more RSS).
// The page's rows must be collectable once fn has dropped them, before fn returns.
func TestStream_HoldsNoPageWhileFnWaits(t *testing.T) {
	for _, kind := range []bill.Kind{bill.Account, bill.Instance} {
		t.Run(string(kind), func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			f.SetDay(day.String(), bssfake.SampleDay(day.String(), 700, 1))
			f.SetInstanceDay(day.String(), bssfake.SampleInstanceDay(day.String(), 700, 1))
			c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
			pages, kept := 0, 0
			err := c.Stream(context.Background(), kind, day, func(p billing.Page) error {
				pages++
				require.NotEmpty(t, p.Rows)
				w := weak.Make(&p.Rows[0]) // the page's slice of rows
				p = billing.Page{}
				runtime.GC()
				runtime.GC()
				if w.Value() != nil {
					kept++
				}
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, 3, pages)
			assert.Zero(t, kept, "pages still held by Stream while fn had dropped them")
		})
	}
}
