package sender_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// fast is the production policy's shape with waits short enough for the real clock.
var fast = sender.Policy{Attempts: 5, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: time.Second,
	BreakAfter: sender.DefaultBreakAfter, Cooldown: 5 * time.Millisecond, OutageBudget: 10 * time.Second}

// concurrency is the sends in flight in every test.
const concurrency = 8

// options are a test sender's inputs beyond its target.
type options struct {
	structured bool
	policy     sender.Policy
	clock      clockwork.Clock // a real clock when nil
	log        io.Writer       // debug logs; discarded when nil
	sends      int             // send_concurrency; concurrency when 0
}

func build(t *testing.T, target string, o options) *sender.Sender {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	if o.clock == nil {
		o.clock = clockwork.NewRealClock()
	}
	if o.log == nil {
		o.log = io.Discard
	}
	if o.sends == 0 {
		o.sends = concurrency
	}
	s, err := sender.New(sender.Params{Options: sender.Options{Target: u, Structured: o.structured, Concurrency: o.sends},
		Clock: o.clock, Logger: slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelDebug})), Policy: &o.policy})
	require.NoError(t, err)
	return s
}

func newSender(t *testing.T, target string, structured bool, pol sender.Policy) *sender.Sender {
	t.Helper()
	return build(t, target, options{structured: structured, policy: pol})
}

// pump advances fc by step each time `waiters` goroutines wait on it, until the returned
// stop is called. With every worker of a Send counted, simulated time moves only while no
// request is in flight, so an HTTP round trip costs none of it.
func pump(fc *clockwork.FakeClock, step time.Duration, waiters int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for fc.BlockUntilContext(ctx, waiters) == nil {
			fc.Advance(step)
		}
	}()
	return func() { cancel(); <-done }
}

// guard is a context for Sends that must not wait on a fake clock nobody advances: if
// they do, they end with its error after a generous real-time bound instead of hanging.
func guard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer is a log sink the sender's goroutines and the test can share.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// texts is every way err and the errors it wraps print.
func texts(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error(), fmt.Sprintf("%+v", err)}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, texts(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, texts(e)...)
		}
	}
	return out
}

// requireNone fails the test if any event failed, without printing thousands of them.
func requireNone(t *testing.T, failures []sender.Failure) {
	t.Helper()
	if len(failures) > 0 {
		require.FailNow(t, "events failed", "%d failures, the first: %s: %v", len(failures), failures[0].ID, failures[0].Err)
	}
}

func requireAll(t *testing.T, failures []sender.Failure, target error) {
	t.Helper()
	for _, f := range failures {
		require.True(t, errors.Is(f.Err, target), "%s: %v", f.ID, f.Err)
	}
}

func startSink(t *testing.T) *sink.Sink {
	t.Helper()
	s := sink.New()
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(s.Close)
	return s
}

func events(n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		e := event.New()
		e.SetID(fmt.Sprintf("00000000-0000-5000-8000-%012d", i))
		e.SetSource("cloud.alicloud.billing")
		e.SetType("alicloud.account_billing.daily")
		e.SetTime(time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC))
		_ = e.SetData(event.ApplicationJSON, map[string]int{"n": i})
		out[i] = e
	}
	return out
}

func ids(rs []sink.Received) map[string]bool {
	m := map[string]bool{}
	for _, r := range rs {
		m[r.Event.ID()] = true
	}
	return m
}

func TestSend_BinaryModeByDefault(t *testing.T) {
	k := startSink(t)
	failures := newSender(t, k.URL(), false, fast).Send(context.Background(), events(50), nil)
	require.Empty(t, failures)
	got := k.Events()
	require.Len(t, got, 50)
	assert.Len(t, ids(got), 50)
	for _, r := range got {
		assert.False(t, r.Structured)
	}
}

func TestSend_StructuredModeByConfig(t *testing.T) {
	k := startSink(t)
	require.Empty(t, newSender(t, k.URL(), true, fast).Send(context.Background(), events(5), nil))
	for _, r := range k.Events() {
		assert.True(t, r.Structured)
	}
}

func TestSend_Retries503And429(t *testing.T) {
	for _, status := range []int{429, 503, 500} {
		k := startSink(t)
		k.FailNext(6, status)
		require.Empty(t, newSender(t, k.URL(), false, fast).Send(context.Background(), events(20), nil), "status %d", status)
		assert.Len(t, ids(k.Events()), 20)
		assert.Equal(t, 26, k.Attempts())
	}
}

func TestSend_RejectionIsReportedWithStatusAndNotRetried(t *testing.T) {
	k := startSink(t)
	k.FailNext(1, 400)
	s := newSender(t, k.URL(), false, fast)
	failures := s.Send(context.Background(), events(1), nil)
	require.Len(t, failures, 1)
	var rej *sender.Rejected
	require.ErrorAs(t, failures[0].Err, &rej)
	assert.Equal(t, 400, rej.Status)
	assert.NotErrorIs(t, failures[0].Err, sender.ErrReceiverUnavailable)
	assert.Equal(t, 1, k.Attempts())
}

func TestSend_UndeliveredWhenNobodyListens(t *testing.T) {
	k := startSink(t)
	target := k.URL()
	k.Close()
	failures := newSender(t, target, false, fast).Send(context.Background(), events(3), nil)
	require.Len(t, failures, 3)
	assert.Contains(t, failures[0].Err.Error(), "gave up after 5 attempts")
	assert.Contains(t, failures[0].Err.Error(), "undelivered")
	requireAll(t, failures, sender.ErrReceiverUnavailable)
}

func TestSend_SlowReceiverTimesOutThenSucceeds(t *testing.T) {
	k := startSink(t)
	k.DelayNext(2, 1500*time.Millisecond) // longer than the 1 s timeout: both first attempts time out
	require.Empty(t, newSender(t, k.URL(), false, fast).Send(context.Background(), events(2), nil))
	assert.Len(t, ids(k.Events()), 2)
	assert.Equal(t, 4, k.Attempts())
}

func BenchmarkSend_LoopbackSink(b *testing.B) {
	k := sink.New()
	require.NoError(b, k.Start("127.0.0.1:0"))
	defer k.Close()
	u, _ := url.Parse(k.URL())
	s, err := sender.New(sender.Params{Options: sender.Options{Target: u, Concurrency: 16},
		Clock: clockwork.NewRealClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(b, err)
	evs := events(1000)
	b.ResetTimer()
	for range b.N {
		if f := s.Send(context.Background(), evs, nil); len(f) > 0 {
			b.Fatal(f[0].Err)
		}
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}

func TestSend_OnAckIsCalledOncePerAcknowledgedEvent(t *testing.T) {
	k := startSink(t)
	k.FailNext(3, 400)
	var mu sync.Mutex
	acked := map[string]int{}
	failures := newSender(t, k.URL(), false, fast).Send(context.Background(), events(20), func(id string) {
		mu.Lock()
		defer mu.Unlock()
		acked[id]++
	})
	require.Len(t, failures, 3)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, acked, 17)
	for id, n := range acked {
		assert.Equal(t, 1, n, id)
	}
	for _, f := range failures {
		assert.NotContains(t, acked, f.ID)
	}
	assert.Equal(t, ids(k.Events()), func() map[string]bool {
		m := map[string]bool{}
		for id := range acked {
			m[id] = true
		}
		return m
	}())
}
