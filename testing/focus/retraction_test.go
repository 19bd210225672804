package focus

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	cfocus "github.com/cloudbill/alicloud-billing-source/connector/focus"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// zeroCosts fails unless every cost and quantity of the row's data is 0 or null.
func zeroCosts(t *testing.T, what string, data []byte) {
	t.Helper()
	var cols map[string]json.RawMessage
	if err := json.Unmarshal(data, &cols); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, c := range []string{"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity", "PricingQuantity"} {
		if v := string(cols[c]); v != "0" && v != "null" {
			t.Errorf("%s: %s is %s, not 0", what, c, v)
		}
	}
}

// The retraction of every row of the fake's month (usage, purchases, refunds,
// adjustments, deductions, an unknown product), and of every amortized row its purchases
// make, is a conformant FOCUS row of the row's identity and subject with every cost and
// quantity 0; a purchase's amortized row is retracted the same on a day it no longer
// covers.
func TestRetraction_EveryRetractionOfTheFakesMonthConforms(t *testing.T) {
	days, err := bssfake.FocusMonth("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	var data [][]byte
	var purchases []cfocus.Purchase
	for _, d := range days {
		for _, it := range d.Items {
			row, p, err := cfocus.Map(instanceRow(t, it))
			if err != nil {
				t.Fatal(err)
			}
			if p != nil {
				purchases = append(purchases, *p)
			}
			for _, suffix := range []string{"", "#2"} {
				r, err := cfocus.Retraction(row.Identity()+suffix, row.Currency())
				if err != nil {
					t.Fatalf("%s%s: %v", row.Identity(), suffix, err)
				}
				if r.Identity() != row.Identity() || !slices.Equal(r.SubjectParts(), row.SubjectParts()) {
					t.Fatalf("the retraction of %s is named %s %v, not %v", row.Identity(), r.Identity(), r.SubjectParts(), row.SubjectParts())
				}
				b, _ := r.AppendData(nil)
				zeroCosts(t, row.Identity(), b)
				data = append(data, b)
			}
		}
	}
	if len(purchases) == 0 {
		t.Fatal("the fake's month bought nothing")
	}
	for _, p := range purchases {
		for day := p.First; !p.Last.AddDays(1).Before(day); day = day.AddDays(1) {
			r, err := cfocus.AmortizedRetraction(p, day)
			if err != nil {
				t.Fatalf("%s on %s: %v", p.Identity, day, err)
			}
			if a, err := cfocus.Amortized(p, day); err == nil && (a.Identity() != r.Identity() || !slices.Equal(a.SubjectParts(), r.SubjectParts())) {
				t.Fatalf("the retraction of %s is named %s %v", a.Identity(), r.Identity(), r.SubjectParts())
			}
			if want, _ := json.Marshal([]string{"amortized", p.Identity, day.String()}); r.Identity() != string(want) {
				t.Fatalf("amortized retraction identity %s, want %s", r.Identity(), want)
			}
			b, _ := r.AppendData(nil)
			zeroCosts(t, r.Identity(), b)
			data = append(data, b)
		}
	}
	s := Alibaba.Summarize(data)
	t.Log(s)
	if !s.OK() {
		t.Fatalf("retractions do not conform:\n%s", s)
	}
}

// A retraction that cannot be made whole is an error, never a row that does not conform.
func TestRetraction_RefusesWhatItCannotMakeWhole(t *testing.T) {
	row, _, err := cfocus.Map(instanceRow(t, bssfake.SampleInstanceDay("2026-11-03", 1, 1)[0]))
	if err != nil {
		t.Fatal(err)
	}
	amortized, _ := json.Marshal([]string{"amortized", row.Identity(), "2026-11-04"})
	for _, tc := range []struct{ identity, currency, want string }{
		{row.Identity(), "", "ISO 4217"},
		{row.Identity(), "XXX", "ISO 4217"},
		{row.Identity(), "cny", "ISO 4217"},
		{string(amortized), "CNY", "members"},
		{`["2026-11-03"]`, "CNY", "members"},
		{"not an identity", "CNY", "not a JSON array"},
		{row.Identity() + "#x", "CNY", "not a row's number"},
	} {
		if _, err := cfocus.Retraction(tc.identity, tc.currency); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Retraction(%.60s, %q) = %v, want an error naming %q", tc.identity, tc.currency, err, tc.want)
		}
	}
	for _, cols := range []string{"{", `{"a":1`, `{"a":1}{}`, "[]", ""} {
		if _, err := cfocus.AmortizedRetraction(cfocus.Purchase{Columns: []byte(cols)}, calendar.Day{}); err == nil {
			t.Errorf("a purchase whose columns are %q: no error", cols)
		}
	}
}

// A row with an instance and no ProductCode (the instance bill allows it) maps to a
// conformant row, its ResourceType and SkuId from its ProductName and CommodityCode; its
// identity holds neither, so its retraction cannot be made whole: an error (the job then
// retracts with the costs at 0 only), never a row whose ResourceId has no ResourceType.
func TestRetraction_OfARowWithoutAProductCodeIsNotMadeWhole(t *testing.T) {
	it := bssfake.SampleInstanceDay("2026-11-03", 1, 1)[0]
	it.ProductCode = ""
	if it.InstanceID == "" || it.ProductName == "" {
		t.Fatalf("the sample has no instance or product name: %+v", it)
	}
	row, _, err := cfocus.Map(instanceRow(t, it))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := row.AppendData(nil)
	if vs := Alibaba.Check(b); len(vs) != 0 {
		t.Fatalf("the row does not conform: %v", vs)
	}
	r, err := cfocus.Retraction(row.Identity(), row.Currency())
	if err == nil {
		b, _ := r.AppendData(nil)
		t.Fatalf("a retraction made, violations %v:\n%s", Alibaba.Check(b), b)
	}
	if !strings.Contains(err.Error(), "ProductCode") {
		t.Errorf("the error %q does not name the ProductCode", err)
	}
}
