package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// transport is one protocol: one attempt to deliver one event, and what it means. ctx
// carries the content mode (binary or structured) for the SDK's binding.Write. An outcome
// of delivered means the receiver or broker acknowledged the event; outage, that it may
// not have it (retried, counted by the breaker); answered, that retrying cannot help (the
// error is a *ConfigError or a *Rejected); aborted, that ctx ended; invalid, that the
// event cannot be encoded (an *EncodingError) and nothing was sent.
type transport interface {
	send(ctx context.Context, e event.Event) (outcome, error)
	probe(ctx context.Context) (string, error) // Sender.Probe
	close() error
}

// Bounds of what an HTTP receiver may send back: its response headers, and how much of a
// response body is read (to reuse the connection) before the connection is dropped
// instead. The body is never kept: the status is the answer.
const (
	maxResponseHeaderBytes = 64 << 10
	maxDrainBytes          = 64 << 10
)

// httpTransport writes each event with the CloudEvents SDK's HTTP binding
// (cehttp.WriteRequest) and posts it with its own client. The SDK's Protocol.Send is not
// used: on a non-2xx answer it reads the whole response body into the error, however
// large, and its binary mode puts attribute values into headers without the binding's
// percent-encoding (binaryMessage adds it).
type httpTransport struct {
	hc     *http.Client
	tr     *http.Transport
	target *url.URL
	binary bool
	redact redactor
}

func newHTTP(o Options, pol Policy, red redactor) (*httpTransport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.Concurrency
	tr.MaxResponseHeaderBytes = maxResponseHeaderBytes
	hc := &http.Client{Transport: tr, Timeout: pol.Timeout, CheckRedirect: red.checkRedirect}
	return &httpTransport{hc: hc, tr: tr, target: o.Target, binary: !o.Structured, redact: red}, nil
}

func (t *httpTransport) send(ctx context.Context, e event.Event) (outcome, error) {
	if err := e.Validate(); err != nil {
		return invalid, &EncodingError{Binding: "HTTP", Problem: "not a valid CloudEvent: " + err.Error()}
	}
	u := *t.target
	req := (&http.Request{Method: http.MethodPost, URL: &u, Header: http.Header{}}).WithContext(ctx)
	if err := cehttp.WriteRequest(ctx, encodeBinary(&e, t.binary, httpCodec), req); err != nil {
		return invalid, asEncodingError("HTTP", err)
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return t.redact.classify(ctx, err)
	}
	// Read a little of the body so that the connection can carry the next request; a
	// longer body costs a new connection, never memory.
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrainBytes)
	_ = resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return delivered, nil
	}
	return t.redact.classify(ctx, cehttp.NewResult(resp.StatusCode, "%w", protocol.ResultNACK))
}

// asEncodingError is err as the *EncodingError it holds, or one that wraps its text.
func asEncodingError(binding string, err error) *EncodingError {
	var ee *EncodingError
	if errors.As(err, &ee) {
		return ee
	}
	return &EncodingError{Binding: binding, Problem: fmt.Sprintf("cannot encode the event: %v", err)}
}

// close closes the kept-alive connections.
func (t *httpTransport) close() error {
	t.tr.CloseIdleConnections()
	return nil
}
