package sink

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func start(t *testing.T) *Sink {
	t.Helper()
	s := New()
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(s.Close)
	return s
}

// noRedirects is a client that shows the sink's answers as they are.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func post(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	resp, err := c.Post(url, "text/plain", strings.NewReader("not an event"))
	if err == nil {
		t.Cleanup(func() { _ = resp.Body.Close() })
	}
	return resp, err
}

func TestSink_RedirectNextAnswersWithTheLocationThenStops(t *testing.T) {
	s := start(t)
	s.RedirectNext(2, http.StatusMovedPermanently, "https://new-host/path?token=x")
	for range 2 {
		resp, err := post(t, noRedirects, s.URL()+"/in?a=1")
		require.NoError(t, err)
		assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
		assert.Equal(t, "https://new-host/path?token=x", resp.Header.Get("Location"))
	}
	resp, err := post(t, noRedirects, s.URL()+"/in")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "not a CloudEvent: past the redirects")
	assert.Equal(t, []Request{{"POST", "/in?a=1", ""}, {"POST", "/in?a=1", ""}, {"POST", "/in", ""}}, s.Requests())
	assert.Equal(t, 3, s.Attempts())
	assert.Zero(t, s.Len())
}

func TestSink_DropNextClosesTheConnectionWithoutAnAnswer(t *testing.T) {
	s := start(t)
	s.DropNext(1)
	_, err := post(t, &http.Client{}, s.URL())
	require.Error(t, err)
	resp, err := post(t, &http.Client{}, s.URL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Equal(t, 2, s.Attempts())
}

func TestSink_DelayNextDelaysOnlyTheNextRequests(t *testing.T) {
	s := start(t)
	s.DelayNext(1, time.Minute)
	_, err := post(t, &http.Client{Timeout: 100 * time.Millisecond}, s.URL())
	require.Error(t, err, "the first answer waits a minute")
	resp, err := post(t, &http.Client{Timeout: 10 * time.Second}, s.URL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
}

func TestSink_RequestsNameTheBasicAuthUser(t *testing.T) {
	s := start(t)
	_, err := post(t, &http.Client{}, strings.Replace(s.URL(), "http://", "http://alice:secret@", 1))
	require.NoError(t, err)
	assert.Equal(t, []Request{{"POST", "/", "alice"}}, s.Requests())
}

func TestSink_ResetForgetsTheRequests(t *testing.T) {
	s := start(t)
	_, err := post(t, &http.Client{}, s.URL())
	require.NoError(t, err)
	require.Len(t, s.Requests(), 1)
	s.Reset()
	assert.Empty(t, s.Requests())
	assert.Zero(t, s.Attempts())
}

func TestSink_KeepNothingHandsEventsOnAndKeepsNone(t *testing.T) {
	s := start(t)
	s.KeepNothing()
	var got []string
	s.OnReceive(func(e event.Event) { got = append(got, e.ID()) })
	req, err := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(`{"a":1}`))
	require.NoError(t, err)
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "e1", "ce-source": "s", "ce-type": "t", "Content-Type": "application/json"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, []string{"e1"}, got, "OnReceive runs before the answer")
	assert.Zero(t, s.Len(), "no event kept")
	assert.Empty(t, s.Requests(), "no request kept")
	assert.Equal(t, 1, s.Attempts())
}
