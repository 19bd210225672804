package billing

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPacer_StartsAtTheCeilingHalvesOnThrottlingAndRecovers(t *testing.T) {
	p := newPacer(clockwork.NewFakeClock(), 10)
	assert.Equal(t, 10.0, p.Rate())
	p.Throttled()
	assert.Equal(t, 5.0, p.Rate())
	p.Throttled()
	assert.Equal(t, 2.5, p.Rate())
	for range 100 {
		p.Throttled()
	}
	assert.Equal(t, minRate, p.Rate(), "never below the floor")
	for range 20 {
		p.OK()
	}
	assert.InDelta(t, 10.0, p.Rate(), 1e-9, "twenty answers win the ceiling back")
	p.OK()
	assert.Equal(t, 10.0, p.Rate(), "never above the ceiling")
}

// Requests are spaced from when the previous one actually started: however late one ran,
// no second ever holds more than the rate.
func TestPacer_SpacesRequestsFromTheLastStart(t *testing.T) {
	fc := clockwork.NewFakeClock()
	p := newPacer(fc, 10)
	ctx := context.Background()
	require.NoError(t, p.Wait(ctx)) // the first goes at once
	start := fc.Now()
	done := make(chan error, 1)
	go func() { done <- p.Wait(ctx) }()
	require.NoError(t, fc.BlockUntilContext(t.Context(), 1))
	fc.Advance(99 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("the second request went before its interval")
	default:
	}
	fc.Advance(2 * time.Millisecond) // 101 ms: the interval with its 1% margin
	require.NoError(t, <-done)
	assert.GreaterOrEqual(t, fc.Now().Sub(start), 101*time.Millisecond)

	// A late request (it ran 500 ms after its turn) does not earn the next one an early start.
	fc.Advance(500 * time.Millisecond)
	require.NoError(t, p.Wait(ctx))
	late := fc.Now()
	go func() { done <- p.Wait(ctx) }()
	require.NoError(t, fc.BlockUntilContext(t.Context(), 1))
	fc.Advance(101 * time.Millisecond)
	require.NoError(t, <-done)
	assert.GreaterOrEqual(t, fc.Now().Sub(late), 101*time.Millisecond)
}

func TestPacer_WaitEndsWithTheContext(t *testing.T) {
	p := newPacer(clockwork.NewFakeClock(), 1)
	require.NoError(t, p.Wait(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, p.Wait(ctx), context.Canceled)
}

func TestPacer_ACeilingBelowTheFloorIsKept(t *testing.T) {
	p := newPacer(clockwork.NewFakeClock(), 0.1)
	assert.Equal(t, 0.1, p.Rate())
	p.Throttled()
	assert.Equal(t, 0.1, p.Rate(), "never faster than api_qps")
	p.OK()
	assert.Equal(t, 0.1, p.Rate())
}
