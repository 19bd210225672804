package sender

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"
)

type breakerState int

const (
	closed  breakerState = iota // sending
	open                        // not sending until probeAt
	probing                     // one probe in flight, the others wait for its outcome
)

// Waves of failed attempts that open the breaker (see breakAfter).
const (
	breakWaves    = 3 // a wave is one failed attempt of every send in flight
	minBreakAfter = 3
)

// breakAfter is how many consecutive outage failures open the breaker with concurrency
// sends in flight: three waves of them, at least 3 and at most limit (Policy.BreakAfter).
// A fixed count would be reached in a few seconds at 16 sends in flight but after dozens
// of attempts in a row at 1 (with 30 s timeouts, half an hour); three waves take about
// three attempts' time (a timeout and 0.5 to 2 s of backoff each) at any concurrency,
// while a receiver restarting for a second or two (each send failing once or twice) does
// not trip it.
func breakAfter(limit, concurrency int) int {
	return min(limit, max(minBreakAfter, breakWaves*concurrency))
}

// breaker is the Sender's circuit breaker; it outlives Send calls. After breakAfter
// consecutive attempts that failed as an outage (no answer, 429, 5xx) it opens: no attempt
// starts until, a cooldown later, one probe goes. An answer to the probe closes it, an
// outage re-opens it for another cooldown. Any answer that is not an outage (2xx, a 4xx
// rejection, a certificate or redirect problem) resets the count.
type breaker struct {
	clock    clock.Clock
	after    int
	cooldown time.Duration
	budget   time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	state    breakerState
	fails    int           // consecutive outage failures while closed
	openedAt time.Time     // when the current outage opened the breaker
	probeAt  time.Time     // when the next probe may go
	last     error         // the outage failure that opened or re-opened the breaker
	changed  chan struct{} // closed (and replaced) when the state changes
}

func newBreaker(c clock.Clock, pol Policy, concurrency int, log *slog.Logger) *breaker {
	return &breaker{clock: c, after: breakAfter(pol.BreakAfter, concurrency), cooldown: pol.Cooldown, budget: pol.OutageBudget,
		log: log, changed: make(chan struct{})}
}

// acquire waits until an attempt may start. probe says the attempt is the breaker's probe;
// its outcome must be recorded. It fails with ErrReceiverUnavailable once the breaker has
// been open for longer than the outage budget, counted from since (the start of the Send)
// when it opened before, and with ctx's error when ctx ends.
func (b *breaker) acquire(ctx context.Context, since time.Time) (probe bool, err error) {
	for {
		b.mu.Lock()
		if b.state == closed {
			b.mu.Unlock()
			return false, nil
		}
		now := b.clock.Now()
		from := b.openedAt
		if since.After(from) {
			from = since
		}
		deadline := from.Add(b.budget)
		if !now.Before(deadline) {
			err := fmt.Errorf("%w: no delivery for %s, the outage budget (the circuit breaker opened after %d consecutive failed attempts; last: %w)",
				ErrReceiverUnavailable, now.Sub(from), b.after, b.last)
			b.mu.Unlock()
			return false, err
		}
		wait := deadline.Sub(now)
		if b.state == open {
			if !now.Before(b.probeAt) {
				b.state = probing
				b.mu.Unlock()
				return true, nil
			}
			wait = min(wait, b.probeAt.Sub(now))
		}
		changed := b.changed
		b.mu.Unlock()

		t := b.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-changed:
			t.Stop()
		case <-t.Chan():
		}
	}
}

// record takes the outcome of an attempt that acquire let through.
func (b *breaker) record(probe bool, o outcome, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	switch o {
	case delivered, answered:
		b.fails = 0
		if b.state != closed {
			b.log.Info("receiver answers again, sending resumes", "down", now.Sub(b.openedAt).String())
			b.state = closed
			b.changedLocked()
		}
	case outage:
		switch {
		case b.state == probing && probe:
			b.last = err
			b.state, b.probeAt = open, now.Add(b.cooldown)
			b.changedLocked()
			b.log.Debug("probe failed, circuit breaker stays open", "cooldown", b.cooldown.String(), "error", err.Error())
		case b.state == closed:
			b.fails++
			if b.fails >= b.after {
				b.last = err
				b.state, b.openedAt, b.probeAt = open, now, now.Add(b.cooldown)
				b.changedLocked()
				b.log.Warn("receiver unavailable, sending paused", "failures", b.fails,
					"cooldown", b.cooldown.String(), "error", err.Error())
			}
		}
		// Open, or probing and this is not the probe: an attempt that started before the
		// breaker opened. It tells nothing new.
	case aborted, invalid: // nothing was sent: a probe not sent is no probe
		if b.state == probing && probe {
			b.state = open // probeAt has passed: the next attempt probes
			b.changedLocked()
		}
	}
}

func (b *breaker) changedLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}
