package billing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// The bill is re-sorted between page 1 and page 2 with TotalCount unchanged: one row
// would come twice and another never. The row seen again makes the client read the day
// again from page 1, and the day it returns has every row once.
func TestFetchDay_RowsReorderedWhilePagingAreReadAgain(t *testing.T) {
	f := bssfake.New(bssfake.Options{})
	items := bssfake.SampleDay(day.String(), 301, 9)
	f.SetDay(day.String(), items)
	shifted := append([]bssfake.Item{items[300]}, items[:300]...) // the last row moves to the front
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(w, r)
		once.Do(func() { f.SetDay(day.String(), shifted) }) // after page 1 of the first read
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, "testid", "testsecret", fastPolicy, nil)

	rows, err := c.FetchDay(context.Background(), day)
	require.NoError(t, err)
	require.Len(t, rows, 301)
	count := map[string]int{}
	for _, r := range rows {
		count[r.OwnerID+"/"+r.ProductCode+"/"+r.SubscriptionType+"/"+r.CostUnit]++
	}
	for _, it := range items {
		assert.Equal(t, 1, count[it.OwnerID+"/"+it.ProductCode+"/"+it.SubscriptionType+"/"+it.CostUnit], "every row exactly once")
	}
	assert.Len(t, f.Requests(), 4, "page 1, page 2 (a row again), then pages 1 and 2 once more")
}

// A bill that keeps moving under every read fails the day, never delivering a partial one.
func TestFetchDay_RowsReorderedOnEveryReadFailTheDay(t *testing.T) {
	f := bssfake.New(bssfake.Options{})
	items := bssfake.SampleDay(day.String(), 301, 9)
	f.SetDay(day.String(), items)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(w, r)
		mu.Lock()
		defer mu.Unlock()
		n++
		cur := f.Day(day.String())
		f.SetDay(day.String(), append([]bssfake.Item{cur[len(cur)-1]}, cur[:len(cur)-1]...))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, "testid", "testsecret", fastPolicy, nil)

	_, err := c.FetchDay(context.Background(), day)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kept changing while paging")
}
