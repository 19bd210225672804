package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// bucketPurchases is the account's bucket of the FOCUS bill's subscription purchases and
// refunds: "p" + a hash of the purchase row's identity -> Purchase, "r" + a hash of the
// resource and the day -> Refund. Keys are hashes so that a long identity fits; the value
// holds it whole.
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

// RememberPurchases records purchases and refunds in one transaction. A purchase recorded
// before under the same identity is replaced (the same row read again).
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
			if err := putJSON(b, purchaseKey(p.Identity), p); err != nil {
				return err
			}
		}
		for _, r := range refunds {
			if err := putJSON(b, refundKey(r), r); err != nil {
				return err
			}
		}
		return nil
	})
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, out)
}

func purchaseKey(identity string) []byte {
	sum := sha256.Sum256([]byte(identity))
	return []byte("p" + hex.EncodeToString(sum[:16]))
}

func refundKey(r Refund) []byte {
	sum := sha256.Sum256([]byte(r.Resource + "\x00" + r.Day.String()))
	return []byte("r" + hex.EncodeToString(sum[:16]))
}

// PurchasesOver are the purchases whose days First..Last include day, or that a refund on
// day ends before their First (their whole cost then falls on it), whatever they were
// bought or refunded, sorted by identity, with Ended and Refunded filled from the refunds.
func (s *Store) PurchasesOver(day calendar.Day) ([]Purchase, error) {
	var out []Purchase
	refunds := map[string][]calendar.Day{}
	err := s.view(func(root *bolt.Bucket) error {
		b := root.Bucket(bucketPurchases)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			switch {
			case strings.HasPrefix(string(k), "p"):
				var p Purchase
				if err := json.Unmarshal(v, &p); err != nil {
					return s.corrupt("a purchase does not decode: %s", shorten(err.Error()))
				}
				if !p.Last.Before(day) && !day.Before(p.Bought) {
					out = append(out, p) // may cover day (or be refunded on it): see below
				}
			case strings.HasPrefix(string(k), "r"):
				var r Refund
				if err := json.Unmarshal(v, &r); err != nil {
					return s.corrupt("a refund does not decode: %s", shorten(err.Error()))
				}
				refunds[r.Resource] = append(refunds[r.Resource], r.Day)
			default:
				return s.corrupt("the purchases hold a key %q that is neither a purchase nor a refund", shorten(string(k)))
			}
			return nil
		})
	})
	for i, p := range out {
		for _, d := range refunds[p.Resource] {
			if !d.Before(p.Bought) && !p.Last.Before(d) && (!out[i].Refunded || d.Before(out[i].Ended)) {
				out[i].Ended, out[i].Refunded = d, true
			}
		}
	}
	out = slices.DeleteFunc(out, func(p Purchase) bool {
		return day.Before(p.First) && !(p.Refunded && p.Ended == day)
	})
	slices.SortFunc(out, func(a, b Purchase) int { return strings.Compare(a.Identity, b.Identity) })
	return out, err
}

// Covers reports whether the purchase spreads its cost over day: bought before it, day
// within First..Last, and not refunded before day.
func (p Purchase) Covers(day calendar.Day) bool {
	if p.Refunded && p.Ended == day {
		return p.Bought.Before(day) // the refund's day takes the rest of the cost
	}
	return p.Bought.Before(day) && !day.Before(p.First) && !p.Last.Before(day) && (!p.Refunded || !p.Ended.Before(day))
}
