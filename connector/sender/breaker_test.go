package sender_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// outage is the breaker's policy in these tests, on a fake clock stepped a second at a time
// once every worker waits on it. Retries do not back off (1 ns rounds down to no wait): the
// only waits are the breaker's, so that every worker of a Send ends up waiting on the clock.
var outage = sender.Policy{Attempts: 5, BaseBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond, Timeout: 5 * time.Second,
	BreakAfter: 10, Cooldown: 10 * time.Second, OutageBudget: time.Minute}

// maxRequests bounds what a Send may cost a receiver that is down, whatever the number of
// events: the failures that open the breaker, the sends already in flight then, and one
// probe per cooldown for the outage budget.
func maxRequests(p sender.Policy) int {
	return p.BreakAfter + concurrency + int(p.OutageBudget/p.Cooldown)
}

// With the receiver down, a Send of 10,000 events costs it a few dozen requests and fails
// every event as "receiver unavailable" within the outage budget: whether the receiver
// answers 503 or 429 or does not answer at all.
func TestSend_BreakerBoundsRequestsWhileTheReceiverIsDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(*sink.Sink)
	}{
		{"503", func(k *sink.Sink) { k.FailNext(1<<30, 503) }},
		{"429", func(k *sink.Sink) { k.FailNext(1<<30, 429) }},
		{"no response", func(k *sink.Sink) { k.DropNext(1 << 30) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := startSink(t)
			tc.down(k)
			fc := clockwork.NewFakeClock()
			s := build(t, k.URL(), options{policy: outage, clock: fc})
			start := fc.Now()
			stop := pump(fc, time.Second, concurrency)
			failures := s.Send(context.Background(), events(10_000), func(string) { t.Error("acked") })
			stop()

			require.Len(t, failures, 10_000)
			requireAll(t, failures, sender.ErrReceiverUnavailable)
			assert.LessOrEqual(t, k.Attempts(), maxRequests(outage))
			assert.Zero(t, k.Len())
			budgetSpent := 0
			for _, f := range failures {
				if strings.HasPrefix(f.Err.Error(), "receiver unavailable: no delivery for 1m") {
					budgetSpent++
				}
			}
			assert.Greater(t, budgetSpent, 9_900, "the events not tried fail with the outage budget's error")
			assert.Equal(t, outage.OutageBudget, fc.Since(start), "the Send failed when the outage budget was spent")
			t.Logf("%d events, %d requests: %v", len(failures), k.Attempts(), failures[len(failures)-1].Err)
		})
	}
}

// The breaker outlives a Send: once the receiver has been down, the next Send starts with
// one probe, not with a wave; when the receiver is back the probe succeeds and everything
// is delivered.
func TestSend_NextSendProbesFirstAndDeliversWhenTheReceiverIsBack(t *testing.T) {
	k := startSink(t)
	k.FailNext(1<<30, 503)
	fc := clockwork.NewFakeClock()
	s := build(t, k.URL(), options{policy: outage, clock: fc})
	evs := events(2_000)
	stop := pump(fc, time.Second, concurrency)
	require.Len(t, s.Send(context.Background(), evs, nil), len(evs))
	stop()
	fc.Advance(time.Hour) // the daemon retries the day later; the timers of the first Send fire

	// Still down: one probe, then every worker waits on the clock again.
	before := k.Attempts()
	var acked atomic.Int64
	done := make(chan []sender.Failure, 1)
	go func() { done <- s.Send(context.Background(), evs, func(string) { acked.Add(1) }) }()
	require.NoError(t, fc.BlockUntilContext(guard(t), concurrency))
	assert.Equal(t, before+1, k.Attempts(), "the second Send did not start with a single probe")

	k.FailNext(0, 0) // the receiver is back
	stop = pump(fc, time.Second, concurrency)
	failures := <-done
	stop()
	requireNone(t, failures)
	assert.Equal(t, int64(len(evs)), acked.Load())
	assert.Len(t, ids(k.Events()), len(evs))
	assert.Equal(t, before+1+len(evs), k.Attempts(), "one failed probe, then each event once")
}

// An outage shorter than the budget only pauses the Send: the breaker opens, a probe
// closes it, and every event is delivered.
func TestSend_BreakerClosesAfterASuccessfulProbeAndSendingResumes(t *testing.T) {
	k := startSink(t)
	k.FailNext(outage.BreakAfter+15, 503) // opens the breaker, and a few probes fail too
	pol := outage
	pol.Attempts = 100 // the probes' events must not run out of attempts
	pol.OutageBudget = time.Hour
	fc := clockwork.NewFakeClock()
	s := build(t, k.URL(), options{policy: pol, clock: fc})
	stop := pump(fc, time.Second, concurrency)
	failures := s.Send(context.Background(), events(500), nil)
	stop()
	requireNone(t, failures)
	assert.Len(t, ids(k.Events()), 500)
	assert.Equal(t, outage.BreakAfter+15+500, k.Attempts())
}

// 4xx rejections (not 429) say the receiver is up: however many in a row, they do not
// open the breaker. The fake clock is never advanced: an open breaker would hang the Send.
func TestSend_RejectionsDoNotOpenTheBreaker(t *testing.T) {
	k := startSink(t)
	k.FailNext(50, 400)
	pol := outage
	pol.BreakAfter = 3
	s := build(t, k.URL(), options{policy: pol, clock: clockwork.NewFakeClock()})
	failures := s.Send(guard(t), events(50), nil)
	require.Len(t, failures, 50)
	for _, f := range failures {
		var rej *sender.Rejected
		require.ErrorAs(t, f.Err, &rej)
		assert.Equal(t, 400, rej.Status)
	}
	assert.Equal(t, 50, k.Attempts())

	require.Empty(t, s.Send(guard(t), events(5), nil))
	assert.Len(t, ids(k.Events()), 5)
}

// With one send in flight (send_concurrency 1), three failed attempts in a row open the
// breaker, not DefaultBreakAfter: 50 in a row would take half an hour against a receiver
// that does not answer (30 s timeouts). The Send then fails every event when the outage
// budget is spent, counted from a few seconds in. Production's policy, on a fake clock.
func TestSend_BreakerOpensAfterThreeFailuresWithOneSendInFlight(t *testing.T) {
	pol := sender.DefaultPolicy
	for _, tc := range []struct {
		name string
		down func(*sink.Sink)
	}{
		{"503", func(k *sink.Sink) { k.FailNext(1<<30, 503) }},
		{"no response", func(k *sink.Sink) { k.DropNext(1 << 30) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := startSink(t)
			tc.down(k)
			fc := clockwork.NewFakeClock()
			var logs logBuffer
			s := build(t, k.URL(), options{policy: pol, clock: fc, sends: 1, log: &logs})
			start := fc.Now()
			stop := pump(fc, time.Second, 1)
			failures := s.Send(context.Background(), events(500), func(string) { t.Error("acked") })
			stop()

			require.Len(t, failures, 500)
			requireAll(t, failures, sender.ErrReceiverUnavailable)
			assert.True(t, strings.Contains(logs.String(), `msg="receiver unavailable, sending paused" failures=3 `),
				"the breaker did not open after 3 failures")
			assert.LessOrEqual(t, k.Attempts(), 3+int(pol.OutageBudget/pol.Cooldown), "3 failures, then a probe per cooldown")
			// The breaker opened after 2 backoffs (0.25 to 0.5 s, 0.5 to 1 s), each rounded up
			// to a clock step: 2 s.
			assert.LessOrEqual(t, fc.Since(start), pol.OutageBudget+5*time.Second)
			assert.Contains(t, failures[len(failures)-1].Err.Error(),
				"no delivery for 3m0s, the outage budget (the circuit breaker opened after 3 consecutive failed attempts")
			t.Logf("%d requests, %s: %v", k.Attempts(), fc.Since(start), failures[len(failures)-1].Err)
		})
	}
}

// A receiver restarting (30 failures in a row, fewer than two per send in flight at the
// default concurrency of 16) does not open the breaker: the retries ride it out.
func TestSend_ABriefOutageAtDefaultConcurrencyDoesNotOpenTheBreaker(t *testing.T) {
	k := startSink(t)
	k.FailNext(30, 503)
	fc := clockwork.NewFakeClock()
	var logs logBuffer
	// The pump lets one send's retries run ahead of the others, so one event may meet more
	// of the 30 failures than its 8 attempts allow: that is not what this test is about.
	pol := sender.DefaultPolicy
	pol.Attempts = 31
	s := build(t, k.URL(), options{policy: pol, clock: fc, sends: 16, log: &logs})
	stop := pump(fc, 100*time.Millisecond, 1) // backoffs pass whenever a send waits
	failures := s.Send(context.Background(), events(200), nil)
	stop()
	requireNone(t, failures)
	assert.Len(t, ids(k.Events()), 200)
	assert.Equal(t, 230, k.Attempts())
	assert.False(t, strings.Contains(logs.String(), "sending paused"), "the breaker opened")
}
