package shard

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse_KOfN(t *testing.T) {
	for text, want := range map[string]Spec{"": None, "0/1": {0, 1}, "2/3": {2, 3}, " 0/1000 ": {0, 1000}, "999/1000": {999, 1000}, "ordinal/3": {-1, 3}} {
		got, err := Parse(text)
		require.NoError(t, err, text)
		assert.Equal(t, want, got, text)
	}
	for _, bad := range []string{"3/3", "-1/3", "1", "1/", "/3", "1/0", "0/1001", "a/3", "1/3/4", "+1/3", "1/+3", "Ordinal/3", "0x1/3", "1.0/3"} {
		_, err := Parse(bad)
		assert.Error(t, err, bad)
	}
}

func TestFromOrdinal_PodIndexThenHostname(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	s := Spec{K: -1, N: 3}
	for _, c := range []struct {
		env  func(string) (string, bool)
		want int
	}{
		{env("POD_INDEX", "2", "HOSTNAME", "billing-0"), 2},
		{env("HOSTNAME", "alicloud-billing-source-1"), 1},
		{env("POD_INDEX", "", "HOSTNAME", "billing-0"), 0},
	} {
		got, err := s.FromOrdinal(c.env)
		require.NoError(t, err)
		assert.Equal(t, Spec{K: c.want, N: 3}, got)
	}
	for name, e := range map[string]func(string) (string, bool){
		"nothing":          env(),
		"no ordinal":       env("HOSTNAME", "laptop"),
		"ordinal too big":  env("POD_INDEX", "3"),
		"hostname too big": env("HOSTNAME", "billing-7"),
		"negative":         env("POD_INDEX", "-1"),
	} {
		_, err := s.FromOrdinal(e)
		assert.Error(t, err, name)
	}
	fixed, err := Spec{K: 1, N: 2}.FromOrdinal(env("POD_INDEX", "0"))
	require.NoError(t, err)
	assert.Equal(t, Spec{K: 1, N: 2}, fixed, "a fixed K stays")
}

func callers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("access_key|LTAI5tCaller%05d||||", i)
	}
	return out
}

func TestOwns_EachKeyHasExactlyOneOwner(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		count := make([]int, n)
		for _, c := range callers(3000) {
			owners := 0
			for k := 0; k < n; k++ {
				if (Spec{K: k, N: n}).Owns(c) {
					owners++
					count[k]++
				}
			}
			require.Equal(t, 1, owners, "n=%d %s", n, c)
		}
		for k, got := range count { // each shard gets about its share
			assert.InDelta(t, 3000/n, got, float64(3000/n)*0.2, "n=%d shard %d", n, k)
		}
	}
	for _, c := range callers(50) { // the most shards
		o := Owner(c, MaxN)
		require.True(t, o >= 0 && o < MaxN)
		assert.True(t, Spec{K: o, N: MaxN}.Owns(c))
		assert.False(t, Spec{K: (o + 1) % MaxN, N: MaxN}.Owns(c))
	}
	assert.True(t, None.Owns("anything"))
	assert.True(t, Spec{}.Owns("anything"), "the zero Spec is no sharding")
	assert.Equal(t, "0/1", Spec{}.String())
}

// Going from N to N+1 moves only keys to the new shard, about 1/(N+1) of them; going back
// moves exactly those keys back.
func TestOwner_ChangingNMovesOnlyTheKeysWhoseOwnerChanged(t *testing.T) {
	keys := callers(5000)
	for _, n := range []int{1, 2, 3, 5, 10, 50} {
		moved := 0
		for _, c := range keys {
			before, after := Owner(c, n), Owner(c, n+1)
			if before != after {
				moved++
				require.Equal(t, n, after, "a key moves only to the added shard (n=%d)", n)
			}
			// Removing the last shard again: only its keys move, each back to where it was.
			require.Equal(t, before, Owner(c, n), "n=%d", n)
		}
		want := float64(len(keys)) / float64(n+1)
		assert.InDelta(t, want, float64(moved), want*0.1, "n=%d: about 1/(n+1) of the keys move", n)
	}
}

// The weights are fixed: a change would move accounts between shards on an upgrade.
func TestOwner_IsStableAcrossReleases(t *testing.T) {
	got := []int{}
	for _, c := range callers(8) {
		got = append(got, Owner(c, 3))
	}
	assert.Equal(t, []int{2, 0, 2, 1, 0, 2, 1, 0}, got)
}
