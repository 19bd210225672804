package focus

import (
	"bytes"
	"fmt"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// zeroedColumns are the FOCUS costs and quantities a retraction sets to 0.
var zeroedColumns = map[string]bool{"BilledCost": true, "ContractedCost": true, "EffectiveCost": true,
	"ListCost": true, "ConsumedQuantity": true, "PricingQuantity": true}

// zeroed is the row with every cost (BilledCost, ContractedCost, EffectiveCost, ListCost)
// and quantity (ConsumedQuantity, PricingQuantity) that is not null at 0, and every number
// of its custom columns (Alibaba's amounts) at 0: what a retraction carries, so that a
// receiver that keeps each subject's highest revision holds a conformant row that adds 0.
func zeroed(r Row) Row {
	cols := make(columns, len(r.cols))
	for i, c := range r.cols {
		cols[i] = c
		switch {
		case bytes.Equal(c.raw, jsonNull):
		case zeroedColumns[c.name], len(c.name) > 2 && c.name[:2] == "x_" && isNumber(c.raw):
			cols[i].raw = []byte("0")
		}
	}
	return newRow(cols, r.identity, r.subject, r.resource)
}

// isNumber: raw is a JSON number (a JSON value that starts as one).
func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// retraction: see Retraction.
func retraction(identity, currency string) (Row, error) {
	ir, err := bill.InstanceForFocus(identity, currency)
	if err != nil {
		return Row{}, err
	}
	r, _, err := mapRow(ir)
	if err != nil {
		return Row{}, fmt.Errorf("the retraction of %.120q: %w", identity, err)
	}
	// The instance bill allows an instance's row without a ProductCode: its ResourceType
	// came from its ProductName, which the identity does not hold.
	if r.cols.text("ResourceId") != "" && r.cols.text("ResourceType") == "" {
		return Row{}, fmt.Errorf("row identity %.120q has an instance and no ProductCode: its ResourceType is not known", identity)
	}
	return zeroed(r), nil
}
