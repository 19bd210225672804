package bill

import (
	"math/big"
	"strings"
	"testing"
)

func TestRatText_ExactDigitsWithoutTrailingZeros(t *testing.T) {
	for in, want := range map[string]string{
		"12.3400": "12.34", "-0.000": "0", "100": "100", "1/8": "0.125", "-7/4": "-1.75",
		"1e-30": "0." + strings.Repeat("0", 29) + "1",
		"1/3":   "0." + strings.Repeat("3", MaxRatDecimals), // no finite decimal: bounded
	} {
		r, ok := new(big.Rat).SetString(in)
		if !ok {
			t.Fatalf("%q", in)
		}
		if got := RatText(r); got != want {
			t.Errorf("RatText(%s) = %s, want %s", in, got, want)
		}
	}
}
