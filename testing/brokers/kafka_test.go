package brokers_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/brokers"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

const topic = "billing"

// startKafka starts a kfake cluster of three brokers with the topic (3 partitions,
// compacted) unless noTopic.
func startKafka(t *testing.T, noTopic bool, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	if !noTopic {
		require.NoError(t, c.CreateTopic(topic, 3, map[string]string{"cleanup.policy": "compact"}))
	}
	return c
}

func kafkaTarget(c *kfake.Cluster, topic string) string {
	return "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/" + topic
}

// records reads the topic and decodes every record as the CloudEvents Kafka binding
// defines it; each record's key must be its event's subject.
func records(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) (evs []sinkEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.Deadline)
	defer cancel()
	recs, err := brokers.KafkaRecords(ctx, c, topic, opts...)
	require.NoError(t, err)
	for _, r := range recs {
		ev, structured, err := brokers.KafkaEvent(r)
		require.NoError(t, err, "record %s/%d@%d", r.Topic, r.Partition, r.Offset)
		require.Equal(t, ev.Subject(), string(r.Key), "the record key is the event's subject")
		evs = append(evs, sinkEvent{ev: ev, structured: structured, headers: r.Headers})
	}
	return evs
}

type sinkEvent struct {
	ev interface {
		ID() string
		Subject() string
		Data() []byte
	}
	structured bool
	headers    []kgo.RecordHeader
}

func TestKafka_ADayArrivesKeyedBySubjectInTheBindingsFormat(t *testing.T) {
	for _, mode := range []string{"binary", "structured"} {
		t.Run(mode, func(t *testing.T) {
			e := harness.New(t)
			e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 650, 42))
			c := startKafka(t, false)
			// Observe (never answer) what the producer asks: acks=all on every produce, and a
			// producer id first (the idempotent producer's InitProducerID).
			var mu sync.Mutex
			acks, inits := map[int16]int{}, 0
			c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
				mu.Lock()
				acks[r.(*kmsg.ProduceRequest).Acks]++
				mu.Unlock()
				return nil, nil, false
			})
			c.ControlKey(int16(kmsg.InitProducerID), func(kmsg.Request) (kmsg.Response, error, bool) {
				mu.Lock()
				inits++
				mu.Unlock()
				return nil, nil, false
			})
			cfg := e.Config(t, map[string]any{"v_target": kafkaTarget(c, topic), "send_mode": mode})
			before := job.TimeRevision(e.Clock.Now())
			r := e.Run(t, []string{"--config", cfg, "--once", "--date", e.Day.String()})
			after := job.TimeRevision(e.Clock.Now())
			require.Equal(t, 0, r.Code, r.Stderr)
			assert.Equal(t, 650.0, r.Metric(t, harness.EventsSent, map[string]string{"outcome": "delivered"}), "events counted delivered")
			assert.Zero(t, r.Metric(t, harness.EventsSent, map[string]string{"outcome": "failed"}), "events counted failed")
			mu.Lock()
			assert.Len(t, acks, 1, "one kind of acks: %v", acks)
			assert.Positive(t, acks[-1], "acks=all (-1) on every produce request: %v", acks)
			assert.Positive(t, inits, "the idempotent producer asked for a producer id")
			mu.Unlock()

			ctx, cancel := context.WithTimeout(context.Background(), harness.Deadline)
			defer cancel()
			recs, err := brokers.KafkaRecords(ctx, c, topic)
			require.NoError(t, err)
			require.Len(t, recs, 650)
			want := e.Want(t, e.Day)
			ids := map[string]bool{}
			for _, rec := range recs {
				ev, structured, err := brokers.KafkaEvent(rec)
				require.NoError(t, err)
				require.NoError(t, sink.CheckSeedShape(ev))
				assert.Equal(t, mode == "structured", structured)
				assert.Equal(t, ev.Subject(), string(rec.Key), "record key = subject")
				assert.JSONEq(t, want[ev.Subject()], string(ev.Data()))
				ids[ev.ID()] = true
				if mode == "binary" {
					names := map[string]string{}
					for _, h := range rec.Headers {
						names[h.Key] = string(h.Value)
					}
					assert.Equal(t, "1.0", names["ce_specversion"])
					assert.Equal(t, "application/json", names["content-type"])
					rev, err := strconv.Atoi(names["ce_revision"])
					require.NoError(t, err, "ce_revision")
					assert.True(t, before <= rev && rev <= after, "new rows: the revision of the pull's time, %d <= %d <= %d", before, rev, after)
					assert.Equal(t, "default", names["ce_account"])
					assert.Equal(t, ev.ID(), names["ce_id"])
				}
			}
			assert.Len(t, ids, 650)
			parts := map[int32]int{}
			for _, rec := range recs {
				parts[rec.Partition]++
			}
			assert.Len(t, parts, 3, "keys spread over the partitions")
		})
	}
}

// kill -9 mid-day, then the same day again. Kafka's log keeps what the first life wrote
// (the idempotent producer drops only its own retries within one run), so the topic holds
// the re-sent rows twice, under the same key with the same id; compaction keeps one record
// per key, which is each row once.
func TestKafka_KilledMidDayAndRestarted_EachRowOnceAfterCompaction(t *testing.T) {
	e := harness.New(t)
	const rows = 900
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), rows, 9))
	c := startKafka(t, false)
	var produces atomic.Int64 // observed, not faulted
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Count: -1, Observe: true, When: func(kmsg.Request) bool {
		produces.Add(1)
		e.Changed.Notify()
		return true
	}})
	args := []string{"--config", e.Config(t, map[string]any{"v_target": kafkaTarget(c, topic), "send_concurrency": 4}),
		"--once", "--date", e.Day.String()}

	p := e.StartProc(t, args...)
	e.Changed.Wait(t, "100 produce requests", p.Out, func() bool { return p.Exited() || produces.Load() >= 100 })
	require.False(t, p.Exited(), "the connector ended before the kill:\n%s", harness.Tail(p.Out.String(), 3000))
	p.Kill(t, e)
	first := len(records(t, c))
	require.Less(t, first, rows, "killed mid-day")

	p = e.StartProc(t, args...)
	require.Equal(t, 0, p.Wait(t, e), harness.Tail(p.Out.String(), 3000))
	all := records(t, c)
	byKey := map[string]map[string]bool{}
	for _, r := range all {
		if byKey[r.ev.Subject()] == nil {
			byKey[r.ev.Subject()] = map[string]bool{}
		}
		byKey[r.ev.Subject()][r.ev.ID()] = true
	}
	assert.Len(t, byKey, rows, "every row")
	for k, ids := range byKey {
		assert.Len(t, ids, 1, "key %s: one id (same content), however often sent", k)
	}
	assert.Equal(t, first+rows, len(all), "the rerun sent every row again; the log keeps both")

	c.Compact()
	compacted := records(t, c)
	assert.Equal(t, rows, distinctKeys(compacted), "compaction keeps every row")
	assert.LessOrEqual(t, len(compacted), len(all)-first+1, "compaction dropped the older copies (Kafka keeps the active segment)")
	t.Logf("kill -9 mid-day and restart (Kafka): %d produce requests; first life: %d records acked and in the topic when killed; "+
		"in all: %d records acked and in the topic, %d distinct keys (rows); after compaction: %d records",
		produces.Load(), first, len(all), len(byKey), len(compacted))
}

// Every broker's produce fails with a retriable error for a while (NOT_ENOUGH_REPLICAS:
// acks=all cannot be met): nothing counts as delivered until the brokers acknowledge.
func TestKafka_NotEnoughReplicasIsRetriedUntilAcknowledged(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 40, 3))
	c := startKafka(t, false)
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Count: 6, Err: kerrNotEnoughReplicas})
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"v_target": kafkaTarget(c, topic)}), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.EqualValues(t, 6, f.Hits(), "the faults were hit")
	assert.Equal(t, 40, len(records(t, c)))
}

func TestKafka_TopicMissing_Exit2NamingTheTopic(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	c := startKafka(t, true)
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"v_target": kafkaTarget(c, "no-such-topic")}), "--once", "--date", e.Day.String()})
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `topic \"no-such-topic\" does not exist on kafka://127.0.0.1:`)
}

// A real broker answers bad SASL credentials with SASL_AUTHENTICATION_FAILED (error 58)
// before it closes the connection; kfake only closes it (the client sees EOF, which is an
// outage like any dropped connection). The refused case therefore has kfake answer the
// way a broker does; the accepted case runs kfake's own SCRAM-SHA-512.
func TestKafka_SASLRefused_Exit2ClearMessageNoPassword(t *testing.T) {
	const (
		user     = "billing"
		password = "kafka-Password-Never-Printed-55"
		wrong    = "kafka-Wrong-Password-Never-Printed-66"
	)
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	cfg := func(c *kfake.Cluster, pw string) string {
		return e.Config(t, map[string]any{"v_target": kafkaTarget(c, topic),
			"kafka": map[string]any{"sasl": map[string]any{"mechanism": "SCRAM-SHA-512", "user": user, "password": pw}}})
	}

	refusing := startKafka(t, false, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", user, password))
	refusing.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		refusing.KeepControl()
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
		resp.ErrorMessage = &msg
		return resp, nil, true
	})
	// franz-go retries a refused handshake within a record's delivery timeout (the
	// sender's Policy.Timeout) before it reports it: shorten that.
	e.NeverPrinted(password, wrong)
	r := e.Run(t, []string{"--config", cfg(refusing, wrong), "--once", "--date", e.Day.String()},
		fx.Supply(&sender.Policy{Timeout: 3 * time.Second}))
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "refused the credentials (SASL SCRAM-SHA-512 as billing)")
	assert.Contains(t, r.Stderr, "check kafka.sasl")

	c := startKafka(t, false, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", user, password))
	r = e.Run(t, []string{"--config", cfg(c, password), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, 5, len(records(t, c, kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()))))
}

var kerrNotEnoughReplicas = kerr.NotEnoughReplicas

// The broker is stopped mid-day and started again on the same port with the same data
// (kfake's DataDir): the connector rides the outage out (its circuit breaker pauses, then
// a probe resumes), re-sends what was not acknowledged, and every row is in the topic.
func TestKafka_BrokerRestartedMidDay(t *testing.T) {
	e := harness.New(t)
	const rows = 900
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), rows, 11))
	dir := t.TempDir()
	c := startKafka(t, false, kfake.NumBrokers(1), kfake.DataDir(dir))
	addr := c.ListenAddrs()[0]
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	var produces atomic.Int64
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Count: -1, Observe: true, When: func(kmsg.Request) bool {
		produces.Add(1)
		e.Changed.Notify()
		return true
	}})
	log := e.Log()
	quick := fx.Supply(&sender.Policy{Timeout: 2 * time.Second, Cooldown: time.Second})
	cfg := e.Config(t, map[string]any{"v_target": "kafka://" + addr + "/" + topic, "send_concurrency": 4})
	wait := e.Start(log, []string{"--config", cfg, "--once", "--date", e.Day.String()}, quick)
	e.Changed.Wait(t, "100 produce requests", log, func() bool { return produces.Load() >= 100 })
	c.Close()
	// No metric says that the circuit breaker opened (event_retries_total counts attempts,
	// not the breaker's state): its log line is the only sign of it.
	e.Changed.Wait(t, "the connector to pause sending", log, func() bool {
		return strings.Contains(log.String(), `"msg":"receiver unavailable, sending paused"`)
	})
	p, _ := strconv.Atoi(port)
	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(p), kfake.DataDir(dir))
	require.NoError(t, err)
	t.Cleanup(c2.Close)
	r := wait(t)
	require.Equal(t, 0, r.Code, harness.Tail(r.Stderr, 3000))
	assert.Contains(t, r.Stderr, `"msg":"receiver answers again, sending resumes"`)
	all := records(t, c2)
	keys := map[string]bool{}
	for _, x := range all {
		keys[x.ev.Subject()] = true
	}
	assert.Len(t, keys, rows, "every row")
	c2.Compact()
	compacted := records(t, c2)
	assert.Equal(t, rows, distinctKeys(compacted), "compaction keeps every row")
	assert.LessOrEqual(t, len(compacted), len(all), "compaction drops copies")
	t.Logf("broker restarted mid-day (Kafka): %d records acked and in the topic, %d distinct keys (rows); after compaction: %d records",
		len(all), len(keys), len(compacted))
}

func distinctKeys(evs []sinkEvent) int {
	keys := map[string]bool{}
	for _, e := range evs {
		keys[e.ev.Subject()] = true
	}
	return len(keys)
}

func TestKafka_TLS_UntrustedBrokerIsExit2_TrustedByCAFileDelivers(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	certs := httptest.NewUnstartedServer(nil) // only for its certificate for 127.0.0.1
	certs.StartTLS()
	certs.Close()
	c := startKafka(t, false, kfake.TLS(&tls.Config{Certificates: certs.TLS.Certificates, MinVersion: tls.VersionTLS12}))
	quick := fx.Supply(&sender.Policy{Attempts: 2, Timeout: 3 * time.Second, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond})

	cfg := e.Config(t, map[string]any{"v_target": kafkaTarget(c, topic), "kafka": map[string]any{"tls": true}})
	r := e.Run(t, []string{"--config", cfg, "--once", "--date", e.Day.String()}, quick)
	assert.Equal(t, 2, r.Code, "a broker certificate nobody trusts is configuration, not an outage\n%s", r.Stderr)
	assert.Contains(t, r.Stderr, "kafka.ca_file")

	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs.Certificate().Raw}), 0o600))
	cfg = e.Config(t, map[string]any{"v_target": kafkaTarget(c, topic), "kafka": map[string]any{"tls": true, "ca_file": ca}})
	r = e.Run(t, []string{"--config", cfg, "--once", "--date", e.Day.String()}, quick)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Len(t, records(t, c, kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true})), 5) //nolint:gosec // the test's own broker
}
