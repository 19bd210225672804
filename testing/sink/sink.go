// Package sink is a recording CloudEvents receiver built on the CloudEvents Go SDK's HTTP
// receiver. It accepts binary and structured mode, stores what it got, can be told to fail
// (503, 429) or be slow, and has helpers that check the seed's event shape.
package sink

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cecontext "github.com/cloudevents/sdk-go/v2/context"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/zap"
)

// Received is one accepted event and how it came.
type Received struct {
	Event      event.Event
	Structured bool // application/cloudevents+json, else binary mode
}

// Sink records events. Create with New, then Start.
type Sink struct {
	mu        sync.Mutex
	got       []Received
	failNext  int
	failCode  int
	delay     time.Duration
	attempts  int
	onReceive func(event.Event)

	proto  *cehttp.Protocol
	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

type modeKey struct{}

// New returns a sink that is not listening yet.
func New() *Sink { return &Sink{} }

// OnReceive registers a function called with every accepted event (the display sink prints).
func (s *Sink) OnReceive(f func(event.Event)) { s.onReceive = f }

// Start listens on addr ("127.0.0.1:0" for any free port).
func (s *Sink) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	p, err := cehttp.New()
	if err != nil {
		return err
	}
	c, err := cloudevents.NewClient(p)
	if err != nil {
		return err
	}
	s.ln, s.proto = ln, p
	ctx, cancel := context.WithCancel(cecontext.WithLogger(context.Background(), zap.NewNop().Sugar()))
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		_ = c.StartReceiver(ctx, s.receive)
	}()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// URL is the v_target to configure.
func (s *Sink) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the sink.
func (s *Sink) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

// FailNext answers the next n requests with status (503, 429, ...) before reading them.
func (s *Sink) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failCode = n, status
}

// SetDelay makes every answer wait d.
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Attempts is the number of HTTP requests received, failed ones included.
func (s *Sink) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Events returns a copy of the accepted events, in arrival order.
func (s *Sink) Events() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.got))
	for i, r := range s.got {
		out[i] = Received{Event: r.Event.Clone(), Structured: r.Structured}
	}
	return out
}

// Len is the number of accepted events.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// Reset forgets what was received.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got, s.attempts = nil, 0
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.attempts++
	delay := s.delay
	fail := 0
	if s.failNext > 0 {
		s.failNext--
		fail = s.failCode
	}
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		http.Error(w, "injected failure", fail)
		return
	}
	structured := strings.HasPrefix(r.Header.Get("Content-Type"), cloudevents.ApplicationCloudEventsJSON)
	s.proto.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), modeKey{}, structured)))
}

func (s *Sink) receive(ctx context.Context, e event.Event) protocol.Result {
	if err := e.Validate(); err != nil {
		return cehttp.NewResult(http.StatusBadRequest, "invalid event: %v", err)
	}
	structured, _ := ctx.Value(modeKey{}).(bool)
	s.mu.Lock()
	s.got = append(s.got, Received{Event: e.Clone(), Structured: structured})
	f := s.onReceive
	s.mu.Unlock()
	if f != nil {
		f(e)
	}
	return protocol.ResultACK
}
