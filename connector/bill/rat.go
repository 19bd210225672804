package bill

import (
	"math/big"
	"strings"
)

// MaxRatDecimals bounds the digits RatText writes after the point: enough for every sum,
// difference and share of amounts within MaxExponent, a bound for a number whose
// denominator is not a product of 2s and 5s (no sum of decimals has one).
const MaxRatDecimals = 60

// RatText is r's exact decimal text, without zeros that end its fraction ("-0" is "0"):
// what sums and shares of amounts are written as (package reconcile, package focus).
func RatText(r *big.Rat) string {
	s := r.FloatString(RatDecimals(r.Denom()))
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// RatDecimals is how many digits after the point write 1/den exactly: the larger power of
// 2 and 5 in den (at most MaxRatDecimals).
func RatDecimals(den *big.Int) int {
	n := new(big.Int).Set(den)
	two, five, m := big.NewInt(2), big.NewInt(5), new(big.Int)
	twos, fives := 0, 0
	for n.Cmp(big.NewInt(1)) > 0 && max(twos, fives) < MaxRatDecimals {
		switch {
		case m.Mod(n, two).Sign() == 0:
			n.Quo(n, two)
			twos++
		case m.Mod(n, five).Sign() == 0:
			n.Quo(n, five)
			fives++
		default:
			return MaxRatDecimals
		}
	}
	return max(twos, fives)
}
