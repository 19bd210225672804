package sender

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// MaxNATSHandshake bounds what a NATS server may send on a connection before the
// connection's handshake (its INFO line, the TLS handshake, the PONG of the first PING) is
// complete. nats.go reads those lines with no limit, appending each read to a string (its
// natsReader.ReadString): a server whose INFO never ends makes it allocate quadratically
// until the connect timeout (gigabytes at loopback speed). A real INFO is a few kilobytes
// (its connect_urls grow with the cluster), a TLS server's certificate chain about ten.
const MaxNATSHandshake = 64 << 10

// errNATSHandshakeTooLong fails a connection whose server sent MaxNATSHandshake bytes
// without completing the handshake.
var errNATSHandshakeTooLong = fmt.Errorf("the server sent %d KiB without completing the NATS handshake (not a NATS server, or a broken one)", MaxNATSHandshake>>10)

// natsDialer is nats.go's CustomDialer for the transport: it dials with a timeout and a
// context that the transport's close cancels, and caps each connection's reads at
// MaxNATSHandshake until handshook says the handshake is over. abort ends the dials and
// handshakes in progress at once (a server that accepts and never speaks holds nats.go's
// Connect, which takes no context, for the whole connect timeout).
type natsDialer struct {
	timeout time.Duration
	life    context.Context // ends when the transport closes

	mu      sync.Mutex
	dials   map[*context.CancelFunc]struct{} // dials in progress
	pending map[*guardConn]struct{}          // connections whose handshake is not complete
	open    map[*guardConn]struct{}          // every connection not closed yet
}

func newNATSDialer(life context.Context, timeout time.Duration) *natsDialer {
	return &natsDialer{timeout: timeout, life: life, dials: map[*context.CancelFunc]struct{}{},
		pending: map[*guardConn]struct{}{}, open: map[*guardConn]struct{}{}}
}

// Dial is nats.CustomDialer's.
func (d *natsDialer) Dial(network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(d.life, d.timeout)
	defer cancel()
	d.mu.Lock()
	d.dials[&cancel] = struct{}{}
	d.mu.Unlock()
	c, err := (&net.Dialer{}).DialContext(ctx, network, address)
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.dials, &cancel)
	if err != nil {
		return nil, err
	}
	g := &guardConn{Conn: c, d: d}
	g.limited.Store(true)
	d.pending[g], d.open[g] = struct{}{}, struct{}{}
	return g, nil
}

// handshook lifts the cap of the connections dialed so far: nats.go completed a connect
// (or a reconnect) on the newest of them, and closed the others.
func (d *natsDialer) handshook() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for g := range d.pending {
		g.limited.Store(false)
		delete(d.pending, g)
	}
}

// abort cancels the dials in progress and closes the connections still in their
// handshake: a Connect waiting on them returns at once.
func (d *natsDialer) abort() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.dials {
		(*c)()
	}
	for g := range d.pending {
		_ = g.Conn.Close()
	}
}

// closeAll closes every connection: a nats.go Close stuck flushing to a server that
// does not read returns at once.
func (d *natsDialer) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for g := range d.open {
		_ = g.Conn.Close()
	}
}

// guardConn is a connection to a NATS server whose reads are capped at MaxNATSHandshake
// bytes while limited.
type guardConn struct {
	net.Conn
	d       *natsDialer
	limited atomic.Bool
	read    int64 // bytes read while limited; nats.go reads from one goroutine at a time
}

func (g *guardConn) Read(p []byte) (int, error) {
	if !g.limited.Load() {
		return g.Conn.Read(p)
	}
	left := MaxNATSHandshake - g.read
	if left <= 0 {
		return 0, errNATSHandshakeTooLong
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := g.Conn.Read(p)
	g.read += int64(n)
	return n, err
}

func (g *guardConn) Close() error {
	g.d.mu.Lock()
	delete(g.d.pending, g)
	delete(g.d.open, g)
	g.d.mu.Unlock()
	return g.Conn.Close()
}
