package monthclose

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// The FOCUS bill is the instance bill's rows: with both, a close reconciles them once.
func TestReconciled_TheFocusBillOnceWithTheInstanceBill(t *testing.T) {
	assert.Equal(t, []bill.Kind{bill.Account, bill.Instance}, reconciled([]bill.Kind{bill.Account, bill.Instance, bill.Focus}))
	assert.Equal(t, []bill.Kind{bill.Account, bill.Focus}, reconciled([]bill.Kind{bill.Account, bill.Focus}))
	bills := []bill.Kind{bill.Instance, bill.Focus}
	reconciled(bills)
	assert.Equal(t, []bill.Kind{bill.Instance, bill.Focus}, bills, "the configured bills are left as they are")
}
