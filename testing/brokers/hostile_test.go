package brokers_test

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// silentTarget listens on loopback, accepts and never speaks; each accepted connection
// counts in accepted and wakes e's waiters.
func silentTarget(t *testing.T, e *harness.Env) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted = &atomic.Int64{}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			accepted.Add(1)
			e.Changed.Notify()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), accepted
}

// SIGTERM while the connector is connected to a target that accepted the connection and
// never speaks: the process exits within 2 s, whatever the protocol (NATS took 27 s: its
// connect takes no context, and each sender waited for the one before it to time out).
func TestHostile_SIGTERMWhileTheTargetIsSilentExitsWithinTwoSeconds(t *testing.T) {
	// A race-enabled child would wait a second at a clean exit for late race reports.
	t.Setenv("GORACE", os.Getenv("GORACE")+" atexit_sleep_ms=0")
	for _, protocol := range []string{"http", "nats", "kafka"} {
		t.Run(protocol, func(t *testing.T) {
			e := harness.New(t)
			e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 40, 5))
			addr, accepted := silentTarget(t, e)
			keys := map[string]any{"v_target": "http://" + addr + "/"}
			switch protocol {
			case "nats":
				keys = map[string]any{"v_target": "nats://" + addr + "/" + subject, "nats": map[string]any{"stream": stream, "create_stream": true}}
			case "kafka":
				keys = map[string]any{"v_target": "kafka://" + addr + "/" + topic}
			}
			p := e.StartProc(t, "--config", e.Config(t, keys), "--once", "--date", e.Day.String())
			e.Changed.Wait(t, "the connector to connect to the silent target", p.Out, func() bool { return p.Exited() || accepted.Load() > 0 })
			require.False(t, p.Exited(), "the connector ended before the signal:\n%s", harness.Tail(p.Out.String(), 3000))

			start := e.Clock.Now()
			p.Signal(t, syscall.SIGTERM)
			limit := time.NewTimer(2 * time.Second)
			defer limit.Stop()
			select {
			case <-p.Done:
			case <-limit.C:
				require.FailNow(t, "the connector did not exit within 2 s of SIGTERM", "log:\n%s", harness.Tail(p.Out.String(), 3000))
			}
			t.Logf("%s: exited %s after SIGTERM", protocol, e.Clock.Since(start).Round(time.Millisecond))
			assert.Equal(t, 1, p.Wait(t, e), "a one-off run stopped before delivering is incomplete")
			assert.Contains(t, p.Out.String(), `"msg":"stopping","signal":"terminated"`)
			assert.NotContains(t, p.Out.String(), "did not stop in time")
			assert.NotContains(t, p.Out.String(), harness.Secret)
		})
	}
}
