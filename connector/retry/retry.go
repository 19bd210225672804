// Package retry is the connector's one backoff policy, shared by the API client (billing),
// the sender and the daemon's retries of failed days: exponential, capped, with jitter,
// and a wait on the injected clock that ends with the context.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff: Base, 2*Base, 4*Base, ... capped at Max, each wait
// drawn at random from its upper half ([d/2, d]) so that retries of many callers spread.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// Delay is the wait after the n-th failed attempt (n >= 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Max
	if n < 1 {
		n = 1
	}
	if n <= 62 {
		if s := b.Base << (n - 1); s > 0 && s < b.Max && s>>(n-1) == b.Base {
			d = s
		}
	}
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Clock is what Sleep waits on (clock.Clock; a fake clock in tests).
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

// Sleep waits d on clk. It returns ctx's error when ctx ends first, else nil.
func Sleep(ctx context.Context, clk Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-clk.After(d):
		return nil
	}
}
