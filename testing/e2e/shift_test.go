package e2e

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// shiftingAPI serves e.API through a server that calls after() after each answer.
func shiftingAPI(t *testing.T, e *harness.Env, after func(n int)) string {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.API.ServeHTTP(w, r)
		mu.Lock()
		defer mu.Unlock()
		n++
		after(n)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The bill is re-sorted between page 1 and page 2 with TotalCount unchanged: one row would
// come twice and another never. The row seen again (by its identity, in the state) makes
// the connector read the day again, and every row arrives once.
func TestE2E_RowsReorderedWhilePagingAreReadAgain(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleDay(e.Day.String(), 301, 9)
	e.API.SetDay(e.Day.String(), items)
	shifted := append([]bssfake.Item{items[300]}, items[:300]...) // the last row moves to the front
	url := shiftingAPI(t, e, func(n int) {
		if n == 1 { // after page 1 of the first read
			e.API.SetDay(e.Day.String(), shifted)
		}
	})
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"endpoint": url}), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "a row came again on a later page")
	requireDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	// Page 1 of the first read may come once more (--once resends what was delivered),
	// under the same ids.
	assert.LessOrEqual(t, e.Sink.Len(), e.Distinct()+300)
}

// A bill that keeps moving under every read fails the day: never a row twice as two rows.
func TestE2E_RowsReorderedOnEveryReadFailTheDay(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 301, 9))
	url := shiftingAPI(t, e, func(int) {
		cur := e.API.Day(e.Day.String())
		e.API.SetDay(e.Day.String(), append([]bssfake.Item{cur[len(cur)-1]}, cur[:len(cur)-1]...))
	})
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"endpoint": url}), "--once", "--date", e.Day.String()})
	assert.Equal(t, 1, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "came again on page 2")
	subjects := map[string]bool{}
	for _, got := range e.Sink.Events() {
		subjects[got.Event.Subject()] = true
	}
	assert.Equal(t, len(subjects), e.Distinct(), "one id per row: no row delivered as two")
}

// The bill grows while paging (TotalCount moves between page 1 and page 2): it is read
// again from page 1, and --from/--to sends the rows of page 1 again (same ids). The
// progress line and the day's log line count rows, not re-sends: delivered == fetched ==
// the day's rows. Page 1 of the second read is held until the first read's 300 events
// have reached the sink, so that their acknowledgements count before they are sent again.
func TestE2E_AReReadCountsEachRowOnce(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleDay(e.Day.String(), 302, 11)
	e.API.SetDay(e.Day.String(), items[:301])
	release := make(chan struct{})
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		this := n
		mu.Unlock()
		if this == 3 { // page 1 of the second read
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		e.API.ServeHTTP(w, r)
		if this == 1 {
			e.API.SetDay(e.Day.String(), items) // one more row: TotalCount 302 on page 2
		}
	}))
	t.Cleanup(srv.Close)
	done := make(chan harness.Result, 1)
	go func() {
		done <- e.Run(t, []string{"--config", e.Config(t, map[string]any{"endpoint": srv.URL}), "--from", e.Day.String(), "--to", e.Day.String()})
	}()
	e.Changed.Wait(t, "the first read's 300 events at the sink", nil, func() bool { return e.Sink.Len() >= 300 })
	close(release)
	r := <-done
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "bill changed while paging")
	requireDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	assert.Contains(t, r.Stdout, ": 302 fetched, 302 delivered, 0 failed in ")
	assert.Regexp(t, `"msg":"day done".*"fetched":302,.*"delivered":302,"failed":0`, r.Stderr)
	assert.Regexp(t, `"msg":"range done".*"fetched":302,.*"delivered":302,"failed":0`, r.Stderr)
	assert.Equal(t, 302+300, e.Sink.Len(), "page 1 twice, under the same ids")
}
