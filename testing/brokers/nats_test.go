package brokers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/testing/brokers"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

const (
	stream  = "BILLING"
	subject = "billing.daily"
)

func startNATS(t *testing.T, o brokers.NATSOptions) *brokers.NATS {
	t.Helper()
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	n, err := brokers.StartNATS(o)
	require.NoError(t, err)
	t.Cleanup(n.Stop)
	return n
}

// natsConfig is a config.json delivering to subject in stream (created if missing unless
// nats overrides it).
func natsConfig(t *testing.T, e *harness.Env, n *brokers.NATS, natsKeys map[string]any, extra map[string]any) string {
	t.Helper()
	obj := map[string]any{"stream": stream, "create_stream": true}
	for k, v := range natsKeys {
		obj[k] = v
	}
	c := map[string]any{"v_target": n.URL() + "/" + subject, "nats": obj}
	for k, v := range extra {
		c[k] = v
	}
	return e.Config(t, c)
}

// streamEvents reads the stream and decodes each message with the CloudEvents NATS
// JetStream binding's own reader, after the percent-decoding of its ce- headers that the
// binding's v2.16.2 does not do; it checks that Nats-Msg-Id is the event's id.
func streamEvents(t *testing.T, n *brokers.NATS) (events []event.Event, structured []bool) {
	t.Helper()
	ctx := context.Background()
	msgs, err := n.Messages(ctx, stream)
	require.NoError(t, err)
	for _, m := range msgs {
		// The ce- headers are percent-encoded (NATS binding 3.1.3.2): decoded as a receiver must.
		require.NoError(t, sink.DecodeHeaders(m.Header))
		msg := cejs.NewMessage(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
		structured = append(structured, msg.ReadEncoding() == binding.EncodingStructured)
		ev, err := binding.ToEvent(ctx, msg)
		require.NoError(t, err, "message %d: %s", m.Sequence, m.Data)
		require.Equal(t, ev.ID(), m.Header.Get(jetstream.MsgIDHeader), "Nats-Msg-Id is the event id")
		require.Equal(t, subject, m.Subject)
		events = append(events, *ev)
	}
	return events, structured
}

func TestNATS_ADayArrivesInTheStreamInTheSeedsShape(t *testing.T) {
	for _, mode := range []string{"binary", "structured"} {
		t.Run(mode, func(t *testing.T) {
			e := harness.New(t)
			e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 650, 42))
			n := startNATS(t, brokers.NATSOptions{})
			before := job.TimeRevision(e.Clock.Now())
			r := e.Run(t, []string{"--config", natsConfig(t, e, n, nil, map[string]any{"send_mode": mode}), "--once", "--date", e.Day.String()})
			after := job.TimeRevision(e.Clock.Now())
			require.Equal(t, 0, r.Code, r.Stderr)
			assert.Contains(t, r.Stderr, `"msg":"created the JetStream stream"`)
			assert.Equal(t, 650.0, r.Metric(t, harness.EventsSent, map[string]string{"outcome": "delivered"}), "events counted delivered")
			assert.Zero(t, r.Metric(t, harness.EventsSent, map[string]string{"outcome": "failed"}), "events counted failed")

			events, structured := streamEvents(t, n)
			require.Len(t, events, 650)
			ids := map[string]bool{}
			for i, ev := range events {
				require.NoError(t, sink.CheckSeedShape(ev))
				assert.Equal(t, mode == "structured", structured[i], "content mode")
				rev, err := harness.Revision(ev)
				require.NoError(t, err, "the revision extension")
				assert.True(t, before <= rev && rev <= after, "new rows: the revision of the pull's time, %d <= %d <= %d", before, rev, after)
				ids[ev.ID()] = true
			}
			assert.Len(t, ids, 650, "one message per row")
			want := e.Want(t, e.Day)
			for _, ev := range events {
				assert.JSONEq(t, want[ev.Subject()], string(ev.Data()), "the row's data under its subject")
			}

			info, err := n.StreamInfo(context.Background(), stream)
			require.NoError(t, err)
			assert.Equal(t, []string{subject}, info.Config.Subjects)
			assert.Equal(t, 4*24*time.Hour, info.Config.Duplicates, "settle_days 3 + 1 days")
			assert.Equal(t, jetstream.FileStorage, info.Config.Storage)
		})
	}
}

// kill -9 mid-day, then the same day again: the second run re-sends every row with the
// same ids (an explicit run sends what was asked for) and the stream's duplicate window
// drops each id it already has, so each row is in the stream once.
func TestNATS_KilledMidDayAndRestarted_EachRowOnceInTheStream(t *testing.T) {
	e := harness.New(t)
	const rows = 900
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), rows, 9))
	n := startNATS(t, brokers.NATSOptions{})
	mon, err := n.Watch(subject, e.Changed.Notify)
	require.NoError(t, err)
	t.Cleanup(mon.Close)
	args := []string{"--config", natsConfig(t, e, n, nil, map[string]any{"send_concurrency": 4}), "--once", "--date", e.Day.String()}

	p := e.StartProc(t, args...)
	e.Changed.Wait(t, "300 PubAcks", p.Out, func() bool { _, acked, _ := mon.Counts(); return p.Exited() || acked >= 300 })
	require.False(t, p.Exited(), "the connector ended before the kill:\n%s", harness.Tail(p.Out.String(), 3000))
	p.Kill(t, e)
	pub1, acked1, _ := mon.Counts()
	inStream1 := streamMsgs(t, n)
	require.Less(t, inStream1, uint64(rows), "killed mid-day")

	p = e.StartProc(t, args...)
	require.Equal(t, 0, p.Wait(t, e), harness.Tail(p.Out.String(), 3000))
	assert.NotContains(t, p.Out.String(), harness.Secret)

	events, _ := streamEvents(t, n)
	ids := map[string]int{}
	for _, ev := range events {
		ids[ev.ID()]++
	}
	assert.Len(t, ids, rows, "every row")
	assert.Len(t, events, rows, "each row once: the stream's message count is the number of distinct rows")
	require.NoError(t, mon.Flush())
	pub, acked, dup := mon.Counts()
	assert.GreaterOrEqual(t, dup, int(inStream1), "the second run's re-sends of what the first stored were acknowledged as duplicates")
	assert.Equal(t, pub, acked, "every publish acknowledged")
	t.Logf("kill -9 mid-day and restart: first life: %d published, %d acked, %d in stream when killed; "+
		"in all: %d published, %d acked (%d of them duplicates), %d in stream, %d distinct rows",
		pub1, acked1, inStream1, pub, acked, dup, len(events), rows)
}

func streamMsgs(t *testing.T, n *brokers.NATS) uint64 {
	t.Helper()
	info, err := n.StreamInfo(context.Background(), stream)
	require.NoError(t, err)
	return info.State.Msgs
}

// The server is shut down mid-day and started again on the same port and store: the
// connector reconnects, re-sends what was not acknowledged, and the day is delivered with
// each row once in the stream.
func TestNATS_ServerRestartedMidDay(t *testing.T) {
	e := harness.New(t)
	const rows = 900
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), rows, 11))
	n := startNATS(t, brokers.NATSOptions{})
	mon, err := n.Watch(subject, e.Changed.Notify)
	require.NoError(t, err)
	t.Cleanup(mon.Close)
	log := e.Log()
	quick := fx.Supply(&sender.Policy{Timeout: 2 * time.Second, Cooldown: time.Second})
	wait := e.Start(log, []string{"--config", natsConfig(t, e, n, nil, map[string]any{"send_concurrency": 4}), "--once", "--date", e.Day.String()}, quick)
	e.Changed.Wait(t, "100 PubAcks", log, func() bool { _, acked, _ := mon.Counts(); return acked >= 100 })
	n.Stop()
	// Down long enough for publishes to time out and the circuit breaker to open (3 waves
	// of the 4 sends in flight): what follows is re-sent.
	// No metric says that the circuit breaker opened (event_retries_total counts attempts,
	// not the breaker's state): its log line is the only sign of it.
	e.Changed.Wait(t, "the connector to pause sending", log, func() bool {
		return strings.Contains(log.String(), `"msg":"receiver unavailable, sending paused"`)
	})
	assert.Contains(t, log.String(), `"msg":"NATS connection lost, reconnecting"`)
	require.NoError(t, n.Start())
	r := wait(t)
	require.Equal(t, 0, r.Code, harness.Tail(r.Stderr, 3000))
	assert.Contains(t, r.Stderr, `"msg":"NATS connection restored"`)
	assert.Contains(t, r.Stderr, `"msg":"receiver answers again, sending resumes"`)
	assert.Equal(t, 900.0, r.Metric(t, harness.EventsSent, map[string]string{"outcome": "delivered"}), "events counted delivered")
	assert.Zero(t, r.Metric(t, harness.EventsSent, map[string]string{"outcome": "failed"}), "events counted failed")
	events, _ := streamEvents(t, n)
	ids := map[string]bool{}
	for _, ev := range events {
		ids[ev.ID()] = true
	}
	assert.Len(t, ids, rows)
	assert.Len(t, events, rows, "each row once in the stream")
	require.NoError(t, mon.Flush())
	pub, acked, dup := mon.Counts()
	t.Logf("server restarted mid-day: %d published, %d acked (%d of them duplicates), %d in stream, %d distinct rows",
		pub, acked, dup, len(events), len(ids))
}

func TestNATS_StreamMissingWithoutCreate_Exit2NamingTheStream(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	n := startNATS(t, brokers.NATSOptions{})
	r := e.Run(t, []string{"--config", natsConfig(t, e, n, map[string]any{"create_stream": false}, nil), "--once", "--date", e.Day.String()})
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `JetStream stream \"BILLING\" does not exist`)
	assert.Contains(t, r.Stderr, "nats.create_stream")
	_, err := n.StreamInfo(context.Background(), stream)
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound, "not created")
}

func TestNATS_StreamWithoutTheSubject_Exit2(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	n := startNATS(t, brokers.NATSOptions{})
	require.NoError(t, n.CreateStream(context.Background(), jetstream.StreamConfig{Name: stream, Subjects: []string{"other.>"}, Duplicates: time.Hour}))
	r := e.Run(t, []string{"--config", natsConfig(t, e, n, map[string]any{"create_stream": false}, nil), "--once", "--date", e.Day.String()})
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `does not take subject \"billing.daily\" (its subjects: other.>)`)
}

func TestNATS_ShortDuplicateWindowIsAWarning(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	n := startNATS(t, brokers.NATSOptions{})
	require.NoError(t, n.CreateStream(context.Background(), jetstream.StreamConfig{Name: stream, Subjects: []string{"billing.>"}, Duplicates: 2 * time.Minute}))
	r := e.Run(t, []string{"--config", natsConfig(t, e, n, map[string]any{"create_stream": false}, nil), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `"msg":"the JetStream stream's duplicate window is too short for exactly-once`)
	assert.Contains(t, r.Stderr, `"duplicate_window":"2m0s","needed":"96h0m0s"`)
	assert.Equal(t, uint64(5), streamMsgs(t, n))
}

func TestNATS_AuthRefused_Exit2ClearMessageNoPassword(t *testing.T) {
	const (
		user     = "billing"
		password = "nats-Password-Never-Printed-77"
		wrong    = "nats-Wrong-Password-Never-Printed-88"
	)
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	n := startNATS(t, brokers.NATSOptions{User: user, Password: password})
	args := func(pw string) []string {
		return []string{"--config", natsConfig(t, e, n, map[string]any{"user": user, "password": pw}, nil), "--once", "--date", e.Day.String()}
	}
	e.NeverPrinted(password, wrong)
	r := e.Run(t, args(wrong))
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "refused the credentials (nats.user and nats.password)")
	assert.Contains(t, r.Stderr, "nats://127.0.0.1:")

	r = e.Run(t, args(password))
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, uint64(5), streamMsgs(t, n))
}

func TestNATS_ServerWithoutJetStream_Exit2(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	n := startNATS(t, brokers.NATSOptions{NoJetStream: true})
	r := e.Run(t, []string{"--config", natsConfig(t, e, n, nil, nil), "--once", "--date", e.Day.String()})
	assert.Equal(t, 2, r.Code, "no retry makes JetStream appear\n%s", r.Stderr)
	assert.Contains(t, r.Stderr, "JetStream is not enabled on nats://127.0.0.1:")
}

func TestNATS_UnreadableCredsAndCAFilesAreConfigErrors(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	n := startNATS(t, brokers.NATSOptions{})
	junk := filepath.Join(t.TempDir(), "junk")
	require.NoError(t, os.WriteFile(junk, []byte("not a creds file nor a certificate: junk-Never-Printed"), 0o600))
	e.NeverPrinted("junk-Never-Printed")
	for key, says := range map[string]string{"creds_file": "nats.creds_file: " + junk + " holds no", "ca_file": "nats.ca_file: " + junk + " holds no PEM certificate"} {
		r := e.Run(t, []string{"--config", natsConfig(t, e, n, map[string]any{key: junk}, nil), "--once", "--date", e.Day.String()})
		assert.Equal(t, 2, r.Code, key)
		assert.Contains(t, r.Stderr, says, key)
	}
	_, err := n.StreamInfo(context.Background(), stream)
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound, "nothing was published: the stream was never even created")
}
