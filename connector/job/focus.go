package job

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/focus"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// The FOCUS bill's day (bill.Focus): each row of the instance bill's read mapped to its
// FOCUS row (focus.Map), and a subscription's cost spread over the days it covers.
//
// Amortization. A purchase (a row that buys a subscription covering days after it) is
// remembered in the state with the day it was bought; a refund of a resource too (it ends
// the spread of the resource's purchases from its day). At the start of each read of day
// D, the purchases that cover D are loaded: bought before D, D within First..Last, no
// refund of the resource from the day it was bought to D. The day's share of each
// (Purchase.Share) goes on one row of the resource, chosen the same on every read and
// run whatever the order of the API's pages: the first in identity order of the
// resource's rows that are not purchases. The day is streamed, so a row that may be that
// one is held back: of each covered resource, only the least identity seen so far (one
// row per covered resource: memory is bounded by the purchases that cover the day); a row
// with a greater identity goes as it is, and a held row that a lesser one replaces too.
// When the read is complete, each held row goes with its resource's shares
// (Row.WithShare, one per purchase in identity order), and for a covered resource with no
// row that day one amortized row per purchase (focus.Amortized). A purchase bought on D
// that covers D has its share of D as an amortized row (its purchase row's EffectiveCost
// stays 0, as FOCUS has it). Only a row that takes a share (a usage row: focus
// Row.TakesShare) is held; a purchase, refund or adjustment goes as it is. A refund of the
// resource on D ends the spread on D (focus Purchase.EndOn): D's share is the rest of the
// cost, so that a purchase's EffectiveCost over its days plus its refund's is what was
// billed; later days have none. The state remembers the refund, so a re-run of D ends it
// on D too. A purchase or refund that a read of its day no longer has is forgotten when
// that read's gone rows are retracted (forgetGone). Re-reads and re-runs of a day
// therefore give the same rows, hence the same ids.

// focusMapping is the FOCUS mapping the job uses: package focus's (focusRows); a test may
// give another.
type focusMapping struct {
	mapRow    func(bill.InstanceRow) (row bill.Row, resource string, p *focus.Purchase, err error)
	refundOf  func(bill.InstanceRow) (resource string, ok bool)
	share     func(focus.Purchase, calendar.Day) bill.Amount
	withShare func(bill.Row, bill.Amount) (bill.Row, error)
	amortized func(focus.Purchase, calendar.Day) (bill.Row, error)
	// takesShare: the row may carry a purchase's share of the day (a usage row).
	takesShare func(bill.Row) bool
	// endOn is the purchase with its spread ended on a refund's day.
	endOn func(focus.Purchase, calendar.Day) focus.Purchase
	// Retractions (see focusDay.tombstone); nil: a retraction carries the costs at 0 only
	// (bill.Retraction). currency is a mapped row's BillingCurrency; retraction the row
	// that retracts the row of an identity, in a currency; amortizedRetraction the one
	// that retracts a purchase's amortized row of a day.
	currency            func(bill.Row) string
	retraction          func(identity, currency string) (bill.Row, error)
	amortizedRetraction func(focus.Purchase, calendar.Day) (bill.Row, error)
}

// focusRows is package focus's mapping.
var focusRows = focusMapping{
	mapRow: func(r bill.InstanceRow) (bill.Row, string, *focus.Purchase, error) {
		fr, p, err := focus.Map(r)
		return fr, fr.Resource(), p, err
	},
	refundOf: focus.RefundOf,
	share:    func(p focus.Purchase, d calendar.Day) bill.Amount { return p.Share(d) },
	withShare: func(r bill.Row, a bill.Amount) (bill.Row, error) {
		fr, ok := r.(focus.Row)
		if !ok {
			return nil, fmt.Errorf("a %s row is not a FOCUS row", r.Kind())
		}
		return fr.WithShare(a)
	},
	amortized: func(p focus.Purchase, d calendar.Day) (bill.Row, error) { return focus.Amortized(p, d) },
	takesShare: func(r bill.Row) bool {
		fr, ok := r.(focus.Row)
		return ok && fr.TakesShare()
	},
	endOn: func(p focus.Purchase, d calendar.Day) focus.Purchase { return p.EndOn(d) },
	currency: func(r bill.Row) string {
		fr, _ := r.(focus.Row)
		return fr.Currency()
	},
	retraction: func(identity, currency string) (bill.Row, error) { return focus.Retraction(identity, currency) },
	amortizedRetraction: func(p focus.Purchase, d calendar.Day) (bill.Row, error) {
		return focus.AmortizedRetraction(p, d)
	},
}

// Purchases remembers the FOCUS bill's purchases and refunds (state.Store). A State
// without it spreads no purchase: each FOCUS row is as the mapping made it.
type Purchases interface {
	PurchasesOver(day calendar.Day) ([]state.Purchase, error)
	RememberPurchases(purchases []state.Purchase, refunds []state.Refund) error
	KeepPurchasesOf(day calendar.Day, purchases, refunds map[string]bool) error
}

// focusDay is what the FOCUS bill's day keeps over one read (see the comment above).
type focusDay struct {
	b     *billDay
	m     focusMapping
	store Purchases // nil: none

	covered  map[string][]focus.Purchase // resource -> the purchases that cover the day, by identity
	held     map[string]heldRow          // resource -> the row that may carry the day's shares
	heldIDs  map[string]bool
	bought   []focus.Purchase // bought this day
	refunded map[string]bool  // resources refunded this day
	// currency is the BillingCurrency of every row of the read so far ("" for none yet);
	// mixed: two rows of the read had two.
	currency string
	mixed    bool
	// amortizedBy: the purchase whose amortized row of the day each identity is, for every
	// purchase the state has over the day (a retraction of such a row is made from it).
	amortizedBy map[string]focus.Purchase
}

type heldRow struct {
	row bill.Row
	id  string
}

// newFocusDay is the FOCUS part of the bill's day b.
func (j *Job) newFocusDay(b *billDay) *focusDay {
	store, _ := j.state.(Purchases)
	return &focusDay{b: b, m: j.focus, store: store}
}

// start readies a read from the bill's start: the purchases that cover the day, and the
// retractions of the amortized rows any purchase over the day may have made.
func (f *focusDay) start() error {
	f.covered, f.held, f.heldIDs = map[string][]focus.Purchase{}, map[string]heldRow{}, map[string]bool{}
	f.bought, f.refunded = nil, map[string]bool{}
	f.currency, f.mixed, f.amortizedBy = "", false, map[string]focus.Purchase{}
	f.b.tombstones = map[string]bill.Row{}
	if f.store == nil {
		return nil
	}
	recs, err := f.store.PurchasesOver(f.b.day)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		var p focus.Purchase
		if err := json.Unmarshal(rec.Data, &p); err != nil {
			return fmt.Errorf("the purchase %.120q in the state does not decode: %w", rec.Identity, err)
		}
		f.amortizedBy[focus.AmortizedIdentity(p, f.b.day)] = p
		if rec.Covers(f.b.day) {
			if rec.Refunded {
				p = f.m.endOn(p, rec.Ended)
			}
			f.covered[p.Resource] = append(f.covered[p.Resource], p)
		}
	}
	return nil
}

// page maps a page of the instance bill to the FOCUS rows that go now, with their
// identities; rows held back go at the read's end (flush).
func (f *focusDay) page(p bill.Page) ([]bill.Row, []string, error) {
	rows := make([]bill.Row, len(p.Rows))
	resources := make([]string, len(p.Rows))
	buys := make([]bool, len(p.Rows))
	var purchases []state.Purchase
	var refunds []state.Refund
	ids := identities(p.Rows) // a FOCUS row's identity is its instance row's
	for i, r := range p.Rows {
		ir, ok := r.(bill.InstanceRow)
		if !ok {
			return nil, nil, fmt.Errorf("a row of the %s bill is not an instance bill row", r.Kind())
		}
		fr, resource, bought, err := f.m.mapRow(ir)
		if err != nil {
			return nil, nil, err
		}
		rows[i], resources[i] = fr, resource
		f.sawCurrency(fr)
		if bought != nil {
			bought.Identity = ids[i] // two purchases of one identity ("#2") are two
			rec, err := f.purchase(*bought)
			if err != nil {
				return nil, nil, err
			}
			purchases, buys[i] = append(purchases, rec), true
		}
		if res, ok := f.m.refundOf(ir); ok {
			refunds = append(refunds, state.Refund{Resource: res, Day: f.b.day})
			f.refunded[res] = true
			for i, c := range f.covered[res] {
				f.covered[res][i] = f.m.endOn(c, f.b.day)
			}
		}
	}
	if f.store != nil && !f.b.dry {
		if err := f.store.RememberPurchases(purchases, refunds); err != nil {
			return nil, nil, fmt.Errorf("remember purchases: %w", err)
		}
	}
	return f.holdBack(p.Number, rows, ids, resources, buys)
}

// purchase is what the state remembers of a purchase bought this day.
func (f *focusDay) purchase(p focus.Purchase) (state.Purchase, error) {
	if p.Identity == "" || p.Resource == "" || p.Last.Before(p.First) {
		return state.Purchase{}, fmt.Errorf("a purchase of %.120q names no row or resource, or ends before it starts", p.Identity)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return state.Purchase{}, err
	}
	f.bought = append(f.bought, p)
	return state.Purchase{Identity: p.Identity, Resource: p.Resource, First: p.First, Last: p.Last, Bought: f.b.day, Data: data}, nil
}

// holdBack returns the rows that go now: all but the least identity of each covered
// resource seen so far, purchases never held. A row whose identity is held already is the
// bill moving under the read (as classify finds of the rows planned).
func (f *focusDay) holdBack(page int, rows []bill.Row, ids, resources []string, buys []bool) ([]bill.Row, []string, error) {
	out, outIDs := make([]bill.Row, 0, len(rows)), make([]string, 0, len(rows))
	for i, row := range rows {
		if f.heldIDs[ids[i]] {
			return nil, nil, &bill.MovedError{Page: page,
				What: fmt.Sprintf("a row came again on a later page: row %.120s came again on page %d", ids[i], page)}
		}
		res := resources[i]
		h, holding := f.held[res]
		if buys[i] || !f.m.takesShare(row) || len(f.covered[res]) == 0 || holding && h.id < ids[i] {
			out, outIDs = append(out, row), append(outIDs, ids[i])
			continue
		}
		if holding {
			out, outIDs = append(out, h.row), append(outIDs, h.id)
			delete(f.heldIDs, h.id)
		}
		f.held[res], f.heldIDs[ids[i]] = heldRow{row: row, id: ids[i]}, true
	}
	return out, outIDs, nil
}

// flush returns the rows a complete read leaves to its end: the held rows with their
// shares, and the amortized rows.
func (f *focusDay) flush() ([]bill.Row, []string, error) {
	var rows []bill.Row
	var ids []string
	add := func(r bill.Row, id string) { rows, ids = append(rows, r), append(ids, id) }
	for _, res := range slices.Sorted(maps.Keys(f.covered)) {
		h, holding := f.held[res]
		switch {
		case holding:
			row, err := f.shared(h.row, f.covered[res])
			if err != nil {
				return nil, nil, err
			}
			add(row, h.id)
		default:
			if err := f.amortize(f.covered[res], add); err != nil {
				return nil, nil, err
			}
		}
	}
	bought := slices.SortedFunc(slices.Values(f.bought), func(a, b focus.Purchase) int { return strings.Compare(a.Identity, b.Identity) })
	for i, p := range bought {
		if f.refunded[p.Resource] {
			bought[i] = f.m.endOn(p, f.b.day)
		}
	}
	if err := f.amortize(bought, add); err != nil {
		return nil, nil, err
	}
	f.held, f.heldIDs = map[string]heldRow{}, map[string]bool{}
	return rows, ids, nil
}

// forgetGone forgets the purchases and refunds of the day that the complete read no longer
// has (state.Store.KeepPurchasesOf). It runs when the rows the read no longer has are
// retracted: a read that may be partial (retract_max_fraction) forgets nothing until a
// second read agrees.
func (f *focusDay) forgetGone() error {
	if f.store == nil || f.b.dry {
		return nil
	}
	bought := make(map[string]bool, len(f.bought))
	for _, p := range f.bought {
		bought[p.Identity] = true
	}
	if err := f.store.KeepPurchasesOf(f.b.day, bought, f.refunded); err != nil {
		return fmt.Errorf("forget the purchases the bill no longer has: %w", err)
	}
	return nil
}

// shared is row with the day's share of each purchase added.
func (f *focusDay) shared(row bill.Row, ps []focus.Purchase) (bill.Row, error) {
	for _, p := range ps {
		share := f.m.share(p, f.b.day)
		if zeroAmount(share) {
			continue
		}
		var err error
		if row, err = f.m.withShare(row, share); err != nil {
			return nil, fmt.Errorf("add the share of the purchase %.120q: %w", p.Identity, err)
		}
	}
	return row, nil
}

// amortize adds the amortized row of the day of each purchase whose share is not zero.
func (f *focusDay) amortize(ps []focus.Purchase, add func(bill.Row, string)) error {
	for _, p := range ps {
		if zeroAmount(f.m.share(p, f.b.day)) {
			continue
		}
		a, err := f.m.amortized(p, f.b.day)
		if err != nil {
			return fmt.Errorf("amortize the purchase %.120q: %w", p.Identity, err)
		}
		f.amortizedBy[a.Identity()] = p
		add(a, a.Identity())
	}
	return nil
}

// Retractions of the FOCUS bill. A retraction carries a whole FOCUS row (every column
// FOCUS requires) with its costs and quantities at 0, so that what a receiver keeps of
// the subject is still a conformant row. The state keeps no row's data, so the row is
// made again when it is retracted: an amortized row's from its purchase, which the state
// keeps; another's from its identity (the day, accounts, product, instance, billing item,
// subscription type, item) and the currency of the read's rows, which FOCUS requires and
// an identity does not hold. When the read had no row, or rows of two currencies, or the
// purchase is forgotten, the retraction carries the costs at 0 only (bill.Retraction).

// sawCurrency notes the currency of a row of the read.
func (f *focusDay) sawCurrency(r bill.Row) {
	if f.m.currency == nil {
		return
	}
	switch c := f.m.currency(r); {
	case c == "" || c == f.currency:
	case f.currency == "":
		f.currency = c
	default:
		f.mixed = true
	}
}

// tombstone keeps, for classifier.retraction, the retraction of the row of identity, gone
// from the read, when it can be made whole (see above); without one, retraction falls
// back to bill.Retraction.
func (f *focusDay) tombstone(identity string) {
	t, err := f.whole(identity)
	if err == nil && t != nil {
		f.b.tombstones[identity] = t
	}
}

// whole is the whole retraction of the row of identity; nil when it cannot be made.
func (f *focusDay) whole(identity string) (bill.Row, error) {
	if p, ok := f.amortizedBy[identity]; ok {
		if f.m.amortizedRetraction != nil {
			return f.m.amortizedRetraction(p, f.b.day)
		}
		a, err := f.m.amortized(p, f.b.day) // a mapping without whole retractions: named as the row is
		if err != nil {
			return nil, err
		}
		return bill.FocusRetraction(a.Identity(), a.SubjectParts()), nil
	}
	if f.m.retraction == nil || f.currency == "" || f.mixed {
		return nil, nil
	}
	return f.m.retraction(identity, f.currency)
}

// zeroAmount: a is 0 (or empty): no digit other than 0.
func zeroAmount(a bill.Amount) bool { return strings.IndexAny(string(a), "123456789") < 0 }
