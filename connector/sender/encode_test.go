package sender_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/brokers"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// hostileSubjects are subjects a bill row's fields can make (a ProductCode with a line
// break, say), each with its HTTP/NATS binary-mode header value (percent-encoded).
var hostileSubjects = []struct{ subject, wire string }{
	{"2026-11-03/123/ecs\n/Subscription/ab12", "2026-11-03/123/ecs%0A/Subscription/ab12"},
	{"2026-11-03/123/ecs\r\n/x", "2026-11-03/123/ecs%0D%0A/x"},
	{"100%/off", "100%25/off"},
	{`say "hi"`, "say%20%22hi%22"},
	{"2026-11-03/云服务器 ECS/实例规格", "2026-11-03/%E4%BA%91%E6%9C%8D%E5%8A%A1%E5%99%A8%20ECS/%E5%AE%9E%E4%BE%8B%E8%A7%84%E6%A0%BC"},
	{"tab\there", "tab%09here"},
	{"del\x7f", "del%7F"},
}

// hostileEvents are events(n) with the hostile subjects, and an extension holding one too.
func hostileEvents() []event.Event {
	evs := events(len(hostileSubjects))
	for i, h := range hostileSubjects {
		evs[i].SetSubject(h.subject)
		evs[i].SetExtension("account", h.subject)
	}
	return evs
}

// A subject with a line break, a percent sign, quotes or Chinese goes in binary mode as
// the HTTP binding says (percent-encoded), is delivered at the first attempt, and a
// receiver that decodes as the binding says reads the subject it had.
func TestSend_HTTPBinaryModePercentEncodesAttributes(t *testing.T) {
	k := sink.New()
	var (
		mu   sync.Mutex
		wire = map[string]string{} // event id: ce-subject as it came
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		wire[r.Header.Get("ce-id")] = r.Header.Get("ce-subject")
		mu.Unlock()
		k.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	evs := hostileEvents()
	requireNone(t, newSender(t, srv.URL, false, fast).Send(context.Background(), evs, nil))
	require.Equal(t, len(evs), k.Attempts(), "each event delivered at its first attempt")
	got := map[string]event.Event{}
	for _, r := range k.Events() {
		got[r.Event.ID()] = r.Event
	}
	for i, h := range hostileSubjects {
		id := evs[i].ID()
		assert.Equal(t, h.wire, wire[id], "ce-subject on the wire for %q", h.subject)
		assert.Equal(t, h.subject, got[id].Subject(), "the subject the receiver decodes")
		assert.Equal(t, h.subject, got[id].Extensions()["account"], "the extension the receiver decodes")
	}
}

// Structured mode carries the same subjects in the JSON body.
func TestSend_HTTPStructuredModeCarriesTheSameSubjects(t *testing.T) {
	k := startSink(t)
	evs := hostileEvents()
	requireNone(t, newSender(t, k.URL(), true, fast).Send(context.Background(), evs, nil))
	require.Equal(t, len(evs), k.Attempts())
	subjects := map[string]bool{}
	for _, r := range k.Events() {
		subjects[r.Event.Subject()] = true
	}
	for _, h := range hostileSubjects {
		assert.True(t, subjects[h.subject], "%q", h.subject)
	}
}

// A value binary mode cannot represent (bytes that are not UTF-8) fails that one event at
// once with an error naming the attribute; the others are delivered, and the failures are
// not an outage: no retry, and the circuit breaker (here: opening after 3 failures, then
// closed for an hour) stays closed.
func TestSend_UnencodableAttributeFailsThatEventOnlyAndIsNoOutage(t *testing.T) {
	k := startSink(t)
	var log logBuffer
	pol := fast
	pol.BreakAfter, pol.Cooldown, pol.OutageBudget = 3, time.Hour, 50*time.Millisecond
	s := build(t, k.URL(), options{policy: pol, sends: 1, log: &log})
	evs := events(8)
	bad := map[string]bool{}
	for i := range evs {
		if i%2 == 0 {
			evs[i].SetSubject("ecs/\xff\xfe/" + evs[i].ID())
			bad[evs[i].ID()] = true
		}
	}
	failures := s.Send(context.Background(), evs, nil)
	require.Len(t, failures, len(bad))
	for _, f := range failures {
		require.True(t, bad[f.ID], "%s failed: %v", f.ID, f.Err)
		var ee *sender.EncodingError
		require.ErrorAs(t, f.Err, &ee)
		assert.Equal(t, "subject", ee.Attribute)
		assert.Contains(t, f.Err.Error(), `attribute "subject": it is not valid UTF-8`)
		assert.False(t, errors.Is(f.Err, sender.ErrReceiverUnavailable), "%v", f.Err)
	}
	assert.Equal(t, len(evs)-len(bad), k.Attempts(), "only the good events were sent, each once")
	assert.NotContains(t, log.String(), "receiver unavailable")
	assert.NotContains(t, log.String(), "retrying")
}

// natsSender is a sender to subject "billing.daily" of stream BILLING (created) on n.
func natsSender(t *testing.T, target string, structured bool) *sender.Sender {
	t.Helper()
	u, err := url.Parse(target + "/billing.daily")
	require.NoError(t, err)
	o := sender.Options{Target: u, Protocol: config.NATS, Structured: structured, Concurrency: concurrency,
		NATS: config.NATSConfig{Subject: "billing.daily", Stream: "BILLING", CreateStream: true}, DuplicateWindow: 24 * time.Hour}
	s, err := sender.New(sender.Params{Options: o, Clock: clockwork.NewRealClock(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Policy: &fast})
	require.NoError(t, err)
	return s
}

// kafkaSender is a sender to topic "billing" of the brokers at addrs.
func kafkaSender(t *testing.T, addrs []string, pol sender.Policy) *sender.Sender {
	t.Helper()
	u, err := url.Parse("kafka://" + strings.Join(addrs, ",") + "/billing")
	require.NoError(t, err)
	o := sender.Options{Target: u, Protocol: config.Kafka, Concurrency: concurrency,
		Kafka: config.KafkaConfig{Brokers: addrs, Topic: "billing", Acks: config.AcksAll}}
	s, err := sender.New(sender.Params{Options: o, Clock: clockwork.NewRealClock(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Policy: &pol})
	require.NoError(t, err)
	return s
}

// The same subjects over NATS JetStream: the ce- headers are percent-encoded as the NATS
// binding says (nats.go would turn a CR or LF into a space, and trim spaces), and a
// receiver that decodes them reads the subject it had. One of them cannot go at all.
func TestSend_NATSBinaryModePercentEncodesAttributes(t *testing.T) {
	n, err := brokers.StartNATS(brokers.NATSOptions{StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(n.Stop)
	evs := append(hostileEvents(), events(len(hostileSubjects) + 1)[len(hostileSubjects)])
	evs[len(evs)-1].SetSubject("\xc0\xa0")
	failures := natsSender(t, n.URL(), false).Send(guard(t), evs, nil)
	require.Len(t, failures, 1)
	require.Equal(t, evs[len(evs)-1].ID(), failures[0].ID)
	var ee *sender.EncodingError
	require.ErrorAs(t, failures[0].Err, &ee)
	assert.Equal(t, "NATS", ee.Binding)
	assert.Equal(t, "subject", ee.Attribute)

	msgs, err := n.Messages(guard(t), "BILLING")
	require.NoError(t, err)
	require.Len(t, msgs, len(hostileSubjects), "each event stored once")
	got := map[string]event.Event{}
	for _, m := range msgs {
		wire := m.Header.Get("ce-subject")
		require.NoError(t, sink.DecodeHeaders(m.Header))
		ev, err := binding.ToEvent(context.Background(), cejs.NewMessage(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}))
		require.NoError(t, err)
		got[ev.ID()] = *ev
		assert.Equal(t, wire, percent(ev.Subject()), "ce-subject on the wire")
	}
	for i, h := range hostileSubjects {
		assert.Equal(t, h.subject, got[evs[i].ID()].Subject())
		assert.Equal(t, h.subject, got[evs[i].ID()].Extensions()["account"])
	}
}

// percent is hostileSubjects' wire form of a subject.
func percent(subject string) string {
	for _, h := range hostileSubjects {
		if h.subject == subject {
			return h.wire
		}
	}
	return "not a hostile subject: " + subject
}

// Over Kafka, header values are UTF-8 bytes (the Kafka binding has no percent-encoding):
// the subjects arrive as they are, in ce_subject and the record key. A subject that is
// not UTF-8 cannot be a Kafka binding header: that event fails, the others go.
func TestSend_KafkaBinaryModeCarriesUTF8AndRefusesTheRest(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	require.NoError(t, c.CreateTopic("billing", 1, nil))
	evs := append(hostileEvents(), events(len(hostileSubjects) + 1)[len(hostileSubjects)])
	evs[len(evs)-1].SetSubject("\xc0\xa0")
	failures := kafkaSender(t, c.ListenAddrs(), fast).Send(guard(t), evs, nil)
	require.Len(t, failures, 1)
	require.Equal(t, evs[len(evs)-1].ID(), failures[0].ID)
	var ee *sender.EncodingError
	require.ErrorAs(t, failures[0].Err, &ee)
	assert.Equal(t, "Kafka", ee.Binding)
	assert.Equal(t, "subject", ee.Attribute)

	recs, err := brokers.KafkaRecords(guard(t), c, "billing")
	require.NoError(t, err)
	require.Len(t, recs, len(hostileSubjects), "each event stored once")
	got := map[string]string{}
	for _, r := range recs {
		ev, structured, err := brokers.KafkaEvent(r)
		require.NoError(t, err)
		require.False(t, structured)
		require.Equal(t, ev.Subject(), string(r.Key))
		got[ev.ID()] = ev.Subject()
	}
	for i, h := range hostileSubjects {
		assert.Equal(t, h.subject, got[evs[i].ID()])
	}
}
