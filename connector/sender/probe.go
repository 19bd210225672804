package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Probe asks v_target, through the connection code that sends (the same client, TLS,
// credentials and redirect rules), whether events could go there, and sends none:
//
//   - HTTP: an OPTIONS request to v_target (the CloudEvents webhook spec's validation
//     request; a receiver that only takes POST answers it 405 or the like). Any answer
//     but 401, 403 and 407 (credentials refused), 429 and 5xx (up but failing) and a
//     redirect that is not followed means the receiver is there: a 4xx other than those
//     is what a POST-only endpoint answers to an OPTIONS, and 501 is a server's answer to
//     a method it does not implement.
//   - NATS: connects as the sender does and looks the stream up: it exists (or
//     nats.create_stream will create it on the first send) and takes v_target's subject.
//     Nothing is created.
//   - Kafka: connects to the brokers and reads the topic's metadata (without creating it).
//
// Probe is bounded by ctx and by the Policy's Timeout. It returns what it found (a short
// line), or an error of one line that says what is wrong and how to fix it; a *ConfigError
// for what only a change of the configuration or of the receiver's setup fixes.
func (s *Sender) Probe(ctx context.Context) (string, error) {
	return s.tr.probe(ctx)
}

// unreachable is the probe's error for no answer at all: err is the transport's outage
// error ("undelivered: ..."), fix says where to look.
func unreachable(who string, err error, fix string) error {
	return fmt.Errorf("cannot reach the %s: %s; %s", who, strings.TrimPrefix(err.Error(), "undelivered: "), fix)
}

func (t *httpTransport) probe(ctx context.Context) (string, error) {
	u := *t.target
	req := (&http.Request{Method: http.MethodOptions, URL: &u, Header: http.Header{}}).WithContext(ctx)
	resp, err := t.hc.Do(req)
	if err != nil {
		o, cerr := t.redact.classify(ctx, err)
		if o == outage {
			return "", unreachable("receiver", cerr, "check v_target's host and port, and that the receiver is running")
		}
		return "", cerr
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrainBytes)
	_ = resp.Body.Close()
	where := t.redact.scrub(redactURL(resp.Request.URL))
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusProxyAuthRequired:
		return "", &ConfigError{Kind: ErrAuth, Msg: fmt.Sprintf(
			"the receiver at %s refused the connector with HTTP %d: put its credentials in v_target (https://user:password@host/path, or its token in the query), or let the receiver accept the connector",
			where, code)}
	case code/100 == 2, code == http.StatusNotImplemented, code >= 400 && code < 500 && code != http.StatusTooManyRequests:
		return fmt.Sprintf("%s answered OPTIONS with HTTP %d: reachable (events are POSTed)", where, code), nil
	}
	o, cerr := t.redact.classify(ctx, cehttp.NewResult(resp.StatusCode, "%w", protocol.ResultNACK))
	if o == outage {
		return "", fmt.Errorf("the receiver at %s is up but failing: %s; check the receiver (its logs, its health)", where, cerr)
	}
	return "", cerr
}

func (t *natsTransport) probe(ctx context.Context) (string, error) {
	nc, js, err := t.probeConnect(ctx)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	if t.create {
		if _, err := js.Stream(ctx, t.stream); errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Sprintf("connected to %s; stream %q does not exist yet: the first send creates it (nats.create_stream) with subject %q",
				t.server, t.stream, t.subject), nil
		}
	}
	if o, err := t.ensureStream(ctx, js, false); err != nil {
		if o == outage {
			return "", unreachable("NATS server", err, "check that JetStream runs on "+t.server)
		}
		return "", err
	}
	found := fmt.Sprintf("connected to %s; stream %q takes subject %q", t.server, t.stream, t.subject)
	if s, err := js.Stream(ctx, t.stream); err == nil && s.CachedInfo().Config.Duplicates < t.window {
		found += fmt.Sprintf("; but its duplicate window %s is shorter than the %s exactly-once needs: make it longer",
			s.CachedInfo().Config.Duplicates, t.window)
	}
	return found, nil
}

// probeConnect makes a connection of the probe's own (the transport's settings, never its
// kept connection), cut short when ctx ends.
func (t *natsTransport) probeConnect(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
	type made struct {
		nc  *nats.Conn
		js  jetstream.JetStream
		o   outcome
		err error
	}
	res := make(chan made, 1)
	go func() {
		nc, js, o, err := t.connect()
		res <- made{nc, js, o, err}
	}()
	var m made
	select {
	case m = <-res:
	case <-ctx.Done():
		t.dialer.abort()
		if m = <-res; m.nc != nil {
			m.nc.Close()
		}
		return nil, nil, ctx.Err()
	}
	if m.err != nil && m.o == outage {
		return nil, nil, unreachable("NATS server", m.err, "check v_target's host and port, and that the server is running")
	}
	return m.nc, m.js, m.err
}

func (t *kafkaTransport) probe(ctx context.Context) (string, error) {
	req := kmsg.NewPtrMetadataRequest()
	topic := kmsg.NewMetadataRequestTopic()
	topic.Topic = kmsg.StringPtr(t.topic)
	req.Topics = append(req.Topics, topic)
	req.AllowAutoTopicCreation = false
	resp, err := req.RequestWith(ctx, t.client)
	if err == nil && len(resp.Topics) != 1 {
		err = fmt.Errorf("the brokers answered %d topics for one", len(resp.Topics))
	}
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err == nil {
		return fmt.Sprintf("connected to %s; topic %q has %d partitions", t.brokers, t.topic, len(resp.Topics[0].Partitions)), nil
	}
	if ctx.Err() != nil { // franz-go retries a failed dial until the context ends: say why it failed
		last := t.dialErr.Load()
		if last == nil {
			return "", ctx.Err()
		}
		err = *last
	}
	o, cerr := t.classify(context.WithoutCancel(ctx), err)
	if o == outage {
		return "", unreachable("Kafka brokers", cerr, "check v_target's brokers (host:port), and that they are running")
	}
	return "", cerr
}
