package billing

import (
	"context"
	"sync"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/retry"
)

// pacer spaces the client's requests: additive increase, multiplicative decrease. It
// starts at the ceiling (api_qps, the API's documented 10 requests per second per
// account), halves the rate on every Throttling answer (down to minRate) and wins back
// ceiling/20 per successful request, so that a throttled client is back at the ceiling
// after about 20 answers (two seconds at 10/s).
//
// A request may start one interval (1/rate, plus paceMargin) after the previous one
// started, counted from when that one actually started: a limit enforced over a sliding
// second sees at most rate requests in any second, however late a request ran. Time is
// the connector's clock.
type pacer struct {
	clock   clock.Clock
	ceiling float64
	floor   float64 // minRate, or the ceiling when that is lower

	mu   sync.Mutex
	rate float64   // requests per second now
	last time.Time // when the previous request was let through
}

// minRate is the slowest the pacer goes, one request every two seconds, unless api_qps
// itself is slower.
const minRate = 0.5

// paceMargin lengthens every interval a little (1%), so that requests spaced at exactly
// the limit do not meet a server-side window one microsecond early.
const paceMargin = 1.01

func newPacer(c clock.Clock, ceiling float64) *pacer {
	return &pacer{clock: c, ceiling: ceiling, floor: min(minRate, ceiling), rate: ceiling}
}

func (p *pacer) interval() time.Duration {
	return time.Duration(float64(time.Second) / p.rate * paceMargin)
}

// Wait returns when the next request may start, or with ctx's error.
func (p *pacer) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		now := p.clock.Now()
		next := p.last.Add(p.interval())
		if p.last.IsZero() || !now.Before(next) {
			p.last = now
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		if err := retry.Sleep(ctx, p.clock, next.Sub(now)); err != nil {
			return err
		}
	}
}

// Throttled halves the rate.
func (p *pacer) Throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = max(p.floor, p.rate/2)
}

// OK wins back a little of the rate after a successful answer.
func (p *pacer) OK() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = min(p.ceiling, p.rate+p.ceiling/20)
}

// Rate is the current rate, in requests per second.
func (p *pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate
}
