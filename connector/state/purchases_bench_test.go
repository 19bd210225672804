package state

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// BenchmarkPurchasesOver: a day's read loads the purchases over it from a state that
// remembers 100,000 purchases (a year of them, each a month long: about 8,000 cover a
// day) and 10,000 refunds: the daily run's day (the last), and a day re-read half a
// year back (every purchase bought after it is visited too).
func BenchmarkPurchasesOver(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "state.db"), false)
	require.NoError(b, err)
	defer s.Close()
	start := calendar.Day{Year: 2026, Month: 1, Day: 1}
	data := []byte(`{"columns":"` + strings.Repeat("x", 1500) + `"}`) // a purchase's columns: about 1.5 kB
	for batch := 0; batch < 100; batch++ {
		ps := make([]Purchase, 0, 1000)
		var rs []Refund
		for i := 0; i < 1000; i++ {
			n := batch*1000 + i
			bought := start.AddDays(n % 365)
			res := fmt.Sprintf("200/i-%d", n)
			ps = append(ps, Purchase{Identity: fmt.Sprintf(`["%s","%d"]`, bought, n), Resource: res,
				First: bought, Last: bought.AddDays(29), Bought: bought, Data: data})
			if n%10 == 0 {
				rs = append(rs, Refund{Resource: res, Day: bought.AddDays(10)})
			}
		}
		require.NoError(b, s.RememberPurchases(ps, rs))
	}
	for _, tc := range []struct {
		name string
		day  calendar.Day
	}{{"the last day", start.AddDays(364)}, {"a day half a year back", start.AddDays(182)}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				got, err := s.PurchasesOver(tc.day)
				if err != nil || len(got) == 0 {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}
