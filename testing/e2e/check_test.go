package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cloudbill/alicloud-billing-source/testing/brokers"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// check runs `connector --check` with the config that extra makes of e's, in this process;
// none of secrets (nor the environment's secret) may reach its output.
func check(t *testing.T, e *harness.Env, extra map[string]any, secrets ...string) harness.Result {
	t.Helper()
	e.NeverPrinted(secrets...)
	return e.Run(t, []string{"--check", "--config", e.Config(t, extra)})
}

// line is the line of out that starts with status and name (as --check prints them).
func line(t *testing.T, out, status, name string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == status && f[1]+" "+f[2] == name || len(f) >= 2 && f[0] == status && f[1] == name {
			return l
		}
	}
	require.FailNow(t, "no "+status+" line for "+name, "output:\n%s", out)
	return ""
}

// The all-good check: the settings with the secret masked, an OK line for the config, the
// account's signed call and the receiver; one API call of one row, no event, no state file,
// no ops listener (its configured address is taken, which a run would fail on).
func TestCheck_AllGoodSaysOKForEachAndTouchesNothing(t *testing.T) {
	e := harness.New(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	r := check(t, e, map[string]any{"listen": taken.Addr().String()})
	require.Equal(t, 0, r.Code, "stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	line(t, r.Stdout, "OK", "config")
	assert.Contains(t, line(t, r.Stdout, "OK", "api default"), "QueryAccountBill for ")
	assert.Contains(t, line(t, r.Stdout, "OK", "target"), "answered OPTIONS with HTTP ")
	assert.Contains(t, r.Stdout, "check: all good")
	assert.Contains(t, r.Stdout, "access_key_id LTAI"+strings.Repeat("*", len(harness.KeyID)-4)+", secret_access_Key [redacted]")
	assert.Contains(t, r.Stdout, e.Sink.URL())
	assert.NotContains(t, r.Stdout, harness.KeyID, "the AccessKey ID is masked")

	reqs := e.API.Requests()
	require.Len(t, reqs, 1, "one signed call")
	assert.Equal(t, "QueryAccountBill", reqs[0].Action)
	assert.Equal(t, "1", reqs[0].Params.Get("PageSize"))
	assert.Equal(t, 0, e.Sink.Len(), "no event sent")
	require.Len(t, e.Sink.Requests(), 1)
	assert.Equal(t, "OPTIONS", e.Sink.Requests()[0].Method)
	_, err = os.Stat(e.StatePath)
	assert.True(t, os.IsNotExist(err), "no state file: %v", err)
}

// With the instance bill configured, each account makes one call per bill.
func TestCheck_OneCallPerBill(t *testing.T) {
	e := harness.New(t)
	r := check(t, e, map[string]any{"bills": []string{"account", "instance"}})
	require.Equal(t, 0, r.Code, r.Stdout)
	assert.Contains(t, line(t, r.Stdout, "OK", "api default"), "QueryAccountBill and DescribeInstanceBill for ")
	assert.Len(t, e.API.Requests(), 2)
}

func TestCheck_WrongSecretNamesTheKeyToCheck(t *testing.T) {
	e := harness.New(t)
	wrong := "wrong-Secret-Never-Printed-0a1b2c"
	r := check(t, e, map[string]any{"secret_access_Key": wrong}, wrong)
	require.Equal(t, 2, r.Code, r.Stdout)
	l := line(t, r.Stdout, "FAIL", "api default")
	assert.Contains(t, l, "SignatureDoesNotMatch")
	assert.Contains(t, l, "check secret_access_Key")
	line(t, r.Stdout, "OK", "target")
	assert.Contains(t, r.Stdout, "check: 1 of 3 checks failed")
}

// .invalid never resolves: the check fails at once, naming the endpoint to check (a run
// retries an unreachable endpoint for minutes).
func TestCheck_UnknownEndpointHostFailsNamingEndpoint(t *testing.T) {
	e := harness.New(t)
	r := check(t, e, map[string]any{"endpoint": "http://nonexistent.invalid:1"})
	require.Equal(t, 2, r.Code, r.Stdout)
	l := line(t, r.Stdout, "FAIL", "api default")
	assert.Contains(t, l, "nonexistent.invalid")
	assert.Contains(t, l, "check endpoint")
	line(t, r.Stdout, "OK", "target")
}

// A receiver refuses in two ways: it answers that the connector may not send (401, 403:
// credentials to put in v_target), or nothing listens on its port.
func TestCheck_ReceiverThatRefuses(t *testing.T) {
	for _, status := range []int{401, 403} {
		e := harness.New(t)
		e.Sink.FailNext(1, status)
		r := check(t, e, nil)
		require.Equal(t, 2, r.Code, r.Stdout)
		l := line(t, r.Stdout, "FAIL", "target")
		assert.Contains(t, l, fmt.Sprintf("refused the connector with HTTP %d", status))
		assert.Contains(t, l, "put its credentials in v_target")
		line(t, r.Stdout, "OK", "api default")
	}

	e := harness.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	r := check(t, e, map[string]any{"v_target": closed})
	require.Equal(t, 2, r.Code, r.Stdout)
	l := line(t, r.Stdout, "FAIL", "target")
	assert.Contains(t, l, "connection refused")
	assert.Contains(t, l, "check v_target's host and port")
}

// A receiver that accepts the connection and never answers fails the check within the
// probe's timeout (seconds), naming where to look.
func TestCheck_SilentReceiverFailsInSeconds(t *testing.T) {
	e := harness.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var held []net.Conn // kept open, never answered, until the listener closes
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	r := check(t, e, map[string]any{"v_target": "http://" + ln.Addr().String()})
	require.Equal(t, 2, r.Code, r.Stdout)
	l := line(t, r.Stdout, "FAIL", "target")
	assert.Contains(t, l, "cannot reach the receiver")
	assert.Contains(t, l, "Timeout")
	assert.Contains(t, l, "check v_target's host and port")
}

// NATS: a missing stream fails (and is not created); one that exists, or that
// nats.create_stream will create on the first send, passes.
func TestCheck_NATSStream(t *testing.T) {
	n, err := brokers.StartNATS(brokers.NATSOptions{StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(n.Stop)
	e := harness.New(t)
	target := n.URL() + "/billing.daily"
	natsCheck := func(create bool) harness.Result {
		return check(t, e, map[string]any{"v_target": target, "nats": map[string]any{"stream": "BILLING", "create_stream": create}})
	}

	r := natsCheck(false)
	require.Equal(t, 2, r.Code, r.Stdout)
	l := line(t, r.Stdout, "FAIL", "target")
	assert.Contains(t, l, `JetStream stream "BILLING" does not exist`)
	assert.Contains(t, l, "set nats.create_stream to true")
	r = natsCheck(true)
	require.Equal(t, 0, r.Code, r.Stdout)
	assert.Contains(t, line(t, r.Stdout, "OK", "target"), "the first send creates it")
	_, err = n.StreamInfo(context.Background(), "BILLING")
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound, "the check creates nothing")

	require.NoError(t, n.CreateStream(context.Background(), jetstream.StreamConfig{Name: "BILLING", Subjects: []string{"billing.>"}}))
	r = natsCheck(false)
	require.Equal(t, 0, r.Code, r.Stdout)
	assert.Contains(t, line(t, r.Stdout, "OK", "target"), `stream "BILLING" takes subject "billing.daily"`)
}

// Kafka: a missing topic fails (and is not created); an existing one passes.
func TestCheck_KafkaTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	e := harness.New(t)
	target := "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/billing"

	r := check(t, e, map[string]any{"v_target": target})
	require.Equal(t, 2, r.Code, r.Stdout)
	assert.Contains(t, line(t, r.Stdout, "FAIL", "target"), `topic "billing" does not exist`)

	require.NoError(t, c.CreateTopic("billing", 2, nil))
	r = check(t, e, map[string]any{"v_target": target})
	require.Equal(t, 0, r.Code, r.Stdout)
	assert.Contains(t, line(t, r.Stdout, "OK", "target"), `topic "billing" has 2 partitions`)
}

// A config that does not load is one FAIL line (exit 2), and nothing is probed.
func TestCheck_BadConfigIsOneFailLine(t *testing.T) {
	e := harness.New(t)
	r := check(t, e, map[string]any{"pull_hour": 25})
	require.Equal(t, 2, r.Code, r.Stdout)
	assert.Contains(t, line(t, r.Stdout, "FAIL", "config"), "pull_hour")
	assert.Empty(t, e.API.Requests())
	assert.Zero(t, e.Sink.Attempts())
}
