package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/shard"
)

func TestLoad_Shard(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, shard.None, c.Shard, "no sharding by default")
	assert.False(t, c.Shard.Sharded())

	for _, tc := range []struct {
		body string
		src  Source
		want shard.Spec
	}{
		{`"shard":"1/3"`, Source{Lookup: env()}, shard.Spec{K: 1, N: 3}},
		{`"shard":"1/3"`, Source{Lookup: env("SHARD", "2/4")}, shard.Spec{K: 2, N: 4}},
		{`"shard":"1/3"`, Source{Lookup: env("SHARD", "2/4"), Shard: "0/2"}, shard.Spec{K: 0, N: 2}}, // --shard wins
		{`"shard":"ordinal/3"`, Source{Lookup: env("HOSTNAME", "billing-shard-2")}, shard.Spec{K: 2, N: 3}},
		{`"shard":"ordinal/3"`, Source{Lookup: env("HOSTNAME", "billing-shard-2", "POD_INDEX", "1")}, shard.Spec{K: 1, N: 3}},
		{`"pull_hour":2`, Source{Lookup: env("HOSTNAME", "x-1"), Shard: "ordinal/2"}, shard.Spec{K: 1, N: 2}},
	} {
		tc.src.Path = writeConfig(t, with(tc.body))
		c, err := Load(tc.src)
		require.NoError(t, err, tc.body)
		assert.Equal(t, tc.want, c.Shard, tc.body)
	}

	for _, tc := range []struct{ body, flag, env, key string }{
		{`"shard":"3/3"`, "", "", "config: shard: "},
		{`"shard":"0/1001"`, "", "", "config: shard: "},
		{`"shard":"a/b"`, "", "", "config: shard: "},
		{`"shard":3`, "", "", "config: shard: "},
		{`"shard":"0/3"`, "x", "", "config: --shard: "},
		{`"shard":"ordinal/3"`, "", "", "config: shard: "},      // no ordinal anywhere
		{`"shard":"ordinal/3"`, "", "pod-3", "config: shard: "}, // ordinal not below N
	} {
		lookup := env()
		if tc.env != "" {
			lookup = env("HOSTNAME", tc.env)
		}
		_, err := Load(Source{Path: writeConfig(t, with(tc.body)), Lookup: lookup, Shard: tc.flag})
		require.Error(t, err, tc.body)
		assert.Contains(t, err.Error(), tc.key, tc.body)
		assert.NotContains(t, err.Error(), "\n", tc.body)
	}
}
