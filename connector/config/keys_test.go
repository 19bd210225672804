package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every key is read in the place its name says, by exactly one parser; only the accounts
// list itself has none (its entries' keys do).
func TestKeys_EachKeyIsReadWhereItsNameSays(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		assert.False(t, seen[strings.ToLower(k.Name)], "%s: once", k.Name)
		seen[strings.ToLower(k.Name)] = true
		assert.NotEmpty(t, k.Help, k.Name)
		parsers := map[string]bool{"top": k.top != nil, "cred": k.cred != nil, "acct": k.acct != nil,
			"nats": k.nats != nil, "kafka": k.kafka != nil, "sasl": k.sasl != nil}
		var set []string
		for where, ok := range parsers {
			if ok {
				set = append(set, where)
			}
		}
		switch {
		case k.Name == accountsKey:
			assert.Empty(t, set, k.Name)
		case strings.HasPrefix(k.Name, "accounts[]."):
			assert.Equal(t, []string{"acct"}, set, k.Name)
		case strings.HasPrefix(k.Name, "nats."):
			assert.Equal(t, []string{"nats"}, set, k.Name)
		case strings.HasPrefix(k.Name, "kafka.sasl."):
			assert.Equal(t, []string{"sasl"}, set, k.Name)
		case strings.HasPrefix(k.Name, "kafka."):
			assert.Equal(t, []string{"kafka"}, set, k.Name)
		default:
			require.Len(t, set, 1, k.Name)
			assert.Contains(t, []string{"top", "cred"}, set[0], k.Name)
			assert.Equal(t, strings.ToUpper(k.Name), k.Env(), k.Name)
			continue
		}
		assert.Empty(t, k.Env(), "%s: read from the file only", k.Name)
		assert.Empty(t, k.Fallback, k.Name)
	}
}

// The file's keys, the accounts entries' keys and the objects' members are matched as the
// duplicate check compares them (lower case, no Unicode folding): "ſ" (U+017F, which
// strings.EqualFold takes for "s") makes another key, never a second copy of a known one
// that silently wins.
func TestLoad_KeysAreNotUnicodeFoldedAnywhere(t *testing.T) {
	c, err := load(t, `{`+target+`,"access_key_id":"k","secret_access_Key":"good","ſecret_acceſſ_Key":"evil"}`)
	require.NoError(t, err)
	assert.Equal(t, "good", c.Accounts[0].Credentials.AccessKeySecret.Reveal())
	require.Len(t, c.Warnings, 1)
	assert.Contains(t, c.Warnings[0], `unknown key "ſecret_acceſſ_Key"`)

	_, err = load(t, `{"v_target":"nats://h:4222/s","nats":{"stream":"S","ſtream":"T"}}`)
	assert.ErrorContains(t, err, `config: nats: unknown key "ſtream"`)
	_, err = load(t, `{"v_target":"kafka://b:9092/t","kafka":{"ſaſl":{"mechanism":"PLAIN","user":"u","password":"p"}}}`)
	assert.ErrorContains(t, err, `config: kafka: unknown key "ſaſl"`)
}

func TestFromValues_ChecksAsAFileDoes(t *testing.T) {
	c, err := FromValues(map[string]any{"V_Target": "http://x:1", "access_key_id": "id", "secret_access_Key": "sek",
		"pull_hour": 5, "bills": []string{"instance"}, "accounts": []map[string]any{{"name": "payer"}, {"bill_owner_id": 2}}})
	require.NoError(t, err)
	assert.Equal(t, "", c.Source)
	assert.Equal(t, 5, c.PullHour)
	assert.Equal(t, "sek", c.Accounts[0].Credentials.AccessKeySecret.Reveal())
	assert.Equal(t, "2", c.Accounts[1].Name)

	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"v_target": "http://x:1", "pull_hour": 24}, `config: pull_hour: "24" is not a whole hour from 0 to 23`},
		{map[string]any{"v_target": "http://x:1", "send_concurrency": "0"}, `config: send_concurrency: "0" is not a whole number from 1 to 256`},
		{map[string]any{"v_target": "http://x:1", "listen": "x"}, `config: listen: "x" is not host:port`},
		{map[string]any{"v_target": "http://x:1", "Pull_Hour": 1, "pull_hour": 2}, `keys "Pull_Hour" and "pull_hour" are both present`},
		{map[string]any{"v_target": "http://x:1", "secret_access_Key": "never-printed"}, "config: access_key_id: is required with secret_access_Key"},
	} {
		_, err := FromValues(tc.values)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "never-printed")
	}
}

// pull_hour, send_concurrency, catchup_days and settle_days all go through intIn: the
// same bounds check and the same one-line message, with the unit each counts.
func TestIntIn_NamesTheKeyAndTheBounds(t *testing.T) {
	n, err := intIn(value{key: "k", text: ""}, 7, 0, 9, "number")
	require.NoError(t, err)
	assert.Equal(t, 7, n, "unset is the default")
	for _, bad := range []string{"-1", "10", "2.5", "x", " 1"} {
		_, err := intIn(value{key: "k", text: bad}, 7, 0, 9, "hour")
		assert.EqualError(t, err, `config: k: "`+bad+`" is not a whole hour from 0 to 9`, bad)
	}
}

// month_close_day is a day every month has, not before the bill is final (the 3rd);
// reconcile_tolerance a decimal of 0 or more, kept as its text (never a float64).
func TestLoad_MonthCloseDayAndReconcileTolerance(t *testing.T) {
	c, err := load(t, `{`+target+`}`)
	require.NoError(t, err)
	assert.Equal(t, 3, c.MonthCloseDay)
	assert.Equal(t, "0.01", c.ReconcileTolerance.String())

	c, err = load(t, `{`+target+`,"month_close_day":5,"reconcile_tolerance":0.10}`)
	require.NoError(t, err)
	assert.Equal(t, 5, c.MonthCloseDay)
	assert.Equal(t, "0.1", c.ReconcileTolerance.String())
	c, err = load(t, `{`+target+`,"reconcile_tolerance":"0"}`)
	require.NoError(t, err)
	assert.Equal(t, "0", c.ReconcileTolerance.String())

	for cfg, says := range map[string]string{
		`"month_close_day":2`:         `month_close_day: "2" is not a whole day of the month from 3 to 28`,
		`"month_close_day":29`:        `month_close_day: "29" is not a whole day of the month from 3 to 28`,
		`"reconcile_tolerance":-0.01`: `reconcile_tolerance: "-0.01" is not a decimal number of 0 or more`,
		`"reconcile_tolerance":"1,5"`: `reconcile_tolerance: "1,5" is not a decimal number of 0 or more`,
	} {
		_, err := load(t, `{`+target+`,`+cfg+`}`)
		require.Error(t, err, cfg)
		assert.Contains(t, err.Error(), says)
	}
}
