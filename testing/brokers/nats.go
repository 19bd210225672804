// Package brokers runs the event backbones the connector delivers into, in-process and on
// loopback: a real nats-server with JetStream (github.com/nats-io/nats-server/v2, its file
// store in a directory of the caller's), and franz-go's kfake Kafka cluster. The tests of
// this package run the real connector against them; tools/demo uses the NATS server.
package brokers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSOptions configure an embedded server.
type NATSOptions struct {
	StoreDir string // JetStream's file store; kept across Restart
	User     string // with Password: the only user the server accepts ("" for no auth)
	Password string
	// NoJetStream starts a plain NATS server, without JetStream.
	NoJetStream bool
}

// NATS is a nats-server with JetStream running in this process on 127.0.0.1.
type NATS struct {
	mu   sync.Mutex
	srv  *server.Server
	opts NATSOptions
	port int
}

// StartNATS starts a server on a free port.
func StartNATS(o NATSOptions) (*NATS, error) {
	n := &NATS{opts: o, port: -1}
	if err := n.start(); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *NATS) start() error {
	so := &server.Options{
		ServerName: "brokers-test",
		Host:       "127.0.0.1",
		Port:       n.port,
		JetStream:  !n.opts.NoJetStream,
		StoreDir:   n.opts.StoreDir,
		NoLog:      true,
		NoSigs:     true,
	}
	if n.opts.User != "" {
		so.Users = []*server.User{{Username: n.opts.User, Password: n.opts.Password}}
	}
	s, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return errors.New("nats-server did not get ready in 30 s")
	}
	n.mu.Lock()
	n.srv = s
	n.port = s.Addr().(*net.TCPAddr).Port
	n.mu.Unlock()
	return nil
}

// URL is nats://127.0.0.1:PORT.
func (n *NATS) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", n.port)
}

// Stop shuts the server down and waits until it is down; its store stays.
func (n *NATS) Stop() {
	n.mu.Lock()
	s := n.srv
	n.srv = nil
	n.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Start starts a stopped server again, on the same port and with the same store.
func (n *NATS) Start() error { return n.start() }

// Connect is a client of the server (with its user, if any).
func (n *NATS) Connect() (*nats.Conn, error) {
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}
	if n.opts.User != "" {
		opts = append(opts, nats.UserInfo(n.opts.User, n.opts.Password))
	}
	return nats.Connect(n.URL(), opts...)
}

// withJetStream runs fn with JetStream on a connection of its own, closed after.
func (n *NATS) withJetStream(fn func(jetstream.JetStream) error) error {
	nc, err := n.Connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return fn(js)
}

// CreateStream creates a stream as an operator would, before the connector runs.
func (n *NATS) CreateStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	return n.withJetStream(func(js jetstream.JetStream) error {
		_, err := js.CreateStream(ctx, cfg)
		return err
	})
}

// StreamInfo reads a stream's configuration and state.
func (n *NATS) StreamInfo(ctx context.Context, stream string) (info *jetstream.StreamInfo, err error) {
	err = n.withJetStream(func(js jetstream.JetStream) error {
		s, err := js.Stream(ctx, stream)
		if err == nil {
			info, err = s.Info(ctx)
		}
		return err
	})
	return info, err
}

// Messages reads every message of a stream, in order.
func (n *NATS) Messages(ctx context.Context, stream string) (out []*jetstream.RawStreamMsg, err error) {
	err = n.withJetStream(func(js jetstream.JetStream) error {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				return fmt.Errorf("message %d: %w", seq, err)
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// Monitor counts, as the server sees them, the messages published on a subject (re-sends
// included) and the PubAcks JetStream answered (duplicates counted apart). It listens on
// the subject and on every inbox (_INBOX.>), which needs a server without permissions.
type Monitor struct {
	nc      *nats.Conn
	changed func()

	mu         sync.Mutex
	published  int
	acked      int
	duplicates int
}

// Watch starts a Monitor of subject; changed (may be nil) is called on every count.
func (n *NATS) Watch(subject string, changed func()) (*Monitor, error) {
	nc, err := n.Connect()
	if err != nil {
		return nil, err
	}
	m := &Monitor{nc: nc, changed: changed}
	if _, err := nc.Subscribe(subject, func(*nats.Msg) { m.count(func() { m.published++ }) }); err != nil {
		nc.Close()
		return nil, err
	}
	_, err = nc.Subscribe("_INBOX.>", func(msg *nats.Msg) {
		var ack struct {
			Stream    string `json:"stream"`
			Seq       uint64 `json:"seq"`
			Duplicate bool   `json:"duplicate"`
			Type      string `json:"type"`
		}
		if json.Unmarshal(msg.Data, &ack) != nil || ack.Type != "" || ack.Stream == "" || ack.Seq == 0 {
			return // not a PubAck: a JetStream API answer
		}
		m.count(func() {
			m.acked++
			if ack.Duplicate {
				m.duplicates++
			}
		})
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	return m, nil
}

func (m *Monitor) count(f func()) {
	m.mu.Lock()
	f()
	m.mu.Unlock()
	if m.changed != nil {
		m.changed()
	}
}

// Counts returns the messages published on the subject, the PubAcks, and how many of
// those said duplicate.
func (m *Monitor) Counts() (published, acked, duplicates int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.published, m.acked, m.duplicates
}

// Close stops the monitor.
func (m *Monitor) Close() { m.nc.Close() }

// Flush makes sure the monitor has counted what the server sent it so far.
func (m *Monitor) Flush() error { return m.nc.Flush() }
