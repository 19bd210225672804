package sender_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

var fast = sender.Policy{Attempts: 5, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: time.Second}

func newSender(t *testing.T, target string, structured bool, pol sender.Policy) *sender.Sender {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	s, err := sender.New(sender.Params{Config: &config.Config{Target: u, Structured: structured, Concurrency: 8},
		Clock: clockwork.NewRealClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Policy: &pol})
	require.NoError(t, err)
	return s
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
}

func TestSend_SlowReceiverTimesOutThenSucceeds(t *testing.T) {
	k := startSink(t)
	k.SetDelay(1500 * time.Millisecond)
	go func() { time.Sleep(200 * time.Millisecond); k.SetDelay(0) }()
	require.Empty(t, newSender(t, k.URL(), false, fast).Send(context.Background(), events(2), nil))
	assert.Len(t, ids(k.Events()), 2)
}

func BenchmarkSend_LoopbackSink(b *testing.B) {
	k := sink.New()
	require.NoError(b, k.Start("127.0.0.1:0"))
	defer k.Close()
	u, _ := url.Parse(k.URL())
	s, err := sender.New(sender.Params{Config: &config.Config{Target: u, Concurrency: 16},
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
