// Package sink is a recording CloudEvents receiver built on the CloudEvents Go SDK's
// HTTP binding. It accepts binary and structured mode, stores what it got, can be told to fail
// (503, 429), to redirect, to drop the connection or to be slow, and has helpers that check
// the seed's event shape.
package sink

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Received is one accepted event and how it came.
type Received struct {
	Event      event.Event
	Structured bool // application/cloudevents+json, else binary mode
}

// Request is one HTTP request the sink got, whatever it answered.
type Request struct {
	Method string
	URI    string // path and query
	User   string // the basic-auth user name, "" without one
}

// Sink records events. Create with New, then Start (or serve Handler yourself).
//
// The next requests can be told to fail; each request takes the first of DropNext,
// RedirectNext and FailNext that still has requests to spoil, and DelayNext adds to that.
type Sink struct {
	mu           sync.Mutex
	got          []Received
	dataless     bool // KeepDataless
	keepNothing  bool // KeepNothing
	requests     []Request
	failNext     int
	failCode     int
	redirectNext int
	redirectCode int
	redirectTo   string
	dropNext     int
	delayNext    int
	delayNextBy  time.Duration
	delay        time.Duration
	attempts     int
	onReceive    func(event.Event)

	srv *http.Server
	ln  net.Listener
}

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
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// Handler is the sink's HTTP handler, for serving it from elsewhere (an httptest TLS
// server) instead of Start.
func (s *Sink) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// URL is the v_target to configure.
func (s *Sink) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the sink.
func (s *Sink) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// FailNext answers the next n requests with status (503, 429, ...) before reading them.
func (s *Sink) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failCode = n, status
}

// RedirectNext answers the next n requests with status (301, 302, 303, 307, 308, ...) and
// a Location header of location, before reading them.
func (s *Sink) RedirectNext(n, status int, location string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirectNext, s.redirectCode, s.redirectTo = n, status, location
}

// DropNext closes the connection of the next n requests without an answer: the sender
// sees no response at all.
func (s *Sink) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext = n
}

// DelayNext makes the next n answers wait d (or until the client gives up), on top of
// SetDelay.
func (s *Sink) DelayNext(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delayNext, s.delayNextBy = n, d
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

// Requests returns a copy of every HTTP request received, failed ones included, in
// arrival order.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
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
	s.got, s.requests, s.attempts = nil, nil, 0
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.attempts++
	if !s.keepNothing {
		user, _, _ := r.BasicAuth()
		s.requests = append(s.requests, Request{Method: r.Method, URI: r.URL.RequestURI(), User: user})
	}
	delay := s.delay
	if s.delayNext > 0 {
		s.delayNext--
		delay += s.delayNextBy
	}
	var drop bool
	var fail, redirect int
	var location string
	switch {
	case s.dropNext > 0:
		s.dropNext--
		drop = true
	case s.redirectNext > 0:
		s.redirectNext--
		redirect, location = s.redirectCode, s.redirectTo
	case s.failNext > 0:
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
	switch {
	case drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2: the server resets the stream
	case redirect != 0:
		w.Header().Set("Location", location)
		w.WriteHeader(redirect)
		return
	case fail != 0:
		http.Error(w, "injected failure", fail)
		return
	}
	// The SDK's HTTP binding decodes binary and structured mode alike; its v2.16.2 does not
	// undo the percent-encoding of ce- headers (HTTP binding 3.1.3.2), which is done here.
	if err := DecodeHeaders(r.Header); err != nil {
		http.Error(w, "cannot decode the CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	msg := cehttp.NewMessageFromHttpRequest(r)
	if msg == nil {
		http.Error(w, "no request", http.StatusBadRequest)
		return
	}
	defer func() { _ = msg.Finish(nil) }()
	if msg.ReadEncoding() == binding.EncodingUnknown {
		http.Error(w, "not a CloudEvent: unknown encoding", http.StatusUnsupportedMediaType)
		return
	}
	e, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		http.Error(w, "cannot decode the CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := e.Validate(); err != nil {
		http.Error(w, "invalid CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.record(*e, msg.ReadEncoding() == binding.EncodingStructured)
	w.WriteHeader(http.StatusAccepted)
}

// KeepDataless makes the sink keep only each event's attributes, not its data: a
// benchmark's hundreds of thousands of events then cost the sink little memory.
func (s *Sink) KeepDataless() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataless = true
}

// KeepNothing makes the sink keep neither events nor requests: it only counts attempts
// and hands each accepted event to OnReceive. A display sink that runs for days then
// holds no memory for what it has printed.
func (s *Sink) KeepNothing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepNothing = true
}

func (s *Sink) record(e event.Event, structured bool) {
	s.mu.Lock()
	if !s.keepNothing {
		kept := e.Clone()
		if s.dataless {
			kept.DataEncoded = nil
		}
		s.got = append(s.got, Received{Event: kept, Structured: structured})
	}
	f := s.onReceive
	s.mu.Unlock()
	if f != nil {
		f(e)
	}
}

// DecodeHeaders decodes, in place, the value of every ce- header as a receiver of the
// CloudEvents HTTP binding (1.0.2, 3.1.3.2) must: a double-quoted string is unquoted, then
// one round of percent-decoding; a result that is not UTF-8 is an error. The NATS binding
// has the same rule for its ce- headers.
func DecodeHeaders(h map[string][]string) error {
	for k, vs := range h {
		if len(k) < 3 || !strings.EqualFold(k[:3], "ce-") {
			continue
		}
		for i, v := range vs {
			d, err := decodeValue(v)
			if err != nil {
				return fmt.Errorf("header %s: %w", k, err)
			}
			vs[i] = d
		}
	}
	return nil
}

func decodeValue(v string) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(v)-1; i++ {
			if v[i] == '\\' && i+1 < len(v)-1 {
				i++
			}
			b.WriteByte(v[i])
		}
		v = b.String()
	}
	d, err := url.PathUnescape(v)
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(d) {
		return "", fmt.Errorf("%q decodes to bytes that are not UTF-8", v)
	}
	return d, nil
}
