package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// bucketPurchases is the account's bucket of the FOCUS bill's subscription purchases and
// refunds, keyed so that a day's read visits only what can concern it (PurchasesOver):
// "p" + Last + a hash of the purchase row's identity -> Purchase (a seek to "p" + the day
// skips every purchase that ended before it), "i" + the identity's hash -> that "p" key
// (a purchase read again with another Last replaces its record), and "r" + a hash of the
// resource + the day -> Refund (the refunds of one resource are one range). Keys are
// hashes so that a long identity fits; the value holds it whole.
var bucketPurchases = []byte("purchases")

// Purchase is what the state remembers of a subscription purchase of the FOCUS bill (see
// focus.Purchase): the days its cost is spread over, and the mapping's own record of it.
type Purchase struct {
	Identity string       `json:"identity"` // the purchase row's identity
	Resource string       `json:"resource"` // the resource it covers
	First    calendar.Day `json:"first"`    // the first day covered
	Last     calendar.Day `json:"last"`     // the last day covered (inclusive)
	Bought   calendar.Day `json:"bought"`   // the day whose bill has the purchase row
	// Data is the mapping's record of the purchase (a JSON object: focus.Purchase).
	Data json.RawMessage `json:"data"`
	// Ended, when Refunded, is the last day the purchase covers: the earliest refund of its
	// resource on a day from Bought to Last, which takes the rest of the cost (PurchasesOver
	// fills it; it is not stored).
	Ended    calendar.Day `json:"-"`
	Refunded bool         `json:"-"`
}

// Refund is a refund of a resource on a day: the spread of its purchases bought on or
// before the day ends there.
type Refund struct {
	Resource string       `json:"resource"`
	Day      calendar.Day `json:"day"`
}

// keepPurchases is how many days before the latest day a purchase is bought on a purchase
// that ended is kept: the API serves no bill older than 18 months (config.MaxDaysBack is
// 540 days), so no day before that is read again and no such purchase is asked for.
// keepRefunds adds the longest term a purchase can have (ten years, focus's coverage):
// a refund is kept while a purchase it may end is.
const (
	keepPurchases = 600
	keepRefunds   = keepPurchases + 3661
)

// RememberPurchases records purchases and refunds in one transaction. A purchase recorded
// before under the same identity is replaced (the same row read again). Purchases and
// refunds too old to concern any day the API still serves are dropped (prune).
func (s *Store) RememberPurchases(purchases []Purchase, refunds []Refund) error {
	if len(purchases) == 0 && len(refunds) == 0 {
		return nil
	}
	return s.update(len(purchases)+len(refunds), func(root *bolt.Bucket) error {
		b, err := root.CreateBucketIfNotExists(bucketPurchases)
		if err != nil {
			return err
		}
		for _, p := range purchases {
			if err := putPurchase(b, p); err != nil {
				return err
			}
		}
		for _, r := range refunds {
			if err := putJSON(b, refundKey(r.Resource, r.Day), r); err != nil {
				return err
			}
		}
		return prune(b, purchases)
	})
}

// prune drops the purchases whose Last is keepPurchases days before the latest day one of
// purchases was bought on, and the refunds keepRefunds days before it, with their index.
func prune(b *bolt.Bucket, purchases []Purchase) error {
	if len(purchases) == 0 {
		return nil
	}
	latest := purchases[0].Bought
	for _, p := range purchases {
		if latest.Before(p.Bought) {
			latest = p.Bought
		}
	}
	old, oldRefund := []byte("p"+latest.AddDays(-keepPurchases).String()), latest.AddDays(-keepRefunds).String()
	var drop [][]byte
	c := b.Cursor()
	for k, v := c.Seek([]byte("p")); k != nil && k[0] == 'p' && string(k) < string(old); k, v = c.Next() {
		var p Purchase
		if json.Unmarshal(v, &p) == nil {
			drop = append(drop, identityKey(p.Identity))
		}
		drop = append(drop, k)
	}
	for k, _ := c.Seek([]byte("r")); k != nil && k[0] == 'r'; k, _ = c.Next() {
		if day := string(k[max(len(k)-10, 0):]); day < oldRefund {
			drop = append(drop, k)
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// putPurchase records p under its key, and drops the record of its identity under
// another key (another Last).
func putPurchase(b *bolt.Bucket, p Purchase) error {
	key, index := purchaseKey(p.Last, p.Identity), identityKey(p.Identity)
	if old := b.Get(index); old != nil && string(old) != string(key) {
		if err := b.Delete(old); err != nil {
			return err
		}
	}
	if err := b.Put(index, key); err != nil {
		return err
	}
	return putJSON(b, key, p)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, out)
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func purchaseKey(last calendar.Day, identity string) []byte {
	return []byte("p" + last.String() + hash(identity))
}

func identityKey(identity string) []byte { return []byte("i" + hash(identity)) }

// refundKey is the key of the resource's refund on day; with no day, the prefix of the
// resource's refunds.
func refundKey(resource string, day ...calendar.Day) []byte {
	k := "r" + hash(resource)
	for _, d := range day {
		k += d.String()
	}
	return []byte(k)
}

// KeepPurchasesOf forgets what a complete read of day no longer has: the purchases bought
// on day whose identity is not in purchases, and the refunds of day whose resource is not
// in refunds (a row gone from the bill, or read again under another identity, must not go
// on spreading a cost, or ending a spread).
func (s *Store) KeepPurchasesOf(day calendar.Day, purchases, refunds map[string]bool) error {
	var drop [][]byte
	err := s.view(func(root *bolt.Bucket) error {
		if b := root.Bucket(bucketPurchases); b != nil {
			var err error
			drop, err = s.goneOf(b, day, purchases, refunds)
			return err
		}
		return nil
	})
	if err != nil || len(drop) == 0 {
		return err
	}
	return s.update(len(drop), func(root *bolt.Bucket) error {
		b := root.Bucket(bucketPurchases)
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// goneOf are the keys KeepPurchasesOf drops: a purchase's (kept by its Last, which is not
// before the day it was bought) with its index, and a refund's.
func (s *Store) goneOf(b *bolt.Bucket, day calendar.Day, purchases, refunds map[string]bool) ([][]byte, error) {
	var drop [][]byte
	c := b.Cursor()
	for k, v := c.Seek([]byte("p" + day.String())); k != nil && k[0] == 'p'; k, v = c.Next() {
		var p Purchase
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, s.corrupt("a purchase does not decode: %s", shorten(err.Error()))
		}
		if p.Bought == day && !purchases[p.Identity] {
			drop = append(drop, bytes.Clone(k), identityKey(p.Identity))
		}
	}
	for k, v := c.Seek([]byte("r")); k != nil && k[0] == 'r'; k, v = c.Next() {
		if !strings.HasSuffix(string(k), day.String()) {
			continue
		}
		var r Refund
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, s.corrupt("a refund does not decode: %s", shorten(err.Error()))
		}
		if r.Day == day && !refunds[r.Resource] {
			drop = append(drop, bytes.Clone(k))
		}
	}
	return drop, nil
}

// PurchasesOver are the purchases whose days First..Last include day, or that a refund on
// day ends before their First (their whole cost then falls on it), whatever they were
// bought or refunded, sorted by identity, with Ended and Refunded filled from the refunds.
// It reads the purchases whose Last is day or later, and the refunds of their resources.
func (s *Store) PurchasesOver(day calendar.Day) ([]Purchase, error) {
	var out []Purchase
	err := s.view(func(root *bolt.Bucket) error {
		b := root.Bucket(bucketPurchases)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		from := purchaseKey(day, "")[:1+len(day.String())]
		for k, v := c.Seek(from); k != nil && k[0] == 'p'; k, v = c.Next() {
			var p Purchase
			if err := json.Unmarshal(v, &p); err != nil {
				return s.corrupt("a purchase does not decode: %s", shorten(err.Error()))
			}
			if !p.Last.Before(day) && !day.Before(p.Bought) {
				out = append(out, p) // may cover day (or be refunded on it): see below
			}
		}
		return s.endByRefunds(b, out)
	})
	out = slices.DeleteFunc(out, func(p Purchase) bool {
		return day.Before(p.First) && !(p.Refunded && p.Ended == day)
	})
	slices.SortFunc(out, func(a, b Purchase) int { return strings.Compare(a.Identity, b.Identity) })
	return out, err
}

// endByRefunds fills Ended and Refunded of each purchase from its resource's refunds: the
// earliest from the day it was bought to its Last.
func (s *Store) endByRefunds(b *bolt.Bucket, ps []Purchase) error {
	refunds := map[string][]calendar.Day{}
	c := b.Cursor()
	for _, p := range ps {
		if _, read := refunds[p.Resource]; read {
			continue
		}
		refunds[p.Resource] = []calendar.Day{}
		prefix := refundKey(p.Resource)
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			var r Refund
			if err := json.Unmarshal(v, &r); err != nil {
				return s.corrupt("a refund does not decode: %s", shorten(err.Error()))
			}
			refunds[p.Resource] = append(refunds[p.Resource], r.Day)
		}
	}
	for i, p := range ps {
		for _, d := range refunds[p.Resource] {
			if !d.Before(p.Bought) && !p.Last.Before(d) && (!ps[i].Refunded || d.Before(ps[i].Ended)) {
				ps[i].Ended, ps[i].Refunded = d, true
			}
		}
	}
	return nil
}

// Covers reports whether the purchase spreads its cost over day: bought before it, day
// within First..Last, and not refunded before day.
func (p Purchase) Covers(day calendar.Day) bool {
	if p.Refunded && p.Ended == day {
		return p.Bought.Before(day) // the refund's day takes the rest of the cost
	}
	return p.Bought.Before(day) && !day.Before(p.First) && !p.Last.Before(day) && (!p.Refunded || !p.Ended.Before(day))
}
