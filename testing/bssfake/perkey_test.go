package bssfake

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// RateLimitPerKey throttles each AccessKey on its own: a key beyond its requests per
// second is refused while another key's requests in the same second pass, and the window
// slides.
func TestRateLimitPerKey_EachKeyItsOwn(t *testing.T) {
	now := testNow
	s := New(Options{Now: func() time.Time { return now }, RateLimitPerKey: 2,
		Keys: map[string]string{"testid": "testsecret", "other": "othersecret"}})
	s.SetDay("2026-11-01", SampleDay("2026-11-01", 10, 1))
	ask := func(key, secret string) int {
		p := signed(now, "n"+strconv.Itoa(len(s.Requests())))
		p.Set("AccessKeyId", key)
		p.Set("Signature", Sign("POST", p, secret))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/?"+p.Encode(), nil))
		return w.Code
	}
	assert.Equal(t, []int{200, 200, 400}, []int{ask("testid", "testsecret"), ask("testid", "testsecret"), ask("testid", "testsecret")})
	assert.Equal(t, []int{200, 200, 400}, []int{ask("other", "othersecret"), ask("other", "othersecret"), ask("other", "othersecret")})
	assert.Equal(t, "Throttling.User", s.Requests()[2].Code)
	now = now.Add(time.Second)
	assert.Equal(t, 200, ask("testid", "testsecret"), "a second later the key may ask again")
}
