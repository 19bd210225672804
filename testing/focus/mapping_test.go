package focus

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	cfocus "github.com/cloudbill/alicloud-billing-source/connector/focus"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// amortize runs the FOCUS bill over days as the connector does: each row mapped, the
// purchases remembered, a refund ending its resource's spread, each covered day's share
// on a usage row of the resource or on an amortized row. It returns every row.
func amortize(t *testing.T, days []bssfake.FocusDay, extra int) []cfocus.Row {
	t.Helper()
	var purchases []cfocus.Purchase
	var out []cfocus.Row
	first, _ := calendar.Parse(days[0].Date)
	for i := 0; i < len(days)+extra; i++ {
		day := first.AddDays(i)
		var rows []cfocus.Row
		if i < len(days) {
			for _, it := range days[i].Items {
				r := instanceRow(t, it)
				row, p, err := cfocus.Map(r)
				if err != nil {
					t.Fatalf("%s: map: %v", day, err)
				}
				rows = append(rows, row)
				if p != nil {
					purchases = append(purchases, *p)
				}
				if res, ok := cfocus.RefundOf(r); ok {
					for j := range purchases {
						if purchases[j].Resource == res {
							purchases[j] = purchases[j].EndOn(day)
						}
					}
				}
			}
		}
		out = append(out, shareOut(t, day, rows, purchases)...)
	}
	return out
}

// shareOut adds each purchase's share of day to the rows: the first usage row of its
// resource takes it, or an amortized row does.
func shareOut(t *testing.T, day calendar.Day, rows []cfocus.Row, purchases []cfocus.Purchase) []cfocus.Row {
	t.Helper()
	for _, p := range purchases {
		if day.Before(p.First) || p.Last.Before(day) {
			continue
		}
		taken := false
		for k := range rows {
			if rows[k].Resource() == p.Resource && rows[k].TakesShare() {
				var err error
				if rows[k], err = rows[k].WithShare(p.Share(day)); err != nil {
					t.Fatal(err)
				}
				taken = true
				break
			}
		}
		if !taken {
			a, err := cfocus.Amortized(p, day)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, a)
		}
	}
	return rows
}

func instanceRow(t *testing.T, it bssfake.InstanceItem) bill.InstanceRow {
	t.Helper()
	r, err := it.Row()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMapping_EveryRowOfTheFakesMonthConforms(t *testing.T) {
	days, err := bssfake.FocusMonth("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	rows := amortize(t, days, 20) // into December, where the bought month ends
	var data [][]byte
	billed, effective := new(big.Rat), new(big.Rat)
	amortized := 0
	for _, r := range rows {
		d, _ := r.AppendData(nil)
		data = append(data, d)
		billed.Add(billed, rat(t, r.BilledCost()))
		effective.Add(effective, rat(t, r.EffectiveCost()))
		var x struct {
			X bool `json:"x_Amortized"`
		}
		_ = json.Unmarshal(d, &x)
		if x.X {
			amortized++
		}
	}
	s := Alibaba.Summarize(data)
	t.Log(s)
	if !s.OK() {
		t.Fatalf("the mapping's rows do not conform:\n%s", s)
	}
	if amortized == 0 {
		t.Fatal("no amortized row: the month's purchases were not spread")
	}
	if billed.Cmp(effective) != 0 {
		t.Fatalf("over the whole spread, EffectiveCost sums to %s, BilledCost to %s", effective.FloatString(4), billed.FloatString(4))
	}
}

func rat(t *testing.T, a bill.Amount) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(a.String())
	if !ok {
		t.Fatalf("amount %q", a)
	}
	return r
}

func TestMapping_EveryRowOfTheSampleDaysConforms(t *testing.T) {
	var data [][]byte
	for _, day := range []string{"2026-11-03", "2026-02-28"} {
		for _, it := range bssfake.SampleInstanceDay(day, 300, 7) {
			row, _, err := cfocus.Map(instanceRow(t, it))
			if err != nil {
				t.Fatalf("%s: map: %v", day, err)
			}
			d, _ := row.AppendData(nil)
			data = append(data, d)
		}
	}
	if s := Alibaba.Summarize(data); !s.OK() {
		t.Fatalf("the mapping's rows of the sample days do not conform:\n%s", s)
	}
}
