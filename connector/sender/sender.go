// Package sender delivers CloudEvents to v_target with the CloudEvents Go SDK's message
// formats: binary mode by default, bounded concurrency, retries with exponential backoff on
// undelivered events, 429 and 5xx; other 4xx are rejections reported with their status.
//
// v_target's scheme chooses the protocol behind one small interface (transport): HTTP
// (the SDK's client), NATS JetStream (nats.go, a publish is delivered on its PubAck; the
// event id is the Nats-Msg-Id) and Kafka (franz-go, delivered on acks=all; the record key
// is the event's subject). Retries, the breaker, the slots and the metrics are the same
// for all three.
//
// Binary mode encodes attribute values as each binding requires (encode.go): percent-
// encoded ce- headers over HTTP and NATS, UTF-8 ce_ headers over Kafka.
//
// Four things are never retried: a redirect other than 307/308 (following it would turn
// the POST into a GET and lose the event), TLS that cannot work (a certificate the sender
// does not trust, an https:// v_target on a port without TLS, a handshake the receiver
// refuses), a 4xx, and an event binary mode cannot encode (*EncodingError, which is no
// outage: the breaker does not count it). The first two are a *ConfigError. A circuit breaker shared by all Send calls
// stops sending while the receiver is down, so that a day fails in minutes rather than
// hours (ErrReceiverUnavailable). No error or log line holds v_target's userinfo or query.
package sender

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cecontext "github.com/cloudevents/sdk-go/v2/context"
	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/retry"
)

// Defaults of the circuit breaker (see Policy).
const (
	// DefaultBreakAfter caps the consecutive failed attempts that open the breaker, which
	// are otherwise three per send in flight (at least 3): 48 at the default 16 sends in
	// flight, 3 at one. Three waves, so that a receiver restarting for a second or two (each
	// send failing once or twice, 0.5 to 2 s of backoff) does not trip it, and so that it
	// trips after about three attempts' time whatever the concurrency.
	DefaultBreakAfter = 50
	// DefaultCooldown is how long the breaker stays open before one probe event is sent.
	DefaultCooldown = 30 * time.Second
	// DefaultOutageBudget is how long one Send waits on an open breaker before it fails
	// its remaining events with ErrReceiverUnavailable: a day is reported failed after a
	// few minutes of outage, not after every event's retries.
	DefaultOutageBudget = 3 * time.Minute
)

// Policy sets retries, the circuit breaker and timeouts. A zero field takes DefaultPolicy's.
type Policy struct {
	Attempts    int           // tries per event (undelivered, 429, 5xx)
	BaseBackoff time.Duration // doubles each attempt, with jitter
	MaxBackoff  time.Duration
	Timeout     time.Duration // one HTTP request (redirects included), or one publish until its broker acknowledgement

	BreakAfter   int           // at most this many consecutive outage failures (undelivered, 429, 5xx) open the breaker: 3 per send in flight, at least 3
	Cooldown     time.Duration // open breaker: wait before one probe
	OutageBudget time.Duration // open breaker: wait before a Send fails its remaining events
}

// DefaultPolicy is what production uses: about 2 minutes of retries per event, and a
// Send fails the rest of its events after the breaker stayed open 3 minutes.
var DefaultPolicy = Policy{Attempts: 8, BaseBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, Timeout: 30 * time.Second,
	BreakAfter: DefaultBreakAfter, Cooldown: DefaultCooldown, OutageBudget: DefaultOutageBudget}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy
	p.Attempts = orDefault(p.Attempts, d.Attempts)
	p.BaseBackoff = orDefault(p.BaseBackoff, d.BaseBackoff)
	p.MaxBackoff = orDefault(p.MaxBackoff, d.MaxBackoff)
	p.Timeout = orDefault(p.Timeout, d.Timeout)
	p.BreakAfter = orDefault(p.BreakAfter, d.BreakAfter)
	p.Cooldown = orDefault(p.Cooldown, d.Cooldown)
	p.OutageBudget = orDefault(p.OutageBudget, d.OutageBudget)
	return p
}

// orDefault is v, or d when v is not set (zero or below).
func orDefault[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// Failure is one event that was not delivered.
type Failure struct {
	ID  string
	Err error
}

// Sender sends events to one target.
type Sender struct {
	tr          transport
	structured  bool
	concurrency int
	policy      Policy
	backoff     retry.Backoff
	breaker     *breaker
	redact      redactor
	clock       clock.Clock
	log         *slog.Logger
	slots       chan struct{} // one per HTTP request in flight, across Send and Stream calls
	ops         *ops.Metrics
}

// Options are where and how events go, from the configuration.
type Options struct {
	Target      *url.URL           // v_target (kafka://: the brokers joined by commas as its host)
	Protocol    config.Protocol    // v_target's scheme: HTTP, NATS or Kafka
	Structured  bool               // send_mode structured, else binary
	Concurrency int                // send_concurrency: events in flight at most
	NATS        config.NATSConfig  // with a nats:// or tls:// target
	Kafka       config.KafkaConfig // with a kafka:// target
	// DuplicateWindow is how long a JetStream stream must remember event ids for re-sends
	// to be dropped (NATS): settle_days re-pulls plus the day itself.
	DuplicateWindow time.Duration
}

// Params are the inputs of New.
type Params struct {
	fx.In
	Options   Options
	Clock     clock.Clock
	Logger    *slog.Logger
	Policy    *Policy      `optional:"true"`
	Lifecycle fx.Lifecycle `optional:"true"` // closes the kept-alive connections on stop
	Metrics   *ops.Metrics `optional:"true"`
}

// New builds a sender for the configured target. It does not connect: a broker that is
// down at the start is an outage of the first sends, retried like any other.
func New(p Params) (*Sender, error) {
	pol := DefaultPolicy
	if p.Policy != nil {
		pol = p.Policy.withDefaults()
	}
	o := p.Options
	red := newRedactor(o.Target, o.NATS.Password.Reveal(), o.Kafka.SASL.Password.Reveal())
	var (
		tr  transport
		err error
	)
	switch o.Protocol {
	case config.NATS:
		tr, err = newNATS(o, pol, red, p.Logger)
	case config.Kafka:
		tr, err = newKafka(o, pol, red)
	default:
		tr, err = newHTTP(o, pol, red)
	}
	if err != nil {
		return nil, err
	}
	if p.Lifecycle != nil {
		p.Lifecycle.Append(fx.StopHook(tr.close))
	}
	return &Sender{
		tr: tr, structured: o.Structured, concurrency: o.Concurrency,
		policy: pol, backoff: retry.Backoff{Base: pol.BaseBackoff, Max: pol.MaxBackoff},
		breaker: newBreaker(p.Clock, pol, o.Concurrency, p.Logger), redact: red, clock: p.Clock, log: p.Logger,
		slots: make(chan struct{}, max(1, o.Concurrency)), ops: ops.Or(p.Metrics),
	}, nil
}

// run is one Send call.
type run struct {
	ctx   context.Context         // the caller's: HTTP requests use it, so a stop does not cut them
	wait  context.Context         // ends with ctx or when the run stops: backoffs and the breaker wait on it
	stop  context.CancelCauseFunc // fails every event not yet delivered with the cause
	start time.Time
}

// err is why no more attempts start: ctx's error, or the cause the run stopped with.
func (r *run) err() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if r.wait.Err() != nil {
		return context.Cause(r.wait)
	}
	return nil
}

// Send delivers every event, at most `concurrency` at once, and returns the ones that
// could not be delivered. onAck, when not nil, is called (from the sending goroutines)
// with the id of every acknowledged event as soon as it is. It is Stream over a slice.
func (s *Sender) Send(ctx context.Context, events []event.Event, onAck func(id string)) []Failure {
	ch := make(chan event.Event, len(events))
	for _, e := range events {
		ch <- e
	}
	close(ch)
	var (
		mu       sync.Mutex
		failures []Failure
	)
	s.Stream(ctx, ch, func(id string, err error) {
		if err == nil {
			if onAck != nil {
				onAck(id)
			}
			return
		}
		mu.Lock()
		failures = append(failures, Failure{ID: id, Err: err})
		mu.Unlock()
	})
	return failures
}

// Stream delivers the events that come on the channel until it is closed, at most
// `concurrency` at once (over all the Sender's Send and Stream calls together: two days
// that overlap share them), and calls result (from the sending goroutines) once for every
// event as soon as it is delivered (a nil error) or given up on. It returns when the
// channel is closed and every event taken from it has its result: the caller's queue is
// the channel, so memory holds at most its capacity plus the events in flight.
//
// Once ctx ends (with ctx's error), the circuit breaker stayed open longer than
// Policy.OutageBudget (an error that Is ErrReceiverUnavailable), or a *ConfigError came
// (the same error for all), the events still to come fail at once with that error; the
// channel is still read to its end.
func (s *Sender) Stream(ctx context.Context, events <-chan event.Event, result func(id string, err error)) {
	// The CloudEvents SDK logs through a zap logger from the context: silence it, we log here.
	// The encoding applies to every protocol: the SDK's binding.Write reads it from ctx.
	ctx = cecontext.WithLogger(ctx, zap.NewNop().Sugar())
	if s.structured {
		ctx = cloudevents.WithEncodingStructured(ctx)
	} else {
		ctx = cloudevents.WithEncodingBinary(ctx)
	}
	wait, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	r := &run{ctx: ctx, wait: wait, stop: stop, start: s.clock.Now()}
	var wg sync.WaitGroup
	for range max(1, s.concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range events {
				result(e.ID(), s.sendOne(r, e))
			}
		}()
	}
	wg.Wait()
}

func (s *Sender) sendOne(r *run, e event.Event) error {
	for attempt := 1; ; attempt++ {
		if err := r.err(); err != nil {
			return err
		}
		probe, err := s.breaker.acquire(r.wait, r.start)
		if err != nil {
			if r.err() == nil { // the outage budget is spent: fail the rest of this Send
				r.stop(err)
			}
			return r.err()
		}
		select {
		case s.slots <- struct{}{}:
		case <-r.wait.Done():
			s.breaker.record(probe, aborted, nil) // a probe not sent is no probe: the next attempt probes
			return r.err()
		}
		o, err := s.tr.send(r.ctx, e)
		<-s.slots
		s.breaker.record(probe, o, err)
		switch o {
		case delivered:
			return nil
		case aborted, invalid:
			return err
		case answered:
			if _, ok := err.(*ConfigError); ok {
				r.stop(err) // every other event would fail the same way
			}
			return err
		}
		if attempt >= s.policy.Attempts {
			return fmt.Errorf("%w: gave up after %s: %w", ErrReceiverUnavailable, plural(attempt, "attempt"), err)
		}
		wait := s.backoff.Delay(attempt)
		s.ops.EventRetries.Inc()
		s.log.Debug("send failed, retrying", "id", e.ID(), "attempt", attempt, "wait", wait.String(), "error", err.Error())
		if err := retry.Sleep(r.wait, s.clock, wait); err != nil {
			return r.err()
		}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
