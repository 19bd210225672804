package retry

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoff_DoublesWithinJitterAndCaps(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 30 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 40: 30 * time.Second, 200: 30 * time.Second} {
		for range 50 {
			d := b.Delay(n)
			assert.GreaterOrEqual(t, d, want/2, "attempt %d", n)
			assert.LessOrEqual(t, d, want, "attempt %d", n)
		}
	}
	assert.Equal(t, time.Duration(0), Backoff{}.Delay(3))
	assert.LessOrEqual(t, b.Delay(0), time.Second, "n < 1 counts as the first attempt")
}

func TestSleep_EndsWithTheContextOrTheClock(t *testing.T) {
	fc := clockwork.NewFakeClock()
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), fc, time.Minute) }()
	require.NoError(t, fc.BlockUntilContext(context.Background(), 1))
	fc.Advance(time.Minute)
	require.NoError(t, <-done)

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- Sleep(ctx, fc, time.Hour) }()
	require.NoError(t, fc.BlockUntilContext(context.Background(), 1))
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.NoError(t, Sleep(context.Background(), fc, 0))
}
