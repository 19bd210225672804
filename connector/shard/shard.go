// Package shard assigns each account to exactly one of N connector processes, by
// rendezvous (highest random weight) hashing of a key: the account's caller (who the API
// sees calling: the accounts read with one payer's credentials stay together, so that one
// pacer holds the API's limit). A process is shard K of N ("K/N"): it runs the accounts
// whose owner is K. Changing N moves only the keys whose owner changed: going from N to
// N+1 moves about 1/(N+1) of them, all to the new shard; going from N to N-1 moves only
// the keys of the removed shard. No key moves between two shards that exist before and after.
package shard

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// MaxN is the most shards.
const MaxN = 1000

// Ordinal is how K is written when it comes from the process's place in a StatefulSet
// ("ordinal/3"): see FromOrdinal.
const Ordinal = "ordinal"

// Spec is one process's shard: K of N, 0 <= K < N. The zero value is no sharding (0/1).
type Spec struct {
	K, N int
}

// None is no sharding: one process runs every account.
var None = Spec{K: 0, N: 1}

// Sharded reports whether the accounts are split among more than one process.
func (s Spec) Sharded() bool { return s.N > 1 }

func (s Spec) String() string {
	if s.N == 0 {
		s = None
	}
	return strconv.Itoa(s.K) + "/" + strconv.Itoa(s.N)
}

// Owns reports whether the key (an account's caller) is this shard's.
func (s Spec) Owns(key string) bool { return !s.Sharded() || Owner(key, s.N) == s.K }

// Owner is the shard of N that owns key: the one whose weight for the key is the highest
// (the lower shard on a tie).
func Owner(key string, n int) int {
	best, bestW := 0, uint64(0)
	for k := 0; k < n; k++ {
		if w := weight(key, k); k == 0 || w > bestW {
			best, bestW = k, w
		}
	}
	return best
}

// weight is the key's weight at shard k: the first 8 bytes of SHA-256(key, 0, k). Fixed
// for ever: a change would move accounts between shards on an upgrade.
func weight(key string, k int) uint64 {
	h := sha256.New()
	h.Write([]byte(key))
	var b [9]byte
	binary.BigEndian.PutUint64(b[1:], uint64(k))
	h.Write(b[:])
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// Parse reads "K/N": whole numbers, 0 <= K < N <= MaxN; "" is None. K may be Ordinal
// ("ordinal/3"): then the Spec's K is -1, to be set by FromOrdinal.
func Parse(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return None, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	n, nerr := strconv.Atoi(ns)
	if !ok || nerr != nil || n < 1 || n > MaxN || strings.HasPrefix(ns, "+") {
		return Spec{}, fmt.Errorf("%q is not K/N with N a whole number from 1 to %d (\"0/3\", or \"ordinal/3\" in a StatefulSet)", clip(s), MaxN)
	}
	if ks == Ordinal {
		return Spec{K: -1, N: n}, nil
	}
	k, err := strconv.Atoi(ks)
	if err != nil || k < 0 || k >= n || strings.HasPrefix(ks, "+") {
		return Spec{}, fmt.Errorf("%q is not K/N with K a whole number from 0 to N-1 (%d), or %q", clip(s), n-1, Ordinal)
	}
	return Spec{K: k, N: n}, nil
}

// NeedsOrdinal reports whether K is still to come from the pod's ordinal.
func (s Spec) NeedsOrdinal() bool { return s.K < 0 }

// FromOrdinal sets K of an "ordinal/N" Spec from the StatefulSet pod's ordinal: the
// POD_INDEX variable when it is set (Kubernetes 1.28+ labels the pod with
// apps.kubernetes.io/pod-index; the downward API passes it), else the number after the last
// "-" of HOSTNAME (a StatefulSet's pod is named NAME-ORDINAL). The ordinal must be below N.
func (s Spec) FromOrdinal(lookup func(string) (string, bool)) (Spec, error) {
	if !s.NeedsOrdinal() {
		return s, nil
	}
	from, text := "POD_INDEX", ""
	if v, ok := lookup("POD_INDEX"); ok && v != "" {
		text = v
	} else if h, ok := lookup("HOSTNAME"); ok && h != "" {
		from = "HOSTNAME"
		text = h[strings.LastIndexByte(h, '-')+1:]
	} else {
		return Spec{}, fmt.Errorf("\"ordinal/%d\" needs the pod's ordinal: set POD_INDEX (from the label apps.kubernetes.io/pod-index) or a HOSTNAME ending in -<ordinal>", s.N)
	}
	k, err := strconv.Atoi(text)
	if err != nil || k < 0 || strings.HasPrefix(text, "+") {
		return Spec{}, fmt.Errorf("\"ordinal/%d\": %s %q does not end in a pod ordinal (a whole number)", s.N, from, clip(text))
	}
	if k >= s.N {
		return Spec{}, fmt.Errorf("\"ordinal/%d\": the pod's ordinal %d (from %s) is not below %d: replicas and N differ", s.N, k, from, s.N)
	}
	return Spec{K: k, N: s.N}, nil
}

// clip shortens hostile text for a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
