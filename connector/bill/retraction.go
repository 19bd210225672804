package bill

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Retraction is the row a retraction carries for the row of the bill kind whose identity
// (Row.Identity, perhaps with the "#2" that tells apart two rows of one identity) is
// given: the identity's members, every other text member "" and every amount 0, so that
// a receiver that keeps each subject's highest revision sums the bill as it now stands.
// Its subject is the row's. The state keeps no row's data: the identity is all there is.
// For the instance bill the row has the identity's members, every member the bill types
// as a number (numeric) at 0, and Tags {}. An identity that is not one of the bill's is
// an error.
func Retraction(kind Kind, identity string) (Row, error) {
	base, err := baseIdentity(identity)
	if err != nil {
		return nil, err
	}
	var parts []string
	if err := json.Unmarshal([]byte(base), &parts); err != nil {
		return nil, fmt.Errorf("row identity %.120q is not a JSON array of strings", identity)
	}
	if kind == Focus && len(parts) == 3 && parts[0] == "amortized" {
		return amortizedRetraction(base, parts)
	}
	var r Row
	switch kind {
	case Account:
		r, err = accountRetraction(parts)
	case Instance, Focus:
		r, err = instanceRetraction(parts)
	default:
		err = fmt.Errorf("%q is not a bill", kind)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("row identity %.120q: %w", identity, err)
	case r.Identity() != base:
		return nil, fmt.Errorf("row identity %.120q is not written as the %s bill writes identities", identity, kind.Reads())
	case kind == Focus:
		return FocusRetraction(base, r.SubjectParts()), nil // a FOCUS row is named as its instance row
	}
	return r, nil
}

// amortizedRetraction is the retraction of the FOCUS bill's amortized row of identity
// ["amortized", the purchase row's identity, the day] (focus.Amortized), named as that
// row is: the day, the purchase's owner (SubAccountId) and instance (ResourceId),
// "amortized". Its purchase need not be remembered any more.
func amortizedRetraction(identity string, parts []string) (Row, error) {
	var purchase []string
	bought, err := baseIdentity(parts[1]) // a purchase's identity may have its "#2"
	if err != nil || json.Unmarshal([]byte(bought), &purchase) != nil || len(purchase) != len(instanceIdentity) {
		return nil, fmt.Errorf("row identity %.120q: an amortized row's purchase is not an instance bill row's identity", identity)
	}
	at := map[string]string{}
	for i, name := range instanceIdentity {
		at[name] = purchase[i]
	}
	return FocusRetraction(identity, []string{parts[2], at["OwnerID"], at["InstanceID"], "amortized"}), nil
}

// FocusRetraction is the row a retraction of the FOCUS bill carries for the row of the
// identity whose subject parts were subject (a FOCUS row has its instance row's, an
// amortized row the mapping's): the FOCUS bill's event type, and its cost columns
// (BilledCost, ContractedCost, EffectiveCost, ListCost) at 0. The mapping's other
// columns are not kept by the state, and are not repeated.
func FocusRetraction(identity string, subject []string) Row {
	return focusRetraction{identity: identity, subject: subject}
}

type focusRetraction struct {
	identity string
	subject  []string
}

func (focusRetraction) Kind() Kind               { return Focus }
func (r focusRetraction) Identity() string       { return r.identity }
func (r focusRetraction) SubjectParts() []string { return r.subject }
func (r focusRetraction) AppendData(b []byte) ([]byte, error) {
	src, _ := json.Marshal(Source)
	typ, _ := json.Marshal(Focus.EventType())
	return append(b, `{"VanceSource":`+string(src)+`,"VanceType":`+string(typ)+
		`,"BilledCost":0,"ContractedCost":0,"EffectiveCost":0,"ListCost":0}`...), nil
}

// Date is the day of the subject (its first part).
func (r focusRetraction) Date() string {
	if len(r.subject) == 0 {
		return ""
	}
	return r.subject[0]
}

// baseIdentity is identity without the "#n" (n > 1) that tells two rows of one identity
// apart (see job's identities).
func baseIdentity(identity string) (string, error) {
	end := strings.LastIndexByte(identity, ']')
	if end < 0 {
		return "", fmt.Errorf("row identity %.120q is not a JSON array", identity)
	}
	n := identity[end+1:]
	if n != "" && (len(n) < 2 || n[0] != '#' || strings.Trim(n[1:], "0123456789") != "") {
		return "", fmt.Errorf("row identity %.120q ends with %.40q, not a row's number", identity, n)
	}
	return identity[:end+1], nil
}

func accountRetraction(p []string) (Row, error) {
	if len(p) != 10 {
		return nil, fmt.Errorf("has %d members, an account bill row's identity 10", len(p))
	}
	return AccountRow{BillingDate: p[0], BillAccountID: p[1], OwnerID: p[2], ProductCode: p[3], PipCode: p[4],
		SubscriptionType: p[5], BizType: p[6], CostUnit: p[7], ProductName: p[8], Currency: p[9]}, nil
}

// numericNames are the instance bill's number members, sorted: a retraction's order.
var numericNames = func() []string {
	out := make([]string, 0, len(numeric))
	for n := range numeric {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}()

// InstanceForFocus is the instance row that a retraction of the FOCUS bill's row of this
// identity (its instance row's, perhaps with a "#n") is mapped from: the instance bill's
// retraction (Retraction) with the row's Currency and a Usage of 0, so that the FOCUS
// mapping makes of it a row with every column a FOCUS row has (FOCUS requires a
// BillingCurrency, which an identity does not hold) and every cost and quantity 0. An
// identity that is not the instance bill's, or an amortized row's, is an error.
func InstanceForFocus(identity, currency string) (InstanceRow, error) {
	base, err := baseIdentity(identity)
	if err != nil {
		return InstanceRow{}, err
	}
	var parts []string
	if err := json.Unmarshal([]byte(base), &parts); err != nil {
		return InstanceRow{}, fmt.Errorf("row identity %.120q is not a JSON array of strings", identity)
	}
	cur, _ := json.Marshal(currency)
	r, err := instanceRetraction(parts, `,"Currency":`+string(cur)+`,"Usage":"0"`)
	switch {
	case err != nil:
		return InstanceRow{}, fmt.Errorf("row identity %.120q: %w", identity, err)
	case r.Identity() != base:
		return InstanceRow{}, fmt.Errorf("row identity %.120q is not written as the instance bill writes identities", identity)
	}
	return r.(InstanceRow), nil
}

// instanceRetraction is the retraction of the instance bill's row of identity members p;
// more (members, each after a comma) goes after the identity's.
func instanceRetraction(p []string, more ...string) (Row, error) {
	if len(p) != len(instanceIdentity) {
		return nil, fmt.Errorf("has %d members, an instance bill row's identity %d", len(p), len(instanceIdentity))
	}
	data := append([]byte(nil), instancePrefix...)
	var strs idStrings // instanceIdentity's order, no Tag
	for i, name := range instanceIdentity {
		v, _ := json.Marshal(p[i])
		data = append(append(data, `,"`+name+`":`...), v...)
		strs[i] = p[i]
	}
	for _, m := range more {
		data = append(data, m...)
	}
	for _, name := range numericNames {
		data = append(data, `,"`+name+`":0`...)
	}
	r, err := instanceRow(data, &strs)
	if err != nil {
		return nil, err
	}
	return r, nil
}
