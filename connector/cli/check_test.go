package cli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// The settings --check prints hold no secret: v_target's credentials go through
// config.Redact, passwords and AccessKey secrets print as config.Secret does, AccessKey IDs
// keep 4 characters.
func TestPrintSettings_SecretsMasked(t *testing.T) {
	const (
		natsPassword = "nats-Password-Never-Printed"
		keySecret    = "key-Secret-Never-Printed"
		token        = "tok-Never-Printed"
		externalID   = "ext-Never-Printed"
		keyID        = "LTAI5tSecretishKeyID"
	)
	for name, values := range map[string]map[string]any{
		"http": {"v_target": "https://user:" + natsPassword + "@receiver:8443/e?token=" + token,
			"access_key_id": keyID, "secret_access_Key": keySecret, "security_token": token},
		"nats": {"v_target": "nats://nats:4222/billing.daily", "access_key_id": keyID, "secret_access_Key": keySecret,
			"nats":     map[string]any{"stream": "BILLING", "user": "u", "password": natsPassword},
			"role_arn": "acs:ram::123456789012:role/billing", "external_id": externalID},
		"kafka": {"v_target": "kafka://k1:9092/billing", "access_key_id": keyID, "secret_access_Key": keySecret,
			"kafka": map[string]any{"sasl": map[string]any{"mechanism": "SCRAM-SHA-512", "user": "u", "password": natsPassword}}},
	} {
		cfg, err := config.FromValues(values)
		require.NoError(t, err, name)
		var b bytes.Buffer
		printSettings(&b, cfg, cfg.Accounts)
		out := b.String()
		for _, s := range []string{natsPassword, keySecret, token, externalID, keyID} {
			assert.NotContains(t, out, s, name)
		}
		assert.Contains(t, out, "secret_access_Key [redacted]", name)
		assert.Contains(t, out, "access_key_id LTAI****************", name)
	}
}

func TestMaskID(t *testing.T) {
	assert.Equal(t, "", maskID(""))
	assert.Equal(t, "********", maskID("LTAI5tAB"), "8 characters or fewer: hidden whole")
	assert.Equal(t, "LTAI*****", maskID("LTAI5tABC"))
}
