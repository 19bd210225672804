package bssfake

import (
	"sync"
	"time"
)

// keyRates is RateLimitPerKey: a sliding window of one second per AccessKey ID, as the
// API limits each caller on its own (a reseller's thousand accounts, each with its own
// keys, each get their 10 requests per second).
type keyRates struct {
	mu     sync.Mutex
	limit  int
	recent map[string][]time.Time // AccessKey ID -> arrival times within the last second
}

func newKeyRates(limit int) *keyRates {
	return &keyRates{limit: limit, recent: map[string][]time.Time{}}
}

// over counts a request of key at now and reports whether it is beyond the key's limit
// (then it is not counted, as a throttled request is not by the API).
func (k *keyRates) over(key string, now time.Time) bool {
	if k == nil || k.limit <= 0 {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	keep := k.recent[key][:0]
	for _, t := range k.recent[key] {
		if now.Sub(t) < time.Second {
			keep = append(keep, t)
		}
	}
	if len(keep) >= k.limit {
		k.recent[key] = keep
		return true
	}
	k.recent[key] = append(keep, now)
	return false
}
