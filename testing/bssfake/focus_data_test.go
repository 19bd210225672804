package bssfake_test

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/focus"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

func focusMonth(t *testing.T) []bssfake.FocusDay {
	t.Helper()
	days, err := bssfake.FocusMonth("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 30 || days[0].Date != "2026-11-01" || days[29].Date != "2026-11-30" {
		t.Fatalf("November has %d days, from %s", len(days), days[0].Date)
	}
	return days
}

func parse(t *testing.T, it bssfake.InstanceItem) bill.InstanceRow {
	t.Helper()
	r, err := it.Row()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dec(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a decimal: %q", s)
	}
	return r
}

// A day's FOCUS rows bill what the instance bill says is payable: BilledCost sums to
// PretaxAmount, as the API wrote it, every day.
func TestFocusMonth_BilledCostSumsToPretaxAmountEachDay(t *testing.T) {
	for _, d := range focusMonth(t) {
		billed, pretax := new(big.Rat), new(big.Rat)
		for _, it := range d.Items {
			r := parse(t, it)
			row, _, err := focus.Map(r)
			if err != nil {
				t.Fatalf("%s: %v", d.Date, err)
			}
			billed.Add(billed, dec(t, row.BilledCost().String()))
			data, _ := r.AppendData(nil)
			var amounts struct{ PretaxAmount json.Number }
			if err := json.Unmarshal(data, &amounts); err != nil {
				t.Fatal(err)
			}
			pretax.Add(pretax, dec(t, amounts.PretaxAmount.String()))
		}
		if billed.Cmp(pretax) != 0 {
			t.Errorf("%s: BilledCost sums to %s, PretaxAmount to %s", d.Date, billed.FloatString(4), pretax.FloatString(4))
		}
	}
}

// purchaseOf is the purchase the month's row of instance makes.
func purchaseOf(t *testing.T, days []bssfake.FocusDay, instance string) focus.Purchase {
	t.Helper()
	for _, d := range days {
		for _, it := range d.Items {
			if it.InstanceID != instance {
				continue
			}
			if _, p, err := focus.Map(parse(t, it)); err != nil {
				t.Fatal(err)
			} else if p != nil {
				return *p
			}
		}
	}
	t.Fatalf("no purchase of %s", instance)
	return focus.Purchase{}
}

func sumShares(t *testing.T, p focus.Purchase) *big.Rat {
	t.Helper()
	sum := new(big.Rat)
	for d := p.First.AddDays(-3); !p.Last.AddDays(3).Before(d); d = d.AddDays(1) {
		sum.Add(sum, dec(t, p.Share(d).String()))
	}
	return sum
}

// The month bought on the 15th is spread over the days it covers, into the next month,
// and its shares sum to its price to the cent; the one refunded on the 10th is spread up
// to the refund, and its shares sum to its price too.
func TestFocusMonth_SubscriptionSharesSumToItsPrice(t *testing.T) {
	days := focusMonth(t)
	p := purchaseOf(t, days, bssfake.FocusSubscription)
	if p.First.String() != "2026-11-15" || p.Last.String() != "2026-12-14" {
		t.Fatalf("the month bought on the 15th covers %s..%s", p.First, p.Last)
	}
	if got := sumShares(t, p); got.Cmp(dec(t, bssfake.FocusSubscriptionCost)) != 0 || p.Cost.String() != bssfake.FocusSubscriptionCost {
		t.Fatalf("shares of %s sum to %s", p.Cost, got.FloatString(4))
	}
	refunded := purchaseOf(t, days, bssfake.FocusRefunded)
	var refundDay calendar.Day
	for _, d := range days {
		for _, it := range d.Items {
			if res, ok := focus.RefundOf(parse(t, it)); ok && res == refunded.Resource {
				refundDay, _ = calendar.Parse(d.Date)
			}
		}
	}
	ended := refunded.EndOn(refundDay)
	if ended.Last.String() != "2026-11-10" {
		t.Fatalf("the refund on the 10th ends the spread on %s", ended.Last)
	}
	if got := sumShares(t, ended); got.Cmp(dec(t, refunded.Cost.String())) != 0 {
		t.Fatalf("shares of the refunded %s sum to %s", refunded.Cost, got.FloatString(4))
	}
}

// The month holds every kind of line the FOCUS mapping must handle.
func TestFocusMonth_HoldsWhatFOCUSMustHandle(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range focusMonth(t) {
		for _, it := range d.Items {
			seen["item "+it.Item] = true
			seen["subscription "+it.SubscriptionType] = true
			seen["product "+it.ProductCode] = true
			if it.DeductedByResourcePackage != "0" {
				seen["package"] = true
			}
			if it.DeductedByCoupons != 0 {
				seen["coupon"] = true
			}
			for _, c := range []string{" ", ":", "项目", "acs:"} {
				if strings.Contains(it.Tag, c) {
					seen["tag with "+c] = true
				}
			}
		}
	}
	for _, want := range []string{"item PayAsYouGoBill", "item SubscriptionOrder", "item Refund", "item Adjustment",
		"subscription Subscription", "package", "coupon", "tag with  ", "tag with :", "tag with 项目", "tag with acs:",
		"product " + bssfake.FocusUnknownProduct} {
		if !seen[want] {
			t.Errorf("the month has no %s", want)
		}
	}
}

func TestServer_SetFocusMonthServesItsDays(t *testing.T) {
	s := bssfake.New(bssfake.Options{})
	if err := s.SetFocusMonth("2026-11"); err != nil {
		t.Fatal(err)
	}
	days := focusMonth(t)
	for _, d := range []bssfake.FocusDay{days[0], days[14], days[29]} {
		if got := s.InstanceDay(d.Date); !reflect.DeepEqual(got, d.Items) {
			t.Fatalf("%s: served %d rows, want %d", d.Date, len(got), len(d.Items))
		}
	}
	if one, err := bssfake.FocusDayOf("2026-11-15"); err != nil || !reflect.DeepEqual(one, days[14].Items) {
		t.Fatalf("FocusDayOf the 15th: %v", err)
	}
	if _, err := bssfake.FocusDayOf("15.11.2026"); err == nil {
		t.Fatal("a date that is not YYYY-MM-DD is refused")
	}
	if err := s.SetFocusMonth("November"); err == nil {
		t.Fatal("a month that is not YYYY-MM is refused")
	}
}
