package focus

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// Amounts are exact: math/big, never float64. A decimal is read from the API's text and
// written back with every digit it has.

// parseDec reads a decimal in JSON's grammar (bill.ParseAmount's bounds); "" is 0.
func parseDec(s string) (*big.Rat, error) {
	r := new(big.Rat)
	if s == "" {
		return r, nil
	}
	a, err := bill.ParseAmount([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("amount %w", err)
	}
	if _, ok := r.SetString(a.String()); !ok {
		return nil, fmt.Errorf("amount %.40q is not a decimal number", s)
	}
	return r, nil
}

// formatDec is r's exact decimal text (bill.RatText).
func formatDec(r *big.Rat) string { return bill.RatText(r) }

// scaleOf is the number of digits after the point of a decimal's text (0 for "12", 2 for
// "1.50"); a number with an exponent is counted once written out.
func scaleOf(s string) int {
	if strings.ContainsAny(s, "eE") {
		r, err := parseDec(s)
		if err != nil {
			return 0
		}
		return bill.RatDecimals(r.Denom())
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// plainNumber is a JSON number's text as FOCUS's NumericFormat wants it: as the API wrote
// it, unless it has an exponent, which is written out (FOCUS forbids "E+7"; the value is
// the same, every digit kept).
func plainNumber(s string) (string, error) {
	if !strings.ContainsAny(s, "eE") {
		if _, err := parseDec(s); err != nil {
			return "", err
		}
		return s, nil
	}
	r, err := parseDec(s)
	if err != nil {
		return "", err
	}
	return formatDec(r), nil
}

func add(a, b *big.Rat) *big.Rat { return new(big.Rat).Add(a, b) }
func sub(a, b *big.Rat) *big.Rat { return new(big.Rat).Sub(a, b) }

// roundTo is r rounded half away from zero to scale digits after the point.
func roundTo(r *big.Rat, scale int) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt(p))
	num, den := new(big.Int).Abs(x.Num()), x.Denom()
	q, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(rem, big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if x.Sign() < 0 {
		q.Neg(q)
	}
	return new(big.Rat).SetFrac(q, p)
}
