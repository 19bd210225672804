// Package reconcile is the month's check of the delivered bill against Alibaba's own
// overview (QueryBillOverview): the sums of the final daily rows of each bill, per
// (ProductCode, SubscriptionType, Currency), beside the overview's figures, their
// differences, the month's totals and whether every difference is within the tolerance.
// Sums are exact (Decimal, math/big), never float64. It is pure: no clock, no I/O.
package reconcile

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// Key is what the overview sums by.
type Key struct {
	ProductCode      string `json:"ProductCode"`
	SubscriptionType string `json:"SubscriptionType"`
	Currency         string `json:"Currency"`
}

// String names the key in a message: "ecs PayAsYouGo CNY".
func (k Key) String() string {
	return fmt.Sprintf("%s %s %s", k.ProductCode, k.SubscriptionType, k.Currency)
}

// Figures are the three amounts compared, as the API names them.
type Figures struct {
	PretaxGrossAmount Decimal `json:"PretaxGrossAmount"`
	PretaxAmount      Decimal `json:"PretaxAmount"`
	PaymentAmount     Decimal `json:"PaymentAmount"`
}

func (f Figures) add(o Figures) Figures {
	return Figures{f.PretaxGrossAmount.Add(o.PretaxGrossAmount), f.PretaxAmount.Add(o.PretaxAmount), f.PaymentAmount.Add(o.PaymentAmount)}
}

func (f Figures) sub(o Figures) Figures {
	return Figures{f.PretaxGrossAmount.Sub(o.PretaxGrossAmount), f.PretaxAmount.Sub(o.PretaxAmount), f.PaymentAmount.Sub(o.PaymentAmount)}
}

// worst is the largest absolute figure.
func (f Figures) worst() Decimal {
	w := f.PretaxGrossAmount.Abs()
	for _, d := range []Decimal{f.PretaxAmount.Abs(), f.PaymentAmount.Abs()} {
		if d.Cmp(w) > 0 {
			w = d
		}
	}
	return w
}

// Line is one row's (or one overview item's) key and figures, as the API wrote them.
type Line struct {
	Key
	PretaxGrossAmount, PretaxAmount, PaymentAmount bill.Amount
}

// figures reads the line's amounts exactly.
func (l Line) figures() (Figures, error) {
	var f Figures
	var err error
	for _, a := range []struct {
		name string
		text bill.Amount
		dst  *Decimal
	}{{"PretaxGrossAmount", l.PretaxGrossAmount, &f.PretaxGrossAmount}, {"PretaxAmount", l.PretaxAmount, &f.PretaxAmount},
		{"PaymentAmount", l.PaymentAmount, &f.PaymentAmount}} {
		if *a.dst, err = ParseDecimal(a.text); err != nil {
			return f, fmt.Errorf("%s: %s %w", l.Key, a.name, err)
		}
	}
	return f, nil
}

// MaxKeys is the most keys (products, billing modes and currencies) a month's sums hold: a
// bill is believed to have hundreds; far more is a broken answer, refused rather than held.
const MaxKeys = 10_000

// Sums are figures summed per Key, at most MaxKeys of them. The zero value is not usable:
// NewSums.
type Sums struct{ m map[Key]Figures }

// NewSums returns empty sums.
func NewSums() *Sums { return &Sums{m: map[Key]Figures{}} }

// Add adds a line.
func (s *Sums) Add(l Line) error {
	f, err := l.figures()
	if err != nil {
		return err
	}
	if err := s.room(l.Key); err != nil {
		return err
	}
	s.m[l.Key] = s.m[l.Key].add(f)
	return nil
}

// room refuses a new key beyond MaxKeys.
func (s *Sums) room(k Key) error {
	if _, ok := s.m[k]; !ok && len(s.m) >= MaxKeys {
		return fmt.Errorf("more than %d products, billing modes and currencies in a month: not a bill's", MaxKeys)
	}
	return nil
}

// AddRow adds a bill row (bill.AccountRow, bill.InstanceRow).
func (s *Sums) AddRow(r bill.Row) error {
	l, err := LineOf(r)
	if err != nil {
		return err
	}
	return s.Add(l)
}

// Merge adds o's sums to s (at most MaxKeys keys in all).
func (s *Sums) Merge(o *Sums) error {
	for k, f := range o.m {
		if err := s.room(k); err != nil {
			return err
		}
		s.m[k] = s.m[k].add(f)
	}
	return nil
}

// Len is the number of keys.
func (s *Sums) Len() int { return len(s.m) }

// LineOf is a bill row's key and figures.
func LineOf(r bill.Row) (Line, error) {
	switch r := r.(type) {
	case bill.AccountRow:
		return Line{Key: Key{r.ProductCode, r.SubscriptionType, r.Currency},
			PretaxGrossAmount: r.PretaxGrossAmount, PretaxAmount: r.PretaxAmount, PaymentAmount: r.PaymentAmount}, nil
	case nil:
		return Line{}, fmt.Errorf("no row")
	}
	data, err := r.AppendData(nil)
	if err != nil {
		return Line{}, err
	}
	return lineOfData(data)
}

// lineOfData reads a row's event data (a JSON object with the API's member names).
func lineOfData(data []byte) (Line, error) {
	m, err := bill.Members(data, "ProductCode", "SubscriptionType", "Currency", "PretaxGrossAmount", "PretaxAmount", "PaymentAmount")
	if err != nil {
		return Line{}, fmt.Errorf("a row %w", err)
	}
	text := func(name string) string {
		var s string
		if json.Unmarshal(m[name], &s) != nil {
			return string(m[name]) // a number's digits; absent is "", and so is null (above)
		}
		return s
	}
	l := Line{Key: Key{text("ProductCode"), text("SubscriptionType"), text("Currency")}}
	for _, a := range []struct {
		name string
		dst  *bill.Amount
	}{{"PretaxGrossAmount", &l.PretaxGrossAmount}, {"PretaxAmount", &l.PretaxAmount}, {"PaymentAmount", &l.PaymentAmount}} {
		if *a.dst, err = bill.ParseAmount(m[a.name]); err != nil {
			return Line{}, fmt.Errorf("a row's %s %w", a.name, err)
		}
	}
	return l, nil
}

// sortedKeys are the keys of both sums, in order.
func sortedKeys(a, b *Sums) []Key {
	seen := map[Key]bool{}
	var keys []Key
	for _, s := range []*Sums{a, b} {
		for k := range s.m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		x, y := keys[i], keys[j]
		if x.ProductCode != y.ProductCode {
			return x.ProductCode < y.ProductCode
		}
		if x.SubscriptionType != y.SubscriptionType {
			return x.SubscriptionType < y.SubscriptionType
		}
		return x.Currency < y.Currency
	})
	return keys
}
