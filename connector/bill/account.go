package bill

import "encoding/json"

// AccountRow is one line of the daily account bill grouped by product, with the event's
// names, in the event's order (the seed's shape): the API's names, except OwnerID, which
// the event calls OwnerId. Amounts are numbers, the rest strings, empty ones kept.
type AccountRow struct {
	AdjustAmount          float64 `json:"AdjustAmount"`
	BillAccountID         string  `json:"BillAccountID"`
	BillAccountName       string  `json:"BillAccountName"`
	BillingDate           string  `json:"BillingDate"`
	BizType               string  `json:"BizType"`
	CashAmount            float64 `json:"CashAmount"`
	CostUnit              string  `json:"CostUnit"`
	Currency              string  `json:"Currency"`
	DeductedByCashCoupons float64 `json:"DeductedByCashCoupons"`
	DeductedByCoupons     float64 `json:"DeductedByCoupons"`
	DeductedByPrepaidCard float64 `json:"DeductedByPrepaidCard"`
	InvoiceDiscount       float64 `json:"InvoiceDiscount"`
	OutstandingAmount     float64 `json:"OutstandingAmount"`
	OwnerID               string  `json:"OwnerId"`
	OwnerName             string  `json:"OwnerName"`
	PaymentAmount         float64 `json:"PaymentAmount"`
	PipCode               string  `json:"PipCode"`
	PretaxAmount          float64 `json:"PretaxAmount"`
	PretaxGrossAmount     float64 `json:"PretaxGrossAmount"`
	ProductCode           string  `json:"ProductCode"`
	ProductName           string  `json:"ProductName"`
	SubscriptionType      string  `json:"SubscriptionType"`
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
