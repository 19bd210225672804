package reconcile

import (
	"fmt"
	"math/big"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// Decimal is an exact amount: a sum of the API's decimals, never a float64. It is written
// into JSON as a number with every digit it has ("12.3456", "-1", "0"). The zero value is 0.
type Decimal struct{ r big.Rat }

// ParseDecimal reads an amount as the API writes it (a JSON number's text: "12.30",
// "-0.5", "1.5E-7", within bill.ParseAmount's bounds); "" is 0. Anything else (a
// fraction, hex, NaN) is an error.
func ParseDecimal(a bill.Amount) (Decimal, error) {
	var d Decimal
	if a == "" {
		return d, nil
	}
	text, err := bill.ParseAmount([]byte(a))
	if err != nil {
		return d, fmt.Errorf("amount %w", err)
	}
	if _, ok := d.r.SetString(text.String()); !ok {
		return d, fmt.Errorf("amount %.40q is not a decimal number", string(a))
	}
	return d, nil
}

// MustDecimal is ParseDecimal of a constant (tests, defaults); it panics on a bad one.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(bill.Amount(s))
	if err != nil {
		panic(err)
	}
	return d
}

// Add returns d+o.
func (d Decimal) Add(o Decimal) Decimal {
	var out Decimal
	out.r.Add(&d.r, &o.r)
	return out
}

// Sub returns d-o.
func (d Decimal) Sub(o Decimal) Decimal {
	var out Decimal
	out.r.Sub(&d.r, &o.r)
	return out
}

// Abs returns |d|.
func (d Decimal) Abs() Decimal {
	var out Decimal
	out.r.Abs(&d.r)
	return out
}

// Cmp compares d and o (-1, 0, +1).
func (d Decimal) Cmp(o Decimal) int { return d.r.Cmp(&o.r) }

// IsZero reports whether d is 0.
func (d Decimal) IsZero() bool { return d.r.Sign() == 0 }

// Float64 is d as the nearest float64, for a metric only (never for money).
func (d Decimal) Float64() float64 {
	f, _ := d.r.Float64()
	return f
}

// String is d's exact decimal text, without zeros that end its fraction (bill.RatText).
func (d Decimal) String() string { return bill.RatText(&d.r) }

// MarshalJSON writes d as a JSON number with its exact digits.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalJSON reads a JSON number exactly.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	v, err := ParseDecimal(bill.Amount(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
