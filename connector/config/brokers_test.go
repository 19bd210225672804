package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadWith loads a config of the seed's credentials plus the given members (JSON text).
func loadWith(t *testing.T, members string) (*Config, error) {
	t.Helper()
	return Load(Source{Path: writeConfig(t, `{"access_key_id":"AKID","secret_access_Key":"s3cr3t-value",`+members+`}`), Lookup: env()})
}

func TestLoad_NATSTarget(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "user.creds")
	require.NoError(t, os.WriteFile(creds, []byte("-----BEGIN NATS USER JWT-----"), 0o600))
	c, err := loadWith(t, `"v_target":"tls://nats.example.com:4222/billing.daily","settle_days":5,
		"nats":{"Stream":"BILLING","create_stream":true,"creds_file":"`+creds+`"}`)
	require.NoError(t, err)
	assert.Equal(t, NATS, c.Protocol)
	assert.Equal(t, NATSConfig{Subject: "billing.daily", Stream: "BILLING", CreateStream: true, CredsFile: creds, TLS: true}, c.NATS)
	assert.Equal(t, 6*24*time.Hour, c.DuplicateWindow())
}

func TestLoad_KafkaTarget(t *testing.T) {
	c, err := loadWith(t, `"v_target":"kafka://b1:9092,b2.example.com:9093,[::1]:9094/billing.daily-v1",
		"kafka":{"sasl":{"mechanism":"scram-sha-512","user":"billing","password":"kafka-pass-xyz"},"tls":true}`)
	require.NoError(t, err)
	assert.Equal(t, Kafka, c.Protocol)
	assert.Equal(t, []string{"b1:9092", "b2.example.com:9093", "[::1]:9094"}, c.Kafka.Brokers)
	assert.Equal(t, "billing.daily-v1", c.Kafka.Topic)
	assert.Equal(t, KafkaSASL{Mechanism: "SCRAM-SHA-512", User: "billing", Password: "kafka-pass-xyz"}, c.Kafka.SASL)
	assert.True(t, c.Kafka.TLS)
	assert.Equal(t, AcksAll, c.Kafka.Acks, "acks=all by default")
	assert.Equal(t, "kafka://b1:9092,b2.example.com:9093,[::1]:9094/billing.daily-v1", c.TargetRedacted())

	c, err = loadWith(t, `"v_target":"kafka://b1:9092/t","kafka":{"acks":"leader"}`)
	require.NoError(t, err)
	assert.Equal(t, AcksLeader, c.Kafka.Acks)
}

func TestLoad_BrokerTargetsRefusedWithOneLine(t *testing.T) {
	cases := map[string]struct{ members, says string }{
		"subject wild card":   {`"v_target":"nats://h:4222/billing.*","nats":{"stream":"S"}`, `wild card`},
		"empty subject token": {`"v_target":"nats://h:4222/billing..x","nats":{"stream":"S"}`, `empty token`},
		"no subject":          {`"v_target":"nats://h:4222","nats":{"stream":"S"}`, `has no subject`},
		"user in nats url":    {`"v_target":"nats://u:pw-in-url@h:4222/s","nats":{"stream":"S"}`, `nats.user and nats.password`},
		"no stream":           {`"v_target":"nats://h:4222/s"`, `nats.stream: is required`},
		"bad stream":          {`"v_target":"nats://h:4222/s","nats":{"stream":"a.b"}`, `is not a stream name`},
		"unknown nats keys":   {`"v_target":"nats://h:4222/s","nats":{"stream":"S","strem":"x","pasword":"p"}`, `nats: unknown key "pasword", "strem"`},
		"password alone":      {`"v_target":"nats://h:4222/s","nats":{"stream":"S","password":"nats-pass-abc"}`, `nats.user: is required with nats.password`},
		"two kinds of creds":  {`"v_target":"nats://h:4222/s","nats":{"stream":"S","user":"u","password":"nats-pass-abc","nkey_file":"/x"}`, `one kind of credentials`},
		"missing creds file":  {`"v_target":"nats://h:4222/s","nats":{"stream":"S","creds_file":"/nonexistent/u.creds"}`, `nats.creds_file: cannot read /nonexistent/u.creds`},
		"create not a bool":   {`"v_target":"nats://h:4222/s","nats":{"stream":"S","create_stream":"yes"}`, `nats.create_stream: "yes" is not true or false`},
		"nats with http":      {`"v_target":"http://h:8080","nats":{"stream":"S"}`, `nats: is set but v_target`},
		"kafka with nats":     {`"v_target":"nats://h:4222/s","nats":{"stream":"S"},"kafka":{}`, `kafka: is set but v_target`},
		"no broker":           {`"v_target":"kafka:///t"`, `has no broker`},
		"broker without port": {`"v_target":"kafka://b1/t"`, `not host:port`},
		"bad port":            {`"v_target":"kafka://b1:99999/t"`, `not a whole number from 1 to 65535`},
		"no topic":            {`"v_target":"kafka://b1:9092"`, `has no topic`},
		"bad topic":           {`"v_target":"kafka://b1:9092/a b"`, `white space`},
		"topic chars":         {`"v_target":"kafka://b1:9092/a/b"`, `has topic "a/b"; a topic name is 1 to 249 of`},
		"user in kafka url":   {`"v_target":"kafka://u:kafka-pw-url@b1:9092/t"`, `put them in kafka.sasl`},
		"bad mechanism":       {`"v_target":"kafka://b1:9092/t","kafka":{"sasl":{"mechanism":"GSSAPI","user":"u","password":"kafka-pass-xyz"}}`, `kafka.sasl.mechanism: "GSSAPI" is not one of: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		"sasl no password":    {`"v_target":"kafka://b1:9092/t","kafka":{"sasl":{"mechanism":"PLAIN","user":"u"}}`, `kafka.sasl.password: is required`},
		"unknown sasl key":    {`"v_target":"kafka://b1:9092/t","kafka":{"sasl":{"mechanism":"PLAIN","user":"u","password":"kafka-pass-xyz","token":"t"}}`, `kafka.sasl: unknown key "token"`},
		"acks none":           {`"v_target":"kafka://b1:9092/t","kafka":{"acks":"0"}`, `kafka.acks: "0" is not one of: all`},
		"kafka not an object": {`"v_target":"kafka://b1:9092/t","kafka":"tls"`, `kafka: must be a JSON object`},
		"duplicate sub-key":   {`"v_target":"nats://h:4222/s","nats":{"stream":"S","Stream":"T"}`, `keys "stream" and "Stream" are both present`},
		"other scheme":        {`"v_target":"amqp://h/q"`, `not an absolute http://, https://, nats://, tls:// or kafka:// URL`},
		"slash in password":   {`"v_target":"kafka://user:pa55/kafka-pw-url@b1:9092/t"`, `put them in kafka.sasl`},
		"port with a sign":    {`"v_target":"kafka://b1:+9092/t"`, `not a whole number from 1 to 65535`},
		"bracketed non-ip":    {`"v_target":"kafka://[zz:qq]:9092/t"`, `without a valid host`},
		"broker twice":        {`"v_target":"kafka://b1:9092,b1:9092/t"`, `names broker "b1:9092" twice`},
		"js api subject":      {`"v_target":"nats://h:4222/$JS.API.STREAM.DELETE.S","nats":{"stream":"S"}`, `which NATS reserves`},
		"inbox subject":       {`"v_target":"nats://h:4222/_INBOX.x","nats":{"stream":"S"}`, `which NATS reserves`},
	}
	for name, tc := range cases {
		_, err := loadWith(t, tc.members)
		require.Error(t, err, name)
		msg := err.Error()
		assert.Contains(t, msg, tc.says, name)
		assert.NotContains(t, msg, "\n", name)
		for _, secret := range []string{"nats-pass-abc", "kafka-pass-xyz", "pw-in-url", "kafka-pw-url", "s3cr3t-value"} {
			assert.NotContains(t, msg, secret, name)
		}
	}
}

func TestKeys_ListTheBrokerKeysForHelp(t *testing.T) {
	var names []string
	for _, k := range Keys {
		names = append(names, k.Name)
	}
	all := strings.Join(names, " ")
	for _, k := range []string{"nats.stream", "nats.create_stream", "nats.creds_file", "nats.nkey_file", "nats.user", "nats.password",
		"nats.ca_file", "kafka.sasl", "kafka.tls", "kafka.ca_file", "kafka.acks"} {
		assert.Contains(t, all, k)
	}
	assert.Contains(t, keyList(), "nats, kafka", "an object's key once in the list of known keys")
}
