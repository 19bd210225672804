package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// MaxKafkaResponse bounds one answer of a Kafka broker (its size prefix is read first).
const MaxKafkaResponse = 4 << 20

// kafkaTransport produces to a Kafka topic with franz-go's kgo: acks=all and the
// idempotent producer by default (kafka.acks), one record per event, its key the event's
// subject (a compacted topic keeps the latest revision of each row), written in the
// CloudEvents Kafka binding's format (kafkaRecordWriter). An event is delivered when
// ProduceSync returns the broker's acknowledgement.
//
// The SDK's kafka_sarama binding is not used: its Send reports a send on a closed client
// (sarama.ErrClosedClient) as delivered, takes no context (a produce cannot be bounded by
// the sender's timeout or cut by a stop), and sarama's SCRAM needs a client of its own;
// franz-go is also the client of the in-process cluster (kfake) the tests run against.
type kafkaTransport struct {
	client  *kgo.Client
	topic   string
	binary  bool // binary content mode, else structured
	timeout time.Duration
	brokers string // kafka://b1:9092,b2:9092, for messages
	mech    string
	withCA  bool
	redact  redactor
	dialErr atomic.Pointer[error] // the last failed connection to a broker, nil once one succeeds
	readErr atomic.Pointer[error] // the last failed read of a broker's answer, nil once one succeeds
}

// OnBrokerRead keeps the last error reading a broker's answer (one larger than
// MaxKafkaResponse, a broker that closed the connection): an attempt that times out says it.
func (t *kafkaTransport) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		t.readErr.Store(nil)
		return
	}
	t.readErr.Store(&err)
}

// OnBrokerConnect keeps the last connection error: franz-go retries a failed dial (a TLS
// handshake refused, a certificate not trusted) without failing the record, so an attempt
// that times out looks at it to tell TLS that cannot work from a broker that is down.
func (t *kafkaTransport) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		t.dialErr.Store(nil)
		return
	}
	t.dialErr.Store(&err)
}

func newKafka(o Options, pol Policy, red redactor) (*kafkaTransport, error) {
	k := o.Kafka
	t := &kafkaTransport{topic: k.Topic, binary: !o.Structured, timeout: pol.Timeout, brokers: "kafka://" + strings.Join(k.Brokers, ","), withCA: k.CAFile != "", redact: red}
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID("alicloud-billing-source"),
		kgo.RecordDeliveryTimeout(pol.Timeout), // one attempt of the sender: franz-go's own retries within it
		kgo.UnknownTopicRetries(2),             // a missing topic is a configuration error, said soon
		kgo.ProducerLinger(0),
		kgo.WithHooks(t),
		kgo.DialTimeout(min(pol.Timeout, 10*time.Second)),
		// A broker's answer larger than this fails the connection before it is read
		// (franz-go's default is 100 MiB): a producer's answers are small, the largest the
		// metadata of the topic's partitions. The fetch size must not exceed it.
		kgo.BrokerMaxReadBytes(MaxKafkaResponse),
		kgo.FetchMaxBytes(MaxKafkaResponse),
	}
	if k.Acks == config.AcksLeader {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	} else {
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks())) // idempotent: franz-go's default
	}
	if m := k.SASL.Mechanism; m != "" {
		var mech sasl.Mechanism
		switch m {
		case "PLAIN":
			mech = plain.Auth{User: k.SASL.User, Pass: k.SASL.Password.Reveal()}.AsMechanism()
		case "SCRAM-SHA-256":
			mech = scram.Auth{User: k.SASL.User, Pass: k.SASL.Password.Reveal()}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			mech = scram.Auth{User: k.SASL.User, Pass: k.SASL.Password.Reveal()}.AsSha512Mechanism()
		}
		opts, t.mech = append(opts, kgo.SASL(mech)), "SASL "+m+" as "+k.SASL.User
	}
	if k.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if k.CAFile != "" {
			pem, err := os.ReadFile(k.CAFile)
			if err != nil {
				return nil, &config.Error{Key: "kafka.ca_file", Problem: fmt.Sprintf("cannot read %s: %v", k.CAFile, err)}
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, &config.Error{Key: "kafka.ca_file", Problem: fmt.Sprintf("%s holds no PEM certificate", k.CAFile)}
			}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	c, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create Kafka client: %s", red.scrub(err.Error()))
	}
	t.client = c
	return t, nil
}

func (t *kafkaTransport) send(ctx context.Context, e event.Event) (outcome, error) {
	rec := &kgo.Record{Topic: t.topic}
	if s := e.Subject(); s != "" {
		rec.Key = []byte(s)
	}
	if _, err := binding.Write(ctx, encodeBinary(&e, t.binary, kafkaCodec), (*kafkaRecordWriter)(rec), (*kafkaRecordWriter)(rec)); err != nil {
		return invalid, asEncodingError("Kafka", err)
	}
	// With the idempotent producer, franz-go fails a record that was written to a broker
	// only once the broker answers (RecordDeliveryTimeout is enforced only where that is
	// safe), so ProduceSync can block for as long as a broker stays silent, past a stop.
	// The attempt waits at most the sender's timeout and a grace (kafkaGrace): a record
	// still in flight then is an outage; franz-go keeps it and may still store it, and the
	// retry stores the same event again under the same key (see docs/targets.md: a
	// compacted topic keeps one).
	actx, cancel := context.WithTimeout(ctx, t.timeout+kafkaGrace(t.timeout))
	defer cancel()
	res := make(chan error, 1)
	t.client.Produce(actx, rec, func(_ *kgo.Record, err error) { res <- err })
	select {
	case err := <-res:
		if err != nil {
			return t.classify(ctx, err)
		}
		return delivered, nil
	case <-actx.Done():
		if ctx.Err() != nil {
			return aborted, ctx.Err()
		}
		if cfg := t.dialFailure(); cfg != nil {
			return answered, cfg
		}
		if last := t.readErr.Load(); last != nil {
			return outage, fmt.Errorf("undelivered: no acknowledgement from %s within %s (the last answer could not be read: %s)",
				t.brokers, t.timeout, t.redact.scrub((*last).Error()))
		}
		return outage, fmt.Errorf("undelivered: no acknowledgement from %s within %s", t.brokers, t.timeout)
	}
}

// kafkaGrace is how long an attempt waits past the record's delivery timeout (the same
// timeout, given to franz-go), so that a record franz-go fails at that timeout is reported
// with franz-go's own error: a handshake it retried until then (SASL refused: a
// configuration error, exit status 2) is not taken for an outage because this wait
// happened to end first on a busy machine.
func kafkaGrace(timeout time.Duration) time.Duration {
	return min(max(time.Second, timeout/4), 5*time.Second)
}

// dialFailure is the *ConfigError of the last failed connection to a broker, when a
// record timed out with no broker reached since: TLS that cannot work, or a host DNS does
// not know (a name to fix, not an outage to retry for minutes); nil otherwise.
func (t *kafkaTransport) dialFailure() error {
	last := t.dialErr.Load()
	if last == nil {
		return nil
	}
	if cfg := t.tlsError(*last); cfg != nil {
		return cfg
	}
	if cfg := t.redact.unknownHost(*last, "Kafka broker"); cfg != nil {
		return cfg
	}
	return nil
}

// tlsError is the ConfigError of TLS with the brokers that cannot work, or nil.
func (t *kafkaTransport) tlsError(err error) error {
	if cfg := t.redact.brokerTLSError(err, "Kafka broker", t.withCA, "kafka.ca_file names the CAs of private brokers"); cfg != nil {
		return cfg
	}
	return nil
}

func (t *kafkaTransport) classify(ctx context.Context, err error) (outcome, error) {
	if ctx.Err() != nil {
		return aborted, ctx.Err()
	}
	if cfg := t.tlsError(err); cfg != nil {
		return answered, cfg
	}
	msg := t.redact.scrub(err.Error())
	var ke *kerr.Error
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return answered, &ConfigError{Kind: ErrMissing, Err: err, Msg: fmt.Sprintf(
			"topic %q does not exist on %s: create it (cleanup.policy=compact keeps the latest revision of each row); the connector does not create topics", t.topic, t.brokers)}
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return answered, &ConfigError{Kind: ErrAuth, Err: err, Msg: fmt.Sprintf("the Kafka brokers %s refused the credentials (%s): %s; check kafka.sasl", t.brokers, t.mechanism(), msg)}
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return answered, &ConfigError{Kind: ErrAuth, Err: err, Msg: fmt.Sprintf("the Kafka brokers %s do not let %s write to topic %q: %s", t.brokers, t.mechanism(), t.topic, msg)}
	case errors.As(err, &ke) && !ke.Retriable:
		return answered, &Rejected{Status: int(ke.Code), Reason: msg}
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, context.DeadlineExceeded):
		if cfg := t.dialFailure(); cfg != nil {
			return answered, cfg
		}
		return outage, fmt.Errorf("undelivered: no acknowledgement from %s within the record timeout: %s", t.brokers, msg)
	}
	return outage, fmt.Errorf("undelivered: %s: %s", t.brokers, msg)
}

func (t *kafkaTransport) mechanism() string {
	if t.mech == "" {
		return "no SASL"
	}
	return t.mech
}

func (t *kafkaTransport) close() error {
	t.client.Close()
	return nil
}

// kafkaRecordWriter writes an event into a record the way the CloudEvents Kafka protocol
// binding does (sdk-go protocol/kafka_sarama/v2, write_producer_message.go, for sarama's
// ProducerMessage): binary mode puts each attribute in a "ce_" header as
// types.Format writes it, datacontenttype in "content-type", the data as the value;
// structured mode puts the JSON event in the value and its media type
// (application/cloudevents+json) in "content-type".
type kafkaRecordWriter kgo.Record

const (
	kafkaPrefix      = "ce_"
	kafkaContentType = "content-type"
)

func (w *kafkaRecordWriter) SetStructuredEvent(_ context.Context, f format.Format, ev io.Reader) error {
	w.Headers = []kgo.RecordHeader{{Key: kafkaContentType, Value: []byte(f.MediaType())}}
	return w.SetData(ev)
}

func (w *kafkaRecordWriter) Start(context.Context) error {
	w.Headers = []kgo.RecordHeader{}
	return nil
}

func (w *kafkaRecordWriter) End(context.Context) error { return nil }

func (w *kafkaRecordWriter) SetData(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	w.Value = b.Bytes()
	return nil
}

func (w *kafkaRecordWriter) SetAttribute(a spec.Attribute, value any) error {
	name := kafkaPrefix + a.Name()
	if a.Kind() == spec.DataContentType {
		name = kafkaContentType
	}
	return w.header(name, value)
}

func (w *kafkaRecordWriter) SetExtension(name string, value any) error {
	return w.header(kafkaPrefix+name, value)
}

func (w *kafkaRecordWriter) header(name string, value any) error {
	if value == nil {
		for i, h := range w.Headers {
			if h.Key == name {
				w.Headers = append(w.Headers[:i], w.Headers[i+1:]...)
				break
			}
		}
		return nil
	}
	s, err := types.Format(value)
	if err != nil {
		return err
	}
	w.Headers = append(w.Headers, kgo.RecordHeader{Key: name, Value: []byte(s)})
	return nil
}

var (
	_ binding.StructuredWriter = (*kafkaRecordWriter)(nil)
	_ binding.BinaryWriter     = (*kafkaRecordWriter)(nil)
)
