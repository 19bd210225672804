package sender_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// A 307 or 308 is followed with the same method and body, in both modes: the event
// arrives whole where the receiver points.
func TestSend_Follows307And308WithMethodAndBody(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, structured := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d structured=%v", status, structured), func(t *testing.T) {
				dst := startSink(t)
				src := startSink(t)
				src.RedirectNext(1<<30, status, dst.URL()+"/moved")
				evs := events(10)
				require.Empty(t, newSender(t, src.URL(), structured, fast).Send(context.Background(), evs, nil))

				assert.Equal(t, 10, src.Attempts())
				for _, r := range dst.Requests() {
					assert.Equal(t, http.MethodPost, r.Method)
					assert.Equal(t, "/moved", r.URI)
				}
				got := dst.Events()
				require.Len(t, got, 10)
				want := map[string]string{}
				for _, e := range evs {
					want[e.ID()] = string(e.Data())
				}
				for _, r := range got {
					assert.Equal(t, structured, r.Structured)
					assert.JSONEq(t, want[r.Event.ID()], string(r.Event.Data()), r.Event.ID())
				}
			})
		}
	}
}

// movedPage is a web server that answers 200 to anything, as the page a 301 points to
// would: a GET counted there as a delivery is an event lost.
func movedPage(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var methods []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		_, _ = w.Write([]byte("<html>moved here</html>"))
	}))
	t.Cleanup(ts.Close)
	return ts, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), methods...) }
}

// 301, 302 and 303 are failures that name the Location to configure (without its query);
// nothing reaches the Location, nothing is retried, and the events after the first
// failure are not tried either.
func TestSend_OtherRedirectsFailAndNameTheLocation(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			page, methods := movedPage(t)
			src := startSink(t)
			src.RedirectNext(1<<30, status, page.URL+"/new/path?token=from-location")
			failures := newSender(t, src.URL(), false, fast).Send(guard(t), events(20), nil)

			require.Len(t, failures, 20)
			requireAll(t, failures, sender.ErrRedirect)
			var cfg *sender.ConfigError
			require.ErrorAs(t, failures[0].Err, &cfg)
			assert.Equal(t, fmt.Sprintf("receiver answered HTTP %d redirect to %s/new/path?***; "+
				"set v_target to it (redirects other than 307/308 are not followed)", status, page.URL), failures[0].Err.Error())
			assert.Empty(t, methods(), "the Location got requests")
			assert.LessOrEqual(t, src.Attempts(), concurrency, "retried, or tried after the first failure")
			assert.Zero(t, src.Len())
		})
	}
}

// A 3xx that Go's client does not treat as a redirect (300 here) is no delivery either.
func TestSend_AnyOther3xxIsARedirectFailure(t *testing.T) {
	page, methods := movedPage(t)
	src := startSink(t)
	src.RedirectNext(1<<30, http.StatusMultipleChoices, page.URL)
	failures := newSender(t, src.URL(), false, fast).Send(guard(t), events(3), nil)
	require.Len(t, failures, 3)
	requireAll(t, failures, sender.ErrRedirect)
	assert.Contains(t, failures[0].Err.Error(), "receiver answered HTTP 300")
	assert.Empty(t, methods())
}

// A redirect loop stops after MaxRedirects hops and is not retried.
func TestSend_RedirectLoopStopsAfterMaxRedirects(t *testing.T) {
	src := startSink(t)
	src.RedirectNext(1<<30, http.StatusTemporaryRedirect, src.URL()+"/again")
	failures := newSender(t, src.URL(), false, fast).Send(guard(t), events(3), nil)
	require.Len(t, failures, 3)
	requireAll(t, failures, sender.ErrRedirect)
	assert.Contains(t, failures[0].Err.Error(), fmt.Sprintf("receiver redirected more than %d times", sender.MaxRedirects))
	assert.LessOrEqual(t, src.Attempts(), 3*(sender.MaxRedirects+1))
	assert.False(t, errors.Is(failures[0].Err, sender.ErrReceiverUnavailable))
}

// v_target's userinfo (the receiver's basic auth) goes along a 307 within the same origin,
// and not to another one.
func TestSend_307KeepsBasicAuthWithinTheSameOriginOnly(t *testing.T) {
	k := startSink(t)
	other := startSink(t)
	k.RedirectNext(1, http.StatusTemporaryRedirect, "/moved")              // same origin
	target := strings.Replace(k.URL(), "http://", "http://alice:pa55@", 1) // userinfo
	require.Empty(t, newSender(t, target, false, fast).Send(context.Background(), events(1), nil))
	assert.Equal(t, []sink.Request{{Method: "POST", URI: "/", User: "alice"}, {Method: "POST", URI: "/moved", User: "alice"}}, k.Requests())

	k.Reset()
	k.RedirectNext(1, http.StatusPermanentRedirect, other.URL()+"/elsewhere") // another origin
	require.Empty(t, newSender(t, target, false, fast).Send(context.Background(), events(1), nil))
	assert.Equal(t, []sink.Request{{Method: "POST", URI: "/elsewhere"}}, other.Requests())
}
