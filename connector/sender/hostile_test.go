package sender_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx/fxtest"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
)

// Targets that misbehave: a raw TCP server that accepts and never speaks, or whose greeting
// never ends. Whatever they do, a send fails within the policy's timeout with a clear
// error, reads a bounded number of bytes, and a cancel (what SIGTERM does) returns at once.

// streamed is how much a hostile server streams at most: far more than any bound.
const streamed = 64 << 20

// serverConn is what a hostile server saw on one connection.
type serverConn struct {
	written int64
	cut     bool // the client closed the connection before the server had streamed it all
}

// hostile is a loopback listener whose every connection is served by serve.
type hostile struct {
	ln       net.Listener
	accepted chan struct{} // a value per accepted connection (the first 64)
	done     chan serverConn
	mu       sync.Mutex
	conns    []net.Conn
}

func startHostile(t *testing.T, serve func(net.Conn) serverConn) *hostile {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &hostile{ln: ln, accepted: make(chan struct{}, 64), done: make(chan serverConn, 64)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			select {
			case h.accepted <- struct{}{}:
			default:
			}
			wg.Go(func() {
				r := serve(c)
				_ = c.Close()
				select {
				case h.done <- r:
				default:
				}
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		h.mu.Lock()
		for _, c := range h.conns {
			_ = c.Close()
		}
		h.mu.Unlock()
		wg.Wait()
	})
	return h
}

func (h *hostile) addr() string { return h.ln.Addr().String() }

// silent accepts and never speaks; it reads what the client sends until it closes.
func silent(c net.Conn) serverConn {
	_, _ = io.Copy(io.Discard, c)
	return serverConn{}
}

// endless writes prefix, then bytes without a line end until streamed bytes or until the
// client closes; then it waits for the client to close.
func endless(prefix string) func(net.Conn) serverConn {
	return func(c net.Conn) serverConn { return stream(c, []byte(prefix)) }
}

// afterRequest serves a connection with serve once the client's request head has arrived:
// an HTTP client that reads an answer before it has written its request takes it for an
// unsolicited response on an idle connection, which is not what these tests are about.
func afterRequest(serve func(net.Conn) serverConn) func(net.Conn) serverConn {
	return func(c net.Conn) serverConn {
		head := make([]byte, 0, 4096)
		buf := make([]byte, 1024)
		for !bytes.Contains(head, []byte("\r\n\r\n")) && len(head) < 64<<10 {
			n, err := c.Read(buf)
			if err != nil {
				return serverConn{}
			}
			head = append(head, buf[:n]...)
		}
		return serve(c)
	}
}

func stream(c net.Conn, prefix []byte) serverConn {
	chunk := []byte(strings.Repeat("a", 32<<10))
	r := serverConn{}
	n, err := c.Write(prefix)
	r.written += int64(n)
	for err == nil && r.written < streamed {
		n, err = c.Write(chunk)
		r.written += int64(n)
	}
	if err != nil {
		r.cut = true
		return r
	}
	_, _ = io.Copy(io.Discard, c)
	return r
}

// kafkaEndless reads the client's first request, then answers with a size prefix of
// streamed bytes and streams them.
func kafkaEndless(c net.Conn) serverConn {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return serverConn{}
	}
	if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
		return serverConn{}
	}
	prefix := binary.BigEndian.AppendUint32(nil, streamed)
	return stream(c, append(prefix, 0, 0, 0, 1)) // and a correlation id
}

// hostilePolicy is one attempt with a short timeout.
var hostilePolicy = sender.Policy{Attempts: 1, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
	Timeout: time.Second, Cooldown: time.Millisecond, OutageBudget: time.Minute}

// target builds a sender of protocol (http, nats, kafka) to addr, with lc's stop hook.
func target(t *testing.T, protocol, addr string, pol sender.Policy, lc *fxtest.Lifecycle) *sender.Sender {
	t.Helper()
	o := sender.Options{Concurrency: 4}
	switch protocol {
	case "nats":
		o.Target, o.Protocol = &url.URL{Scheme: "nats", Host: addr, Path: "/billing.daily"}, config.NATS
		o.NATS = config.NATSConfig{Subject: "billing.daily", Stream: "BILLING", CreateStream: true}
		o.DuplicateWindow = 24 * time.Hour
	case "kafka":
		o.Target, o.Protocol = &url.URL{Scheme: "kafka", Host: addr, Path: "/billing"}, config.Kafka
		o.Kafka = config.KafkaConfig{Brokers: []string{addr}, Topic: "billing", Acks: config.AcksAll}
	default:
		o.Target, o.Protocol = &url.URL{Scheme: "http", Host: addr, Path: "/"}, config.HTTP
	}
	s, err := sender.New(sender.Params{Options: o, Clock: clockwork.NewRealClock(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Policy: &pol, Lifecycle: lc})
	require.NoError(t, err)
	lc.RequireStart()
	return s
}

// sendOne sends one event and waits for its failure, with a generous deadline.
func sendOne(t *testing.T, s *sender.Sender) error {
	t.Helper()
	res := make(chan []sender.Failure, 1)
	go func() { res <- s.Send(context.Background(), events(1), nil) }()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	select {
	case f := <-res:
		require.Len(t, f, 1, "the send to a hostile server cannot succeed")
		return f[0].Err
	case <-deadline.C:
		t.Fatal("the send did not end")
		return nil
	}
}

// allocated is how many bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// withinStop stops lc and fails the test unless the stop returns within 2 s.
func withinStop(t *testing.T, lc *fxtest.Lifecycle) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- lc.Stop(context.Background()) }()
	limit := time.NewTimer(2 * time.Second)
	defer limit.Stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-limit.C:
		t.Fatal("the sender's stop hook did not return within 2 s")
	}
}

func TestHostile_SilentServerFailsTheSendWithinTheTimeout(t *testing.T) {
	for _, tc := range []struct{ protocol, says string }{
		{"http", "(Client.Timeout exceeded while awaiting headers)"},
		{"nats", "no NATS connection to nats://127.0.0.1:"},
		{"kafka", "no acknowledgement from kafka://127.0.0.1:"},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			h := startHostile(t, silent)
			lc := fxtest.NewLifecycle(t)
			err := sendOne(t, target(t, tc.protocol, h.addr(), hostilePolicy, lc))
			require.ErrorIs(t, err, sender.ErrReceiverUnavailable)
			assert.Contains(t, err.Error(), tc.says)
			withinStop(t, lc)
		})
	}
}

// A greeting that never ends (NATS: an INFO line without its end; HTTP: a response header
// without its end, or a 503 with a 64 MiB body; Kafka: an answer announcing 64 MiB) is cut
// short: the sender reads a bounded number of bytes and closes the connection long before
// the server is done.
func TestHostile_EndlessGreetingIsCutShortAndMemoryStaysBounded(t *testing.T) {
	for _, tc := range []struct {
		name, protocol string
		serve          func(net.Conn) serverConn
		says           string
	}{
		{"http header", "http", afterRequest(endless("HTTP/1.1 200 OK\r\nX-Endless: ")), "server response headers exceeded 65536 bytes"},
		{"http 503 body", "http", afterRequest(endless("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 67108864\r\n\r\n")), "receiver answered HTTP 503"},
		{"nats INFO", "nats", endless("INFO {"), "without completing the NATS handshake"},
		{"kafka answer", "kafka", kafkaEndless, "invalid large response size 67108864 > limit 4194304"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHostile(t, tc.serve)
			lc := fxtest.NewLifecycle(t)
			pol := hostilePolicy
			pol.Timeout = 3 * time.Second // time enough to read it all, were nothing bounding it
			s := target(t, tc.protocol, h.addr(), pol, lc)
			var err error
			alloc := allocated(func() { err = sendOne(t, s) })
			require.ErrorIs(t, err, sender.ErrReceiverUnavailable)
			assert.Contains(t, err.Error(), tc.says)
			assert.Less(t, alloc, uint64(16<<20), "bytes allocated while the server streamed %d MiB", streamed>>20)
			withinStop(t, lc)
			if tc.protocol == "kafka" {
				return // the size prefix alone fails it: the kernel's buffers take what follows
			}
			deadline := time.NewTimer(60 * time.Second)
			defer deadline.Stop()
			select {
			case r := <-h.done:
				assert.True(t, r.cut, "the client read all %d bytes the server sent", r.written)
			case <-deadline.C:
				t.Fatal("the server never saw the connection end")
			}
		})
	}
}

// A cancel (what SIGTERM does to the run) while the target accepted the connection and
// never speaks ends the Send within 2 s, and so does the sender's stop hook after it;
// the production timeouts (30 s) would hold them otherwise.
func TestHostile_CancelWhileTheServerIsSilentReturnsWithinTwoSeconds(t *testing.T) {
	for _, protocol := range []string{"http", "nats", "kafka"} {
		t.Run(protocol, func(t *testing.T) {
			h := startHostile(t, silent)
			lc := fxtest.NewLifecycle(t)
			s := target(t, protocol, h.addr(), sender.DefaultPolicy, lc)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := make(chan []sender.Failure, 1)
			go func() { res <- s.Send(ctx, events(8), nil) }()
			deadline := time.NewTimer(60 * time.Second)
			defer deadline.Stop()
			select {
			case <-h.accepted: // the sender is connected to the server that does not speak
			case <-deadline.C:
				t.Fatal("the sender never connected")
			}
			cancel()
			limit := time.NewTimer(2 * time.Second)
			defer limit.Stop()
			select {
			case f := <-res:
				require.Len(t, f, 8)
				for _, x := range f {
					require.True(t, errors.Is(x.Err, context.Canceled), "%v", x.Err)
				}
			case <-limit.C:
				t.Fatal("the Send did not return within 2 s of the cancel")
			}
			withinStop(t, lc)
		})
	}
}
