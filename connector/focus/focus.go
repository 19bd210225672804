// Package focus turns rows of the instance bill (DescribeInstanceBill, daily) into FOCUS
// 1.2 rows (the FinOps Open Cost and Usage Specification): one row per instance-bill row,
// keyed by FOCUS column ID, Alibaba's own fields as custom columns prefixed x_, amounts as
// the API wrote them, and a subscription's cost spread over the days it covers
// (EffectiveCost). It is pure: no clock, no I/O; the job feeds it and the state remembers
// purchases.
//
// API contract between the mapping (this package) and the wiring (job, state): the
// signatures below are fixed; their bodies are the mapping's.
package focus

import (
	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// Row is one FOCUS row: a bill.Row of kind bill.Focus.
type Row struct {
	data     []byte   // the event's data: VanceSource, VanceType, then the FOCUS columns
	cols     columns  // the FOCUS columns of data
	identity string   // the instance row's identity (an amortized row's: see Amortized)
	subject  []string // as the instance row's
	resource string   // see Resource
	billed   bill.Amount
	effect   bill.Amount
}

// Kind is bill.Focus.
func (Row) Kind() bill.Kind { return bill.Focus }

// Identity names the row: the instance row's identity, or an amortized row's own.
func (r Row) Identity() string { return r.identity }

// Date is the billing day (YYYY-MM-DD, Alibaba's UTC+8 day) of the row.
func (r Row) Date() string {
	if len(r.subject) == 0 {
		return ""
	}
	return r.subject[0]
}

// SubjectParts are the instance row's.
func (r Row) SubjectParts() []string { return r.subject }

// AppendData appends the event's data object.
func (r Row) AppendData(b []byte) ([]byte, error) { return append(b, r.data...), nil }

// Resource names the resource the row is of (the key a Purchase is remembered under).
func (r Row) Resource() string { return r.resource }

// BilledCost is the row's BilledCost, EffectiveCost its EffectiveCost.
func (r Row) BilledCost() bill.Amount    { return r.billed }
func (r Row) EffectiveCost() bill.Amount { return r.effect }

// Purchase is a subscription bought on one day that covers days after it: its cost is
// spread over the days it covers (Share). It is remembered in the state as JSON.
type Purchase struct {
	Resource string       `json:"resource"` // Row.Resource of the resource it covers
	Identity string       `json:"identity"` // the purchase row's identity
	Cost     bill.Amount  `json:"cost"`     // what is spread
	First    calendar.Day `json:"first"`    // the first day covered
	Last     calendar.Day `json:"last"`     // the last day covered (inclusive)
	// Columns are what an amortized row of the resource repeats (a JSON object of FOCUS
	// columns), chosen by the mapping.
	Columns []byte `json:"columns"`
}

// Map maps one instance-bill row to its FOCUS row, and, when the row buys a subscription
// that covers future days, the purchase (the row's EffectiveCost is then 0).
//
// A row buys such a subscription when its Item is SubscriptionOrder, it names an
// instance, and its ServicePeriod in ServicePeriodUnit (天, 月, 年; 秒 and 小时 in whole
// days) ends after its own day: the purchase covers First = the row's BillingDate to Last
// = the day before the same day of the month (or day) the period ends in. Its Cost is the
// row's BilledCost (PretaxAmount). A period that is no whole number, in no unit known or
// beyond ten years buys nothing to spread: the row's EffectiveCost is then its BilledCost.
// The columns and their sources are in the package's README table (see mapping.go).
func Map(r bill.InstanceRow) (Row, *Purchase, error) { return mapRow(r) }

// RefundOf names the resource whose purchases the row refunds (a row whose Item is
// Refund, of a Subscription): their spread ends on the row's day (Purchase.EndOn), where the rest of their
// cost then falls, so that EffectiveCost still sums to BilledCost.
func RefundOf(r bill.InstanceRow) (resource string, ok bool) {
	it, err := readItem(r)
	if err != nil || it.s("Item") != itemRefund || it.s("SubscriptionType") != typeSubscription {
		return "", false
	}
	resource = resourceOf(it)
	return resource, resource != ""
}

// Share is the purchase's part of day's EffectiveCost: zero outside First..Last; the
// shares of all covered days sum to Cost exactly (the remainder on Last). Each day but
// Last gets Cost divided by the days of the term bought, cut toward zero to the cent (or
// to Cost's own digits when it has more); Last gets the rest, also when EndOn moved it.
func (p Purchase) Share(day calendar.Day) bill.Amount { return share(p, day) }

// WithShare is the row with share added to its EffectiveCost. Only a usage row takes a
// share (TakesShare); for any other it returns ErrNoShare, and the day's share goes on an
// Amortized row instead (a purchase's EffectiveCost stays 0, a refund's and an
// adjustment's is their BilledCost).
func (r Row) WithShare(share bill.Amount) (Row, error) { return withShare(r, share) }

// Amortized is the row of a covered day on which the bill has no row for the purchase's
// resource: ChargeCategory Usage, BilledCost 0, EffectiveCost the day's share,
// x_Amortized true. Its identity is ["amortized", the purchase's identity, the day]:
// stable, and distinct from every instance row's. A day outside First..Last is an error.
func Amortized(p Purchase, day calendar.Day) (Row, error) { return amortized(p, day) }

// Retraction is the FOCUS row that retracts the FOCUS bill's row of this identity (its
// instance row's, perhaps with a "#n"), a row of currency: every column a FOCUS row has,
// from what the identity holds (the day, accounts, product, instance, billing item,
// subscription type, item), with every cost and quantity 0 (zeroed). An identity that is
// not an instance row's, or a currency that is not an ISO 4217 national one, is an error.
func Retraction(identity, currency string) (Row, error) { return retraction(identity, currency) }

// AmortizedIdentity is the identity of the purchase's amortized row of day (Amortized).
func AmortizedIdentity(p Purchase, day calendar.Day) string {
	return identityOf("amortized", p.Identity, day.String())
}

// AmortizedRetraction is the row that retracts the purchase's amortized row of day: the
// row Amortized makes, whether or not the purchase still covers day, zeroed.
func AmortizedRetraction(p Purchase, day calendar.Day) (Row, error) {
	return amortizedRetraction(p, day)
}

// Currency is the row's BillingCurrency.
func (r Row) Currency() string { return r.cols.text("BillingCurrency") }
