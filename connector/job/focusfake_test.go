package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/focus"
)

// WithFakeFocus is a copy of the job with the tests' own FOCUS mapping: the wiring is
// tested apart from package focus's mapping (built beside it). The fake reads an instance
// row's InstanceID (the resource), PretaxAmount (a whole number), Item
// ("SubscriptionOrder" buys ServicePeriod days from the next day, "SubscriptionOrderToday"
// from the row's day; "Refund" refunds the resource) and fails on InstanceID "unmappable".
// Amounts are whole numbers, the share of a day Cost / days of the term bought, the
// remainder on the last (a refund's day, when one ended it). Only a row of another Item
// (usage) takes a share.
func (j *Job) WithFakeFocus() *Job {
	cp := *j
	cp.focus = focusMapping{mapRow: fakeMap, refundOf: fakeRefundOf, share: fakeShare, withShare: fakeWithShare, amortized: fakeAmortized,
		takesShare: fakeTakesShare, endOn: focus.Purchase.EndOn}
	return &cp
}

// FakeFocusRow is the fake mapping's FOCUS row.
type FakeFocusRow struct {
	Ident    string
	Subject  []string
	Instance string `json:"x_InstanceID"`
	Billed   int64  `json:"BilledCost"`
	Effect   int64  `json:"EffectiveCost"`
	Amort    bool   `json:"x_Amortized,omitempty"`
	Item     string `json:"-"` // the instance row's Item: "" for usage
}

func (FakeFocusRow) Kind() bill.Kind          { return bill.Focus }
func (r FakeFocusRow) Identity() string       { return r.Ident }
func (r FakeFocusRow) Date() string           { return r.Subject[0] }
func (r FakeFocusRow) SubjectParts() []string { return r.Subject }
func (r FakeFocusRow) AppendData(b []byte) ([]byte, error) {
	d, err := json.Marshal(r)
	return append(b, d...), err
}

func (r FakeFocusRow) MarshalJSON() ([]byte, error) {
	type plain struct {
		VanceSource, VanceType string
		Instance               string `json:"x_InstanceID"`
		Billed                 int64  `json:"BilledCost"`
		Effect                 int64  `json:"EffectiveCost"`
		Amort                  bool   `json:"x_Amortized,omitempty"`
	}
	return json.Marshal(plain{bill.Source, bill.Focus.EventType(), r.Instance, r.Billed, r.Effect, r.Amort})
}

func fakeFields(r bill.InstanceRow) (map[string]any, error) {
	d, _ := r.AppendData(nil)
	var m map[string]any
	return m, json.Unmarshal(d, &m)
}

func fakeMap(r bill.InstanceRow) (bill.Row, string, *focus.Purchase, error) {
	m, err := fakeFields(r)
	if err != nil {
		return nil, "", nil, err
	}
	res, _ := m["InstanceID"].(string)
	if res == "unmappable" {
		return nil, "", nil, errors.New("the fake mapping refuses it")
	}
	amount, _ := m["PretaxAmount"].(float64)
	row := FakeFocusRow{Ident: r.Identity(), Subject: r.SubjectParts(), Instance: res, Billed: int64(amount), Effect: int64(amount)}
	item, _ := m["Item"].(string)
	row.Item = item
	if item != "SubscriptionOrder" && item != "SubscriptionOrderToday" {
		return row, res, nil, nil
	}
	day, err := calendar.Parse(r.Date())
	if err != nil {
		return nil, "", nil, err
	}
	if item == "SubscriptionOrder" {
		day = day.AddDays(1)
	}
	period, _ := strconv.Atoi(fmt.Sprint(m["ServicePeriod"]))
	row.Effect = 0
	cols, _ := json.Marshal(map[string]any{"x_InstanceID": res, "days": period})
	return row, res, &focus.Purchase{Resource: res, Identity: r.Identity(), Cost: bill.Amount(strconv.FormatInt(int64(amount), 10)),
		First: day, Last: day.AddDays(period - 1), Columns: cols}, nil
}

func fakeRefundOf(r bill.InstanceRow) (string, bool) {
	m, err := fakeFields(r)
	if err != nil || m["Item"] != "Refund" {
		return "", false
	}
	res, _ := m["InstanceID"].(string)
	return res, true
}

func fakeShare(p focus.Purchase, day calendar.Day) bill.Amount {
	if day.Before(p.First) || p.Last.Before(day) {
		return "0"
	}
	var term struct{ Days int64 }
	_ = json.Unmarshal(p.Columns, &term)
	cost, _ := strconv.ParseInt(string(p.Cost), 10, 64)
	share := cost / term.Days
	if day == p.Last {
		before := int64(0)
		for d := p.First; d.Before(day); d = d.AddDays(1) {
			before++
		}
		share = cost - share*before
	}
	return bill.Amount(strconv.FormatInt(share, 10))
}

func fakeWithShare(r bill.Row, a bill.Amount) (bill.Row, error) {
	fr, ok := r.(FakeFocusRow)
	if !ok {
		return nil, errors.New("not a fake FOCUS row")
	}
	n, err := strconv.ParseInt(string(a), 10, 64)
	fr.Effect += n
	return fr, err
}

func fakeAmortized(p focus.Purchase, day calendar.Day) (bill.Row, error) {
	share, err := strconv.ParseInt(string(fakeShare(p, day)), 10, 64)
	id, _ := json.Marshal([]string{"amortized", p.Identity, day.String()})
	var bought []string // the purchase row's identity: [2] is its OwnerID, as focus.Amortized names it
	_ = json.Unmarshal([]byte(p.Identity), &bought)
	owner := ""
	if len(bought) > 2 {
		owner = bought[2]
	}
	return FakeFocusRow{Ident: string(id), Subject: []string{day.String(), owner, p.Resource, "amortized"}, Instance: p.Resource,
		Effect: share, Amort: true}, err
}

func fakeTakesShare(r bill.Row) bool {
	fr, ok := r.(FakeFocusRow)
	return ok && fr.Item == ""
}
