package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// product and billing mode of one owner on one day.) Its length is not bounded here: the
// state stores long identities under a hash of them.
func Identity(r billing.Row) string {
	b, _ := json.Marshal([]string{r.BillingDate, r.BillAccountID, r.OwnerID, r.ProductCode, r.PipCode,
		r.SubscriptionType, r.BizType, r.CostUnit, r.ProductName, r.Currency})
	return string(b)
}

// ContentHash is a hash of everything the event's data says about the row.
func ContentHash(d Data) (string, []byte, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16]), body, nil
}

// EventID is a name-based (SHA-1, version 5) UUID of the row's identity, content and
// revision: the same content of the same row gives the same id on every run. Revision 1
// (the first content a row is delivered with) leaves the revision out of the name.
func EventID(identity string, body []byte, revision int) string {
	name := make([]byte, 0, len(identity)+1+len(body)+8)
	name = append(append(append(name, identity...), 0), body...)
	if revision > 1 {
		name = append(name, fmt.Sprintf("\x00rev%d", revision)...)
	}
	return uuid.NewSHA1(idNamespace, name).String()
}

// Subject is the row's stable identity as the CloudEvents subject: receivers upsert by it.
// Readable parts first, then a short hash of the full identity.
func Subject(r billing.Row, identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return fmt.Sprintf("%s/%s/%s/%s/%s", r.BillingDate, r.OwnerID, r.ProductCode, r.SubscriptionType, hex.EncodeToString(sum[:6]))
}

// RevisionExtension is the CloudEvents extension that numbers a row's contents: 1 for the
// first, then one more for each correction.
const RevisionExtension = "revision"

// NewEvent builds the CloudEvent of one row with the given identity and revision, pulled
// at `pulled`.
func NewEvent(r billing.Row, identity string, revision int, pulled time.Time) (event.Event, error) {
	d := DataOf(r)
	_, body, err := ContentHash(d)
	if err != nil {
		return event.Event{}, err
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(EventID(identity, body, revision))
	e.SetSource(Source)
	e.SetType(Type)
	e.SetSubject(Subject(r, identity))
	e.SetExtension(RevisionExtension, revision)
	e.SetTime(pulled)
	e.DataEncoded = body
	e.SetDataContentType(event.ApplicationJSON)
	return e, nil
}
