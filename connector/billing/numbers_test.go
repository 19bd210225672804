package billing_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// accountAnswer is a QueryAccountBill success answer of the test day with one item whose
// PretaxAmount is amount (a JSON value) and counts as given.
func accountAnswer(amount, total, pageNum string) string {
	return `{"Success":true,"Code":"Success","RequestId":"R-1","Data":{"BillingCycle":"2026-11","TotalCount":` + total +
		`,"PageNum":` + pageNum + `,"PageSize":300,"Items":{"Item":[{"BillingDate":"2026-11-03","OwnerID":"1","ProductCode":"ecs",` +
		`"Currency":"CNY","AdjustAmount":0,"CashAmount":0,"DeductedByCashCoupons":0,"DeductedByCoupons":0,"DeductedByPrepaidCard":0,` +
		`"InvoiceDiscount":0,"OutstandingAmount":0,"PretaxGrossAmount":0,"PretaxAmount":` + amount + `,"PaymentAmount":1.5}]}}}`
}

func instanceAnswer(amount string) string {
	return `{"Success":true,"Code":"Success","RequestId":"R-1","Data":{"BillingCycle":"2026-11","TotalCount":1,"NextToken":"",` +
		`"MaxResults":300,"Items":[{"BillingDate":"2026-11-03","OwnerID":"1","InstanceID":"i-1","ProductCode":"ecs",` +
		`"BillingItemCode":"cpu","Item":"PayAsYouGoBill","PretaxAmount":` + amount + `,"Usage":"1,5"}]}}`
}

// The SDK reads these as numbers (1, 0, 1, ...); none of them is one. Each fails the day
// at once (asking again gets the same answer), naming the member and the item.
var notNumbers = map[string]string{
	"separators":    `"1,234.50"`,
	"hex":           `"0x10"`,
	"true":          `true`,
	"NaN":           `"NaN"`,
	"Infinity":      `"Infinity"`,
	"huge exponent": `1e400`,
	"exponent str":  `"1e999"`,
	"spaces":        `" 1.5"`,
	"plus sign":     `"+1.5"`,
	"leading zero":  `"01.5"`,
	"a list":        `[1]`,
	"an object":     `{"v":1}`,
	"too long":      `1.` + strings.Repeat("1", 80),
}

func TestStream_AmountThatIsNotANumberFailsTheDayNamingItNotRetried(t *testing.T) {
	for _, kind := range []bill.Kind{bill.Account, bill.Instance} {
		for name, amount := range notNumbers {
			t.Run(string(kind)+"/"+name, func(t *testing.T) {
				f := startFake(t, bssfake.Options{})
				body := accountAnswer(amount, "1", "1")
				if kind == bill.Instance {
					body = instanceAnswer(amount)
				}
				f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: body, Times: 10})
				c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
				var got int
				err := c.Stream(context.Background(), kind, day, func(p billing.Page) error { got += len(p.Rows); return nil })

				var ae *billing.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, "UnexpectedShape", ae.Code)
				assert.False(t, ae.Retryable(), "asking again gets the same answer")
				assert.False(t, ae.NeedsConfigFix(), "the day fails; the configuration is fine")
				assert.Contains(t, err.Error(), "item 1: member PretaxAmount is ")
				assert.Contains(t, err.Error(), "not a number")
				assert.Len(t, f.Requests(), 1, "not retried")
				assert.Zero(t, got, "no row of the page is given")
			})
		}
	}
}

func TestStream_NumbersAreKeptAsTheAPIWroteThem(t *testing.T) {
	for _, tc := range []struct{ sent, want string }{
		{`12.34`, `12.34`},
		{`"12.34"`, `12.34`}, // a plain decimal the API wrote as a string
		{`12.30`, `12.3`},    // the same number, as 0.2 spelled it (no re-send on upgrade)
		{`-0.000001`, `-0.000001`},
		{`123456789012345678.123456789`, `123456789012345678.123456789`}, // past float64's digits
		{`1.5E-7`, `1.5E-7`},
		{`null`, `0`},
		{`""`, `0`},
	} {
		t.Run(tc.sent, func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			// Counts as strings, as the SDK itself accepts them (0.1 did).
			f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: accountAnswer(tc.sent, `"1"`, `"1"`)})
			c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
			rows, err := fetchDay(context.Background(), c, day)
			require.NoError(t, err)
			require.Len(t, rows, 1)
			data, err := rows[0].AppendData(nil)
			require.NoError(t, err)
			assert.Contains(t, string(data), `"PretaxAmount":`+tc.want+`,`)
			assert.Contains(t, string(data), `"PaymentAmount":1.5,`)
		})
	}
	t.Run("instance", func(t *testing.T) {
		f := startFake(t, bssfake.Options{})
		f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: instanceAnswer(`"0.10"`)})
		c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
		var data []byte
		require.NoError(t, c.Stream(context.Background(), bill.Instance, day, func(p billing.Page) error {
			require.Len(t, p.Rows, 1)
			data, _ = p.Rows[0].AppendData(nil)
			return nil
		}))
		assert.Contains(t, string(data), `"PretaxAmount":0.10,`, "a number written as a string is sent as that number")
		assert.Contains(t, string(data), `"Usage":"1,5"`, "a text member is kept as sent")
	})
}

func TestStream_CountThatIsNotAnIntegerFailsTheDay(t *testing.T) {
	for _, total := range []string{`0.5`, `"1,0"`, `"0x1"`, `true`, `""`, `"1e3"`} {
		t.Run(total, func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: accountAnswer("1", total, "1"), Times: 10})
			c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
			_, err := fetchDay(context.Background(), c, day)
			var ae *billing.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "UnexpectedShape", ae.Code)
			assert.Contains(t, err.Error(), "the answer's TotalCount is ")
			assert.Len(t, f.Requests(), 1, "not retried")
		})
	}
}

// A cache or proxy that ignores the query string answers every day with one day's bill.
// Only that day is read; every other day fails naming what came back, for both bills.
func TestStream_AnswerForAnotherDayFailsTheDay(t *testing.T) {
	other := day.AddDays(-2)
	for _, kind := range []bill.Kind{bill.Account, bill.Instance} {
		t.Run(string(kind), func(t *testing.T) {
			f := startFake(t, bssfake.Options{})
			f.SetDay(other.String(), bssfake.SampleDay(other.String(), 5, 3))
			f.GenerateInstanceDay(other.String(), 5, 3)
			f.AnswerEveryDayWith(other.String())
			c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)

			rows := 0
			require.NoError(t, c.Stream(context.Background(), kind, other, func(p billing.Page) error { rows += len(p.Rows); return nil }))
			assert.Equal(t, 5, rows, "the day it holds reads as ever")

			rows = 0
			err := c.Stream(context.Background(), kind, day, func(p billing.Page) error { rows += len(p.Rows); return nil })
			require.ErrorIs(t, err, billing.ErrInconsistent)
			assert.Contains(t, err.Error(), fmt.Sprintf(`item 1 is of the day %q, not %s`, other, day))
			assert.Zero(t, rows, "no row of another day is given as this day's")
		})
	}
	t.Run("billing cycle", func(t *testing.T) {
		f := startFake(t, bssfake.Options{})
		f.Inject(bssfake.Fault{Kind: bssfake.RawReply, Status: 200, Body: strings.Replace(accountAnswer("1", "1", "1"), `"2026-11"`, `"2026-10"`, 1)})
		c := newClient(t, f.URL(), "testid", "testsecret", fastPolicy, nil)
		_, err := fetchDay(context.Background(), c, day)
		require.True(t, errors.Is(err, billing.ErrInconsistent), "%v", err)
		assert.Contains(t, err.Error(), `the answer is of the billing cycle "2026-10", not 2026-11`)
	})
}
