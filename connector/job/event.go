package job

import (
	"encoding/json"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
)

// The event's fixed attributes, as the seed shows them.
const (
	Source = "cloud.alicloud.billing"
	Type   = "alicloud.account_billing.daily"
)

// idNamespace is the UUID namespace of event ids (a fixed random UUID of this project).
var idNamespace = uuid.MustParse("6f1c8a52-3b0e-4a57-9a7e-2f4d0c9b1e63")

// Data is the event's data: VanceSource, VanceType, then the bill row, in this order and
// with these names (the seed's shape). Amounts are numbers, the rest strings.
type Data struct {
	VanceSource           string  `json:"VanceSource"`
	VanceType             string  `json:"VanceType"`
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
	OwnerID               string  `json:"OwnerId"` // the API says OwnerID; the event says OwnerId
	OwnerName             string  `json:"OwnerName"`
	PaymentAmount         float64 `json:"PaymentAmount"`
	PipCode               string  `json:"PipCode"`
	PretaxAmount          float64 `json:"PretaxAmount"`
	PretaxGrossAmount     float64 `json:"PretaxGrossAmount"`
	ProductCode           string  `json:"ProductCode"`
	ProductName           string  `json:"ProductName"`
	SubscriptionType      string  `json:"SubscriptionType"`
}

// DataOf maps a bill row onto the event's data.
func DataOf(r billing.Row) Data {
	return Data{
		VanceSource: Source, VanceType: Type,
		AdjustAmount: r.AdjustAmount, BillAccountID: r.BillAccountID, BillAccountName: r.BillAccountName,
		BillingDate: r.BillingDate, BizType: r.BizType, CashAmount: r.CashAmount, CostUnit: r.CostUnit,
		Currency: r.Currency, DeductedByCashCoupons: r.DeductedByCashCoupons, DeductedByCoupons: r.DeductedByCoupons,
		DeductedByPrepaidCard: r.DeductedByPrepaidCard, InvoiceDiscount: r.InvoiceDiscount,
		OutstandingAmount: r.OutstandingAmount, OwnerID: r.OwnerID, OwnerName: r.OwnerName,
		PaymentAmount: r.PaymentAmount, PipCode: r.PipCode, PretaxAmount: r.PretaxAmount,
		PretaxGrossAmount: r.PretaxGrossAmount, ProductCode: r.ProductCode, ProductName: r.ProductName,
		SubscriptionType: r.SubscriptionType,
	}
}

// Identity names the bill line a row is about: the same line on every pull of the day,
// whatever its amounts. (The API has no row id: with IsGroupByProduct a line is one
// product and billing mode of one owner on one day.)
func Identity(r billing.Row) string {
	b, _ := json.Marshal([]string{r.BillingDate, r.BillAccountID, r.OwnerID, r.ProductCode, r.PipCode,
		r.SubscriptionType, r.BizType, r.CostUnit, r.ProductName, r.Currency})
	return string(b)
}

// EventID is a name-based (SHA-1, version 5) UUID of the row's identity and content: the
// same row gives the same id on every run, a changed row a new one.
func EventID(d Data, identity string) (string, []byte, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return "", nil, err
	}
	name := make([]byte, 0, len(identity)+1+len(body))
	name = append(append(append(name, identity...), 0), body...)
	return uuid.NewSHA1(idNamespace, name).String(), body, nil
}

// NewEvent builds the CloudEvent of one row, pulled at `pulled`.
func NewEvent(r billing.Row, pulled time.Time) (event.Event, error) {
	d := DataOf(r)
	id, body, err := EventID(d, Identity(r))
	if err != nil {
		return event.Event{}, err
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	e.SetSource(Source)
	e.SetType(Type)
	e.SetTime(pulled)
	e.DataEncoded = body
	e.SetDataContentType(event.ApplicationJSON)
	return e, nil
}
