package accounts

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// thirty is a config of 30 accounts: 20 with keys of their own, and 10 members read with
// the payer's (top-level) keys, which must stay together.
func thirty(t *testing.T, shard string) *config.Config {
	t.Helper()
	var entries []map[string]any
	for i := 0; i < 20; i++ {
		entries = append(entries, map[string]any{"name": fmt.Sprintf("own-%02d", i),
			"access_key_id": fmt.Sprintf("LTAI5tOwnKey%04d", i), "secret_access_Key": "s"})
	}
	for i := 0; i < 10; i++ {
		entries = append(entries, map[string]any{"name": fmt.Sprintf("member-%02d", i), "bill_owner_id": fmt.Sprint(2000000000000000 + i)})
	}
	v := map[string]any{"v_target": "http://127.0.0.1:1", "access_key_id": "LTAI5tPayerKey", "secret_access_Key": "s", "accounts": entries}
	if shard != "" {
		v["shard"] = shard
	}
	c, err := config.FromValues(v)
	require.NoError(t, err)
	return c
}

func names(as []config.Account) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

func TestSelect_EachAccountRunsInExactlyOneShardCallersTogether(t *testing.T) {
	all, err := Select(thirty(t, ""), nil)
	require.NoError(t, err)
	require.Len(t, all, 30, "no sharding: every account")
	assert.Empty(t, ShardLine(thirty(t, "")))

	owner := map[string]int{}
	for k := 0; k < 3; k++ {
		c := thirty(t, fmt.Sprintf("%d/3", k))
		mine, err := Select(c, nil)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("shard %d/3: %d of 30 accounts", k, len(mine)), ShardLine(c))
		for _, a := range mine {
			_, dup := owner[a.Name]
			require.False(t, dup, "%s in two shards", a.Name)
			owner[a.Name] = k
			assert.Equal(t, k, OwnerOf(c, a).K)
		}
	}
	assert.Len(t, owner, 30, "every account in a shard")
	for i := 1; i < 10; i++ {
		assert.Equal(t, owner["member-00"], owner[fmt.Sprintf("member-%02d", i)], "the payer's accounts share a shard")
	}
	shards := map[int]bool{}
	for _, k := range owner {
		shards[k] = true
	}
	assert.Len(t, shards, 3, "30 accounts over 3 shards: none empty")
}

func TestSelect_AnAccountOfAnotherShardIsRefusedNamingItsOwner(t *testing.T) {
	c := thirty(t, "0/3")
	var other config.Account
	for _, a := range c.Accounts {
		if OwnerOf(c, a).K != 0 {
			other = a
			break
		}
	}
	require.NotEmpty(t, other.Name)
	_, err := Select(c, Only{other.Name})
	var e *OtherShardError
	require.ErrorAs(t, err, &e)
	assert.True(t, e.NeedsConfigFix())
	assert.Equal(t, fmt.Sprintf("--account %q is an account of shard %s, not of this process's shard 0/3; run it there, or with --shard %s",
		other.Name, OwnerOf(c, other), OwnerOf(c, other)), err.Error())

	_, err = Select(c, Only{"nobody"})
	var u *UnknownError
	require.ErrorAs(t, err, &u)

	mine, err := Select(c, nil)
	require.NoError(t, err)
	got, err := Select(c, Only{mine[0].Name})
	require.NoError(t, err)
	assert.Equal(t, []string{mine[0].Name}, names(got))
}
