package bill

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Bounds of one instance-bill item, checked before it becomes a row: an answer past them
// is not the API's (its items have about fifty short members).
const (
	MaxInstanceFields = 256      // members of one item
	MaxFieldName      = 128      // bytes of a member's name
	MaxValueBytes     = 64 << 10 // bytes of a member's JSON value
	MaxTags           = 256      // key:value pairs in Tag
)

// The members of an instance-bill item that hold numbers (the SDK's float64 members):
// each must be a number (see ParseAmount), and a number written as a string is sent as
// that number. null and "" are kept as sent.
var numeric = map[string]bool{"Tax": true, "CoveragePercentage": true, "InvoiceDiscount": true,
	"PretaxGrossAmount": true, "PaymentAmount": true, "CashAmount": true, "UsagePercentage": true,
	"Percentage": true, "AdjustAmount": true, "DeductQuantity": true, "TotalQuantity": true,
	"PretaxAmountLocal": true, "OutstandingAmount": true, "AfterTaxAmount": true,
	"DeductedByCashCoupons": true, "DeductedByPrepaidCard": true, "DeductedByCoupons": true, "PretaxAmount": true}

// Members named in an instance event's data by the connector, never by the API.
var reserved = map[string]bool{"VanceSource": true, "VanceType": true, "Tags": true}

// The members an instance row's identity and subject are made of.
var instanceIdentity = []string{"BillingDate", "BillAccountID", "OwnerID", "ProductCode", "InstanceID",
	"BillingItemCode", "BillingItem", "SubscriptionType", "Item"}

// InstanceRow is one billing item of one instance on one day, as DescribeInstanceBill
// returns it. Its event data holds every member of the API's item, in the API's order and
// with its JSON value as sent (amounts are numbers, the rest strings, empty values kept;
// a number written as a string is sent as that number, and a value of a number's member
// that is not a number is an error),
// then Tags: the item's Tag ("key1:value1;key2:value2") parsed into an object.
//
// Its identity is the billing date, the bill account, the owner, the product, the
// instance, the billing item (code and name), the subscription type and the kind of line
// (Item: a pay-as-you-go bill, an order, a refund, an adjustment). An item must have a
// BillingDate and an InstanceID or a ProductCode, and be valid UTF-8.
type InstanceRow struct {
	data     []byte // the event's data, built once
	identity string
	subject  []string
}

// Kind is Instance.
func (InstanceRow) Kind() Kind { return Instance }

// Identity: see InstanceRow.
func (r InstanceRow) Identity() string { return r.identity }

// SubjectParts: day, owner, instance (or product when the item names none), billing item.
func (r InstanceRow) SubjectParts() []string { return r.subject }

// Date is the billing day the row says it is of (its BillingDate).
func (r InstanceRow) Date() string {
	if len(r.subject) == 0 {
		return ""
	}
	return r.subject[0]
}

// AppendData appends the event's data object.
func (r InstanceRow) AppendData(b []byte) ([]byte, error) { return append(b, r.data...), nil }

// ParseInstance reads one item of a DescribeInstanceBill answer (a JSON object). An item
// that is not an object of at most MaxInstanceFields distinct members, each within the
// bounds above and none named like a member the connector adds, is an error that names
// the member.
func ParseInstance(item []byte) (InstanceRow, error) {
	// Checked whole first: the scan below then only has to find where things end. Text
	// that encoding/json would read with U+FFFD (invalid UTF-8, a lone surrogate) would
	// make two items one identity.
	if err := checkText(item); err != nil {
		return InstanceRow{}, fmt.Errorf("an item %w", err)
	}
	return InstanceOfChecked(item)
}

// InstanceOfChecked is ParseInstance for an item inside a document Members (or checkText)
// has already checked whole (an element ListOfChecked found): the text is not checked
// again, everything else is.
func InstanceOfChecked(item []byte) (InstanceRow, error) {
	i := skipSpace(item, 0)
	if i >= len(item) || item[i] != '{' {
		return InstanceRow{}, errors.New("an item is not a JSON object")
	}
	data := make([]byte, 0, len(item)+128)
	data = append(data, instancePrefix...)
	var vals idValues
	data, err := appendMembers(data, item, i+1, &vals)
	if err != nil {
		return InstanceRow{}, err
	}
	strs := vals.text()
	return instanceRow(data, &strs)
}

// idStrings are the values of an item's identity members (instanceIdentity's order), then
// its Tag, as text (scalar).
type idStrings [idTag + 1]string

// The indexes of idStrings: those of instanceIdentity, then Tag.
const (
	idBillingDate = iota
	idBillAccountID
	idOwnerID
	idProductCode
	idInstanceID
	idBillingItemCode
	idBillingItem
	idSubscriptionType
	idItem
	idTag
)

// idIndex is name's index in idStrings, -1 when it is not one of them.
func idIndex(name []byte) int {
	switch string(name) {
	case "BillingDate":
		return idBillingDate
	case "BillAccountID":
		return idBillAccountID
	case "OwnerID":
		return idOwnerID
	case "ProductCode":
		return idProductCode
	case "InstanceID":
		return idInstanceID
	case "BillingItemCode":
		return idBillingItemCode
	case "BillingItem":
		return idBillingItem
	case "SubscriptionType":
		return idSubscriptionType
	case "Item":
		return idItem
	case "Tag":
		return idTag
	}
	return -1
}

// idValues are the JSON values of an item's identity members and Tag, in idStrings'
// order, nil for a member the item has not.
type idValues [idTag + 1][]byte

// text is the values as text (scalar), in one allocation: a string per member, and per
// row, would be ten.
func (vals *idValues) text() (strs idStrings) {
	var texts [len(vals)][]byte
	for k, v := range vals {
		switch {
		case len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0:
			texts[k] = v[1 : len(v)-1]
		case string(v) != "null":
			texts[k] = []byte(scalar(v))
		}
	}
	oneString(texts[:], strs[:])
	return strs
}

// oneString sets strs[k] to texts[k], all of them slices of one string: a string per
// text, and per row, would be as many allocations.
func oneString(texts [][]byte, strs []string) {
	n := 0
	for _, t := range texts {
		n += len(t)
	}
	var b strings.Builder
	b.Grow(n)
	for _, t := range texts {
		b.Write(t)
	}
	all := b.String()
	for k, t := range texts {
		strs[k], all = all[:len(t)], all[len(t):]
	}
}

// appendMembers appends to data the members of the object item, from i (after its '{'),
// each checked (checkMember), and fills vals.
func appendMembers(data, item []byte, i int, vals *idValues) ([]byte, error) {
	var seen nameSet
	for {
		i = skipSpace(item, i)
		if i < len(item) && item[i] == ',' {
			i = skipSpace(item, i+1)
		}
		if i >= len(item) || item[i] == '}' {
			return data, nil
		}
		keyEnd := endOfString(item, i)
		rawKey := item[i:keyEnd]
		name := nameOf(rawKey)
		i = skipSpace(item, skipSpace(item, keyEnd)+1) // past the colon
		valueEnd := endOfValue(item, i)
		v, err := checkMember(name, item[i:valueEnd], &seen)
		if err != nil {
			return nil, err
		}
		i = valueEnd
		seen.add(name)
		if k := idIndex(name); k >= 0 {
			vals[k] = v
		}
		data = append(append(append(append(data, ','), rawKey...), ':'), v...)
	}
}

// nameOf is the name a member's quoted name (rawKey) spells: a slice of rawKey when it
// escapes nothing.
func nameOf(rawKey []byte) []byte {
	if len(rawKey) < 2 {
		return nil // only text that was not checked ends here
	}
	if bytes.IndexByte(rawKey, '\\') < 0 {
		return rawKey[1 : len(rawKey)-1]
	}
	return []byte(unquote(rawKey))
}

// checkMember checks one member of an item against the bounds, the reserved names and the
// members seen before it, and returns its value as the event's data holds it: a number the
// API wrote as a string is that number.
func checkMember(name, v []byte, seen *nameSet) ([]byte, error) {
	switch {
	case len(name) == 0 || len(name) > MaxFieldName:
		return nil, fmt.Errorf("an item has a member name of %d bytes", len(name))
	case isReserved(name):
		return nil, fmt.Errorf("an item has a member %q, a name the event's data reserves", name)
	case seen.has(name):
		return nil, fmt.Errorf("an item has the member %q twice", name)
	case seen.n >= MaxInstanceFields:
		return nil, fmt.Errorf("an item has more than %d members", MaxInstanceFields)
	case len(v) > MaxValueBytes:
		return nil, fmt.Errorf("member %q is %d bytes, more than %d", name, len(v), MaxValueBytes)
	}
	if !isNumeric(name) {
		return v, nil
	}
	n, err := numberBytes(v)
	if err != nil {
		return nil, fmt.Errorf("member %s %w", name, err)
	}
	if len(n) > 0 && v[0] == '"' {
		return n, nil
	}
	return v, nil
}

// isReserved is reserved[name], without hashing name (a switch compares lengths first).
func isReserved(name []byte) bool {
	switch string(name) {
	case "VanceSource", "VanceType", "Tags":
		return true
	}
	return false
}

// isNumeric is numeric[name], without hashing name.
func isNumeric(name []byte) bool {
	switch string(name) {
	case "Tax", "CoveragePercentage", "InvoiceDiscount", "PretaxGrossAmount", "PaymentAmount",
		"CashAmount", "UsagePercentage", "Percentage", "AdjustAmount", "DeductQuantity",
		"TotalQuantity", "PretaxAmountLocal", "OutstandingAmount", "AfterTaxAmount",
		"DeductedByCashCoupons", "DeductedByPrepaidCard", "DeductedByCoupons", "PretaxAmount":
		return true
	}
	return false
}

// instanceRow ends an item's event data (data, its members appended) with its Tags, and
// makes the row of it; strs are the item's identity members and Tag (appendMembers).
func instanceRow(data []byte, strs *idStrings) (InstanceRow, error) {
	switch {
	case strs[idBillingDate] == "":
		return InstanceRow{}, errors.New("an item has no BillingDate")
	case strs[idInstanceID] == "" && strs[idProductCode] == "":
		return InstanceRow{}, errors.New("an item has neither an InstanceID nor a ProductCode")
	}
	tags, err := ParseTags(strs[idTag])
	if err != nil {
		return InstanceRow{}, err
	}
	data = append(data, `,"Tags":`...)
	data = appendTags(data, tags)
	data = append(data, '}')

	what := strs[idInstanceID]
	if what == "" {
		what = strs[idProductCode]
	}
	billingItem := strs[idBillingItemCode]
	if billingItem == "" {
		billingItem = strs[idBillingItem]
	}
	return InstanceRow{
		data:     data,
		identity: identity(strs[:idTag]...),
		subject:  []string{strs[idBillingDate], strs[idOwnerID], what, billingItem},
	}, nil
}

// instancePrefix starts every instance event's data.
var instancePrefix = func() []byte {
	src, _ := json.Marshal(Source)
	typ, _ := json.Marshal(Instance.EventType())
	return []byte(`{"VanceSource":` + string(src) + `,"VanceType":` + string(typ))
}()

// The scanning below runs on JSON that json.Valid accepted: it only finds where a value
// ends, it never has to reject anything.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfString: b[i] is a string's opening quote; the index after its closing one: the
// first quote not escaped, that is after an even number of backslashes.
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			break
		}
		j += q
		k := j
		for k > i+1 && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j + 1
		}
		j++
	}
	return len(b)
}

// endOfValue: the index after the value that starts at b[i].
func endOfValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = endOfString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for ; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return j
}

// unquote is a JSON string's content.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// scalar is a JSON value as text: a string's content, a number's digits, "" for null.
func scalar(v []byte) string {
	switch {
	case len(v) > 0 && v[0] == '"':
		return unquote(v)
	case string(v) == "null":
		return ""
	}
	return string(v)
}

// Tag is one key:value pair of an item's Tag.
type Tag struct{ Key, Value string }

// ParseTags reads the API's tag string, "key1:value1;key2:value2": pairs separated by ';',
// each split at its first ':' (a value may hold ':'; a pair without one is a key with an
// empty value), spaces around keys and values removed, empty pairs skipped. A key given
// twice keeps its last value. The pairs come back sorted by key.
func ParseTags(s string) ([]Tag, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := map[string]string{}
	for _, p := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(p, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" && v == "" {
			continue
		}
		m[k] = v
		if len(m) > MaxTags {
			return nil, fmt.Errorf("an item's Tag has more than %d pairs", MaxTags)
		}
	}
	out := make([]Tag, 0, len(m))
	for k, v := range m {
		out = append(out, Tag{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func appendTags(b []byte, tags []Tag) []byte {
	b = append(b, '{')
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(append(appendString(b, t.Key), ':'), t.Value)
	}
	return append(b, '}')
}
