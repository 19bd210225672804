package sender

import (
	"context"
	"fmt"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// transport is one protocol: one attempt to deliver one event, and what it means. ctx
// carries the content mode (binary or structured) for the SDK's binding.Write. An outcome
// of delivered means the receiver or broker acknowledged the event; outage, that it may
// not have it (retried, counted by the breaker); answered, that retrying cannot help (the
// error is a *ConfigError or a *Rejected); aborted, that ctx ended.
type transport interface {
	send(ctx context.Context, e event.Event) (outcome, error)
	close() error
}

// httpTransport is the CloudEvents SDK's HTTP client.
type httpTransport struct {
	client cloudevents.Client
	tr     *http.Transport
	redact redactor
}

func newHTTP(cfg *config.Config, pol Policy, red redactor) (*httpTransport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Concurrency
	hc := http.Client{Transport: tr, Timeout: pol.Timeout, CheckRedirect: red.checkRedirect}
	proto, err := cehttp.New(cehttp.WithTarget(cfg.Target.String()), cehttp.WithClient(hc))
	if err != nil {
		return nil, fmt.Errorf("create CloudEvents HTTP protocol: %s", red.scrub(err.Error()))
	}
	c, err := cloudevents.NewClient(proto)
	if err != nil {
		return nil, fmt.Errorf("create CloudEvents client: %w", err)
	}
	return &httpTransport{client: c, tr: tr, redact: red}, nil
}

func (t *httpTransport) send(ctx context.Context, e event.Event) (outcome, error) {
	return t.redact.classify(ctx, t.client.Send(ctx, e))
}

// close closes the kept-alive connections.
func (t *httpTransport) close() error {
	t.tr.CloseIdleConnections()
	return nil
}
