// Package sender delivers CloudEvents to v_target over HTTP with the CloudEvents Go SDK:
// binary mode by default, bounded concurrency, retries with exponential backoff on
// undelivered events, 429 and 5xx; other 4xx are rejections reported with their status.
package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cecontext "github.com/cloudevents/sdk-go/v2/context"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Policy sets retries and timeouts. The zero value is replaced by DefaultPolicy.
type Policy struct {
	Attempts    int           // tries per event (undelivered, 429, 5xx)
	BaseBackoff time.Duration // doubles each attempt, with jitter
	MaxBackoff  time.Duration
	Timeout     time.Duration // one HTTP request
}

// DefaultPolicy is what production uses: about 2 minutes of retries per event.
var DefaultPolicy = Policy{Attempts: 8, BaseBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, Timeout: 30 * time.Second}

// Failure is one event that was not delivered.
type Failure struct {
	ID  string
	Err error
}

// Rejected is a NACK that retrying cannot fix (a 4xx other than 429).
type Rejected struct{ Status int }

func (r *Rejected) Error() string {
	return fmt.Sprintf("rejected by the receiver with HTTP %d", r.Status)
}

// Sender sends events to one target.
type Sender struct {
	client      cloudevents.Client
	structured  bool
	concurrency int
	policy      Policy
	clock       clock.Clock
	log         *slog.Logger
}

// Params are the inputs of New.
type Params struct {
	fx.In
	Config *config.Config
	Clock  clock.Clock
	Logger *slog.Logger
	Policy *Policy `optional:"true"`
}

// New builds a sender for the configured target.
func New(p Params) (*Sender, error) {
	pol := DefaultPolicy
	if p.Policy != nil {
		pol = *p.Policy
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = p.Config.Concurrency
	proto, err := cehttp.New(cehttp.WithTarget(p.Config.Target.String()), cehttp.WithClient(http.Client{Transport: tr, Timeout: pol.Timeout}))
	if err != nil {
		return nil, fmt.Errorf("create CloudEvents HTTP protocol: %w", err)
	}
	c, err := cloudevents.NewClient(proto)
	if err != nil {
		return nil, fmt.Errorf("create CloudEvents client: %w", err)
	}
	return &Sender{
		client: c, structured: p.Config.Structured,
		concurrency: p.Config.Concurrency, policy: pol, clock: p.Clock, log: p.Logger,
	}, nil
}

// Send delivers every event, at most `concurrency` at once, and returns the ones that
// could not be delivered. It returns early only when ctx ends; events not tried by then
// are reported as failed with ctx's error. onAck, when not nil, is called (from the
// sending goroutines) with the id of every acknowledged event as soon as it is.
func (s *Sender) Send(ctx context.Context, events []event.Event, onAck func(id string)) []Failure {
	// The CloudEvents SDK logs through a zap logger from the context: silence it, we log here.
	ctx = cecontext.WithLogger(ctx, zap.NewNop().Sugar())
	if s.structured {
		ctx = cloudevents.WithEncodingStructured(ctx)
	} else {
		ctx = cloudevents.WithEncodingBinary(ctx)
	}
	var (
		mu       sync.Mutex
		failures []Failure
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	workers := min(s.concurrency, len(events))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(events) {
					return
				}
				if err := s.sendOne(ctx, events[i]); err != nil {
					mu.Lock()
					failures = append(failures, Failure{ID: events[i].ID(), Err: err})
					mu.Unlock()
				} else if onAck != nil {
					onAck(events[i].ID())
				}
			}
		}()
	}
	wg.Wait()
	return failures
}

func (s *Sender) sendOne(ctx context.Context, e event.Event) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		res := s.client.Send(ctx, e)
		if cloudevents.IsACK(res) {
			return nil
		}
		err := classify(res)
		var rej *Rejected
		if errors.As(err, &rej) {
			return err
		}
		if attempt >= s.policy.Attempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		wait := s.backoff(attempt)
		s.log.Debug("send failed, retrying", "id", e.ID(), "attempt", attempt, "wait", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.clock.After(wait):
		}
	}
}

// classify keeps "undelivered" (no response) apart from a NACK with a status.
func classify(res error) error {
	var hr *cehttp.Result
	if errors.As(res, &hr) {
		switch {
		case hr.StatusCode == http.StatusTooManyRequests || hr.StatusCode >= 500:
			return fmt.Errorf("receiver answered HTTP %d", hr.StatusCode)
		case hr.StatusCode >= 400:
			return &Rejected{Status: hr.StatusCode}
		}
	}
	// No HTTP answer at all (refused, reset, timed out): the event was not delivered.
	return fmt.Errorf("undelivered: %w", res)
}

func (s *Sender) backoff(attempt int) time.Duration {
	d := s.policy.BaseBackoff << (attempt - 1)
	if d > s.policy.MaxBackoff || d <= 0 {
		d = s.policy.MaxBackoff
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
