package bill

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// AccountRow is one line of the daily account bill grouped by product, with the event's
// names, in the event's order (the seed's shape): the API's names, except OwnerID, which
// the event calls OwnerId. Amounts are numbers with the API's digits (Amount), the rest
// strings, empty ones kept.
type AccountRow struct {
	AdjustAmount          Amount `json:"AdjustAmount"`
	BillAccountID         string `json:"BillAccountID"`
	BillAccountName       string `json:"BillAccountName"`
	BillingDate           string `json:"BillingDate"`
	BizType               string `json:"BizType"`
	CashAmount            Amount `json:"CashAmount"`
	CostUnit              string `json:"CostUnit"`
	Currency              string `json:"Currency"`
	DeductedByCashCoupons Amount `json:"DeductedByCashCoupons"`
	DeductedByCoupons     Amount `json:"DeductedByCoupons"`
	DeductedByPrepaidCard Amount `json:"DeductedByPrepaidCard"`
	InvoiceDiscount       Amount `json:"InvoiceDiscount"`
	OutstandingAmount     Amount `json:"OutstandingAmount"`
	OwnerID               string `json:"OwnerId"`
	OwnerName             string `json:"OwnerName"`
	PaymentAmount         Amount `json:"PaymentAmount"`
	PipCode               string `json:"PipCode"`
	PretaxAmount          Amount `json:"PretaxAmount"`
	PretaxGrossAmount     Amount `json:"PretaxGrossAmount"`
	ProductCode           string `json:"ProductCode"`
	ProductName           string `json:"ProductName"`
	SubscriptionType      string `json:"SubscriptionType"`
}

// Kind is Account.
func (AccountRow) Kind() Kind { return Account }

// Identity: the API has no row id; with IsGroupByProduct a line is one product and
// billing mode of one owner on one day.
func (r AccountRow) Identity() string {
	return identity(r.BillingDate, r.BillAccountID, r.OwnerID, r.ProductCode, r.PipCode,
		r.SubscriptionType, r.BizType, r.CostUnit, r.ProductName, r.Currency)
}

// SubjectParts: day, owner, product, billing mode.
func (r AccountRow) SubjectParts() []string {
	return []string{r.BillingDate, r.OwnerID, r.ProductCode, r.SubscriptionType}
}

// accountData is the account event's data: VanceSource, VanceType, then the row.
type accountData struct {
	VanceSource string `json:"VanceSource"`
	VanceType   string `json:"VanceType"`
	AccountRow
}

// AppendData appends the seed's data object.
func (r AccountRow) AppendData(b []byte) ([]byte, error) {
	d, err := json.Marshal(accountData{VanceSource: Source, VanceType: Account.EventType(), AccountRow: r})
	return append(b, d...), err
}

// Date is the billing day the row says it is of.
func (r AccountRow) Date() string { return r.BillingDate }

// accountMembers are the names ParseAccount reads, as the API writes them.
var accountMembers = [...]string{"AdjustAmount", "BillAccountID", "BillAccountName", "BillingDate", "BizType",
	"CashAmount", "CostUnit", "Currency", "DeductedByCashCoupons", "DeductedByCoupons", "DeductedByPrepaidCard",
	"InvoiceDiscount", "OutstandingAmount", "OwnerID", "OwnerName", "PaymentAmount", "PipCode", "PretaxAmount",
	"PretaxGrossAmount", "ProductCode", "ProductName", "SubscriptionType"}

// ParseAccount reads one item of a QueryAccountBill answer (a JSON object) by the API's
// member names, matched exactly as the SDK does (see Members for what is refused). Every
// amount must be there (null is 0): an item without one is not the API's, and a missing
// amount must not become 0. Amounts are read with ParseAmount (their value kept exactly,
// anything that is not a number refused); text members may be strings or numbers (their
// text kept), null or absent (""); members the row does not have are ignored. An error
// names the member and what its value is.
func ParseAccount(item []byte) (AccountRow, error) {
	if err := checkText(item); err != nil {
		return AccountRow{}, fmt.Errorf("an item %w", err)
	}
	return AccountOfChecked(item)
}

// AccountOfChecked is ParseAccount for an item inside a document Members (or checkText)
// has already checked whole (an element ListOfChecked found): the text is not checked
// again, everything else is.
func AccountOfChecked(item []byte) (AccountRow, error) {
	var vals [len(accountMembers)][]byte
	if err := accountValues(item, &vals); err != nil {
		return AccountRow{}, fmt.Errorf("an item %w", err)
	}
	var texts [len(accountMembers)][]byte
	for k, name := range accountMembers {
		t, err := accountText(name, vals[k], accountAmounts[k])
		if err != nil {
			return AccountRow{}, err
		}
		texts[k] = t
	}
	var strs [len(accountMembers)]string
	oneString(texts[:], strs[:])
	var r AccountRow
	fields := [len(accountMembers)]*string{(*string)(&r.AdjustAmount), &r.BillAccountID, &r.BillAccountName,
		&r.BillingDate, &r.BizType, (*string)(&r.CashAmount), &r.CostUnit, &r.Currency,
		(*string)(&r.DeductedByCashCoupons), (*string)(&r.DeductedByCoupons), (*string)(&r.DeductedByPrepaidCard),
		(*string)(&r.InvoiceDiscount), (*string)(&r.OutstandingAmount), &r.OwnerID, &r.OwnerName,
		(*string)(&r.PaymentAmount), &r.PipCode, (*string)(&r.PretaxAmount), (*string)(&r.PretaxGrossAmount),
		&r.ProductCode, &r.ProductName, &r.SubscriptionType}
	for k, t := range strs {
		*fields[k] = t
		if accountAmounts[k] {
			*fields[k] = canonical(t) // as ParseAmount
		}
	}
	return r, nil
}

// accountAmounts says which of accountMembers are amounts.
var accountAmounts = func() (a [len(accountMembers)]bool) {
	for k, name := range accountMembers {
		a[k] = numeric[name]
	}
	return a
}()

// accountText is the text of the member name of an account item, of value raw (nil when
// the item has none), an amount or not: a slice of raw, or a copy when it escapes.
func accountText(name string, raw []byte, amount bool) ([]byte, error) {
	switch {
	case amount && raw == nil:
		return nil, fmt.Errorf("an item has no member %s", name)
	case amount:
		n, err := numberBytes(raw)
		if err != nil {
			return nil, fmt.Errorf("member %s %w", name, err)
		}
		return n, nil
	case len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0:
		return raw[1 : len(raw)-1], nil
	}
	t, err := textMember(name, raw)
	return []byte(t), err
}

// accountValues reads the values of an account item's members into vals, in
// accountMembers' order (nil for a member it has not), as MembersOfChecked reads them.
func accountValues(item []byte, vals *[len(accountMembers)][]byte) error {
	err := membersInto(item, accountMembers[:], vals[:])
	if !errors.Is(err, errManyMembers) {
		return err
	}
	m, err := MembersOfChecked(item, accountMembers[:]...) // not the API's, but read as ever
	if err != nil {
		return err
	}
	for k, name := range accountMembers {
		vals[k] = m[name]
	}
	return nil
}

// textMember is a text member's value: a string's content, a number's digits, "" for null
// or nothing; a boolean, an object or an array is an error.
func textMember(name string, raw []byte) (string, error) {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '"':
		return unquote(raw), nil
	case raw[0] == '-' || isDigit(raw[0]):
		return string(raw), nil
	}
	return "", fmt.Errorf("member %s is %s, not text", name, quoteValue(raw))
}
