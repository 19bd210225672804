package sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

// SeedExampleData is the data of the seed's example event, byte for byte as the connector
// writes it for the seed's row.
const SeedExampleData = `{"VanceSource":"cloud.alicloud.billing","VanceType":"alicloud.account_billing.daily",` +
	`"AdjustAmount":0,"BillAccountID":"123456","BillAccountName":"aliyun23456","BillingDate":"2022-06-13",` +
	`"BizType":"","CashAmount":0,"CostUnit":"","Currency":"CNY","DeductedByCashCoupons":0,"DeductedByCoupons":0,` +
	`"DeductedByPrepaidCard":0,"InvoiceDiscount":0,"OutstandingAmount":0,"OwnerId":"123456","OwnerName":"aliyun23456",` +
	`"PaymentAmount":0.23,"PipCode":"disk","PretaxAmount":0,"PretaxGrossAmount":0.2352,"ProductCode":"disk",` +
	`"ProductName":"","SubscriptionType":"PayAsYouGo"}`

// SeedDataKeys are the keys of the seed's event data, in order, with their JSON types.
var SeedDataKeys = []struct {
	Name   string
	Number bool // a JSON number; else a JSON string
}{
	{"VanceSource", false}, {"VanceType", false}, {"AdjustAmount", true}, {"BillAccountID", false},
	{"BillAccountName", false}, {"BillingDate", false}, {"BizType", false}, {"CashAmount", true},
	{"CostUnit", false}, {"Currency", false}, {"DeductedByCashCoupons", true}, {"DeductedByCoupons", true},
	{"DeductedByPrepaidCard", true}, {"InvoiceDiscount", true}, {"OutstandingAmount", true},
	{"OwnerId", false}, {"OwnerName", false}, {"PaymentAmount", true}, {"PipCode", false},
	{"PretaxAmount", true}, {"PretaxGrossAmount", true}, {"ProductCode", false}, {"ProductName", false},
	{"SubscriptionType", false},
}

// CheckSeedShape returns an error describing the first way e differs from the seed's event:
// attributes, the exact data keys in order and their JSON types.
func CheckSeedShape(e event.Event) error {
	if e.SpecVersion() != "1.0" {
		return fmt.Errorf("specversion %q, want 1.0", e.SpecVersion())
	}
	if _, err := uuid.Parse(e.ID()); err != nil {
		return fmt.Errorf("id %q is not a UUID", e.ID())
	}
	if e.Source() != "cloud.alicloud.billing" {
		return fmt.Errorf("source %q", e.Source())
	}
	if e.Type() != "alicloud.account_billing.daily" {
		return fmt.Errorf("type %q", e.Type())
	}
	if e.DataContentType() != "application/json" {
		return fmt.Errorf("datacontenttype %q", e.DataContentType())
	}
	// The connector's clock package: the one place that reads the time.
	if e.Time().IsZero() || e.Time().After(clock.New().Now().Add(time.Hour)) {
		return fmt.Errorf("time %v is not when the row was pulled", e.Time())
	}
	keys, values, err := orderedObject(e.Data())
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if len(keys) != len(SeedDataKeys) {
		return fmt.Errorf("data has %d keys %v, want %d", len(keys), keys, len(SeedDataKeys))
	}
	for i, want := range SeedDataKeys {
		if keys[i] != want.Name {
			return fmt.Errorf("data key %d is %q, want %q", i, keys[i], want.Name)
		}
		v := values[i]
		isNum := len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))
		isStr := len(v) > 0 && v[0] == '"'
		if want.Number && !isNum {
			return fmt.Errorf("data %s = %s, want a JSON number", want.Name, v)
		}
		if !want.Number && !isStr {
			return fmt.Errorf("data %s = %s, want a JSON string", want.Name, v)
		}
	}
	var d struct{ VanceSource, VanceType string }
	_ = json.Unmarshal(e.Data(), &d)
	if d.VanceSource != e.Source() || d.VanceType != e.Type() {
		return fmt.Errorf("data VanceSource/VanceType = %q/%q", d.VanceSource, d.VanceType)
	}
	return nil
}

// orderedObject returns the keys of a JSON object in document order and their raw values.
func orderedObject(b []byte) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("not a JSON object")
	}
	var keys []string
	var values []json.RawMessage
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, err
		}
		keys = append(keys, kt.(string))
		values = append(values, raw)
	}
	return keys, values, nil
}

// Data decodes an event's data into a generic map (for comparing values with the fake's rows).
func Data(e event.Event) (map[string]any, error) {
	m := map[string]any{}
	err := json.Unmarshal(e.Data(), &m)
	return m, err
}

// InstanceType is the instance bill's event type.
const InstanceType = "alicloud.instance_billing.daily"

// CheckInstanceShape returns an error describing the first way e differs from an instance
// bill event: the attributes as for the account bill (with the instance type), a subject,
// and data that starts with VanceSource and VanceType, ends with Tags (an object of
// strings), and between them holds members of the API's item whose values are strings or
// numbers (the amounts), never repeated.
func CheckInstanceShape(e event.Event) error {
	switch {
	case e.SpecVersion() != "1.0":
		return fmt.Errorf("specversion %q, want 1.0", e.SpecVersion())
	case e.Source() != "cloud.alicloud.billing":
		return fmt.Errorf("source %q", e.Source())
	case e.Type() != InstanceType:
		return fmt.Errorf("type %q", e.Type())
	case e.DataContentType() != "application/json":
		return fmt.Errorf("datacontenttype %q", e.DataContentType())
	case e.Subject() == "":
		return fmt.Errorf("no subject")
	}
	if _, err := uuid.Parse(e.ID()); err != nil {
		return fmt.Errorf("id %q is not a UUID", e.ID())
	}
	keys, values, err := orderedObject(e.Data())
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if len(keys) < 3 || keys[0] != "VanceSource" || keys[1] != "VanceType" || keys[len(keys)-1] != "Tags" {
		return fmt.Errorf("data keys %v: want VanceSource, VanceType, the item's members, Tags", keys)
	}
	if string(values[0]) != `"cloud.alicloud.billing"` || string(values[1]) != `"`+InstanceType+`"` {
		return fmt.Errorf("data VanceSource/VanceType = %s/%s", values[0], values[1])
	}
	seen := map[string]bool{}
	for i, k := range keys[2 : len(keys)-1] {
		v := values[i+2]
		if seen[k] {
			return fmt.Errorf("data key %q twice", k)
		}
		seen[k] = true
		if len(v) == 0 || v[0] == '{' || v[0] == '[' {
			return fmt.Errorf("data %s = %s, want a string or a number", k, v)
		}
	}
	var tags map[string]string
	if err := json.Unmarshal(values[len(values)-1], &tags); err != nil {
		return fmt.Errorf("data Tags = %s: %w", values[len(values)-1], err)
	}
	return nil
}
