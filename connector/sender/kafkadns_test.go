package sender_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/sender"
)

// A Kafka broker whose host DNS does not know ("broker..example" is no domain name: every
// resolver answers no such host, without asking a server) fails after one attempt as a
// *ConfigError naming the host (exit status 2), not as an outage retried until the outage
// budget is spent.
func TestSend_AnUnknownKafkaBrokerHostIsAConfigErrorNotAnOutage(t *testing.T) {
	pol := sender.Policy{Attempts: 4, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Timeout: time.Second,
		Cooldown: time.Millisecond, OutageBudget: time.Minute}
	failures := kafkaSender(t, []string{"broker..example:9092"}, pol).Send(guard(t), events(2), nil)
	require.Len(t, failures, 2)
	for _, f := range failures {
		require.ErrorIs(t, f.Err, sender.ErrUnknownHost)
		var ce *sender.ConfigError
		require.ErrorAs(t, f.Err, &ce)
		assert.Contains(t, f.Err.Error(), "DNS knows no host broker..example (the Kafka broker's): check v_target's host")
		assert.NotContains(t, f.Err.Error(), "gave up after")
	}
}
