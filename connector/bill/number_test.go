package bill_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

func TestParseAmount_KeepsTheAPIsDigitsAndRefusesWhatIsNotANumber(t *testing.T) {
	for raw, want := range map[string]string{
		`0`: `0`, `12.30`: `12.3`, `"12.30"`: `12.3`, `-0.5`: `-0.5`, `1.5E-7`: `1.5E-7`, `2e+3`: `2e+3`,
		`0.0`: `0`, `-0`: `0`, `100`: `100`, `100.00`: `100`, `0.2352`: `0.2352`, // as 0.2 spelled them
		`0.1000000000000000055511151231257827`: `0.1000000000000000055511151231257827`,
		`null`:                                 `0`, `""`: `0`, // empty, as the SDK reads them
	} {
		got, err := bill.ParseAmount([]byte(raw))
		require.NoError(t, err, raw)
		assert.Equal(t, want, got.String(), raw)
	}
	for raw, msg := range map[string]string{
		`"1,234.50"`:  `is the string "1,234.50", not a number`,
		`"0x10"`:      `is the string "0x10", not a number`,
		`true`:        `is "true", not a number`,
		`"NaN"`:       `is the string "NaN", not a number`,
		`"-Infinity"`: `is the string "-Infinity", not a number`,
		`1e31`:        `is "1e31", not a number`,
		`1.`:          `is "1.", not a number`,
		`.5`:          `is ".5", not a number`,
		`-`:           `is "-", not a number`,
		`"1 "`:        `is the string "1 ", not a number`,
		`"\u0031"`:    ``, // an escaped "1" is the string "1": a number
	} {
		_, err := bill.ParseAmount([]byte(raw))
		if msg == "" {
			assert.NoError(t, err, raw)
			continue
		}
		require.Error(t, err, raw)
		assert.Equal(t, msg, err.Error(), raw)
	}
}

func TestParseCount_IntegersAndStringsHoldingThem(t *testing.T) {
	for raw, want := range map[string]int64{`7`: 7, `"7"`: 7, `0`: 0, `-3`: -3} {
		n, err := bill.ParseCount([]byte(raw))
		require.NoError(t, err, raw)
		assert.Equal(t, want, n, raw)
	}
	for _, raw := range []string{`0.5`, `"1,0"`, `1e3`, `true`, `""`, `null`, `"x"`, `99999999999999999999`} {
		_, err := bill.ParseCount([]byte(raw))
		assert.Error(t, err, raw)
	}
}

// allAmounts are the account item's amount members, each 0.
const allAmounts = `"AdjustAmount":0,"CashAmount":0,"DeductedByCashCoupons":0,"DeductedByCoupons":0,` +
	`"DeductedByPrepaidCard":0,"InvoiceDiscount":0,"OutstandingAmount":0,"PaymentAmount":0,"PretaxAmount":0,"PretaxGrossAmount":0`

func TestParseAccount_AmountsAsWrittenTextAsSentMembersNamed(t *testing.T) {
	item := `{"BillingDate":"2026-11-03","OwnerID":1234,` + strings.Replace(strings.Replace(allAmounts,
		`"PretaxAmount":0`, `"PretaxAmount":"0.10"`, 1), `"PaymentAmount":0`, `"PaymentAmount":123456789012345678.12345678`, 1) +
		`,"Currency":null,"Unknown":{"a":[1]}}`
	r, err := bill.ParseAccount([]byte(item))
	require.NoError(t, err)
	assert.Equal(t, "1234", r.OwnerID, "a number where text is expected keeps its digits")
	assert.Equal(t, bill.Amount("0.1"), r.PretaxAmount)
	data, err := r.AppendData(nil)
	require.NoError(t, err)
	var back map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, "123456789012345678.12345678", string(back["PaymentAmount"]), "every digit, no float")
	assert.Equal(t, "0", string(back["CashAmount"]))
	assert.Equal(t, `""`, string(back["Currency"]))
}

// What encoding/json or the SDK would read one way while the API meant another is refused,
// naming the member: an amount's value read wrongly is money data falsified.
func TestParseAccount_RefusesWhatWouldReadWrongly(t *testing.T) {
	with := func(extra string) string { return `{"BillingDate":"2026-11-03",` + allAmounts + extra + `}` }
	amount := func(name, v string) string { return strings.Replace(with(``), `"`+name+`":0`, `"`+name+`":`+v, 1) }
	for item, msg := range map[string]string{
		`[]`:                      "an item is not a JSON object",
		with(`,"PretaxAmount":7`): `an item has the member "PretaxAmount" twice`,
		with(`,"pretaxAmount":7`): `an item has a member "pretaxAmount" where the API writes "PretaxAmount"`,
		strings.Replace(with(``), `"CashAmount":0,`, ``, 1): "an item has no member CashAmount",
		with(`,"ProductCode":"ecs` + "\xff" + `"`):          "an item is not valid UTF-8",
		with(`,"ProductCode":"ecs\ud800"`):                  "an item escapes a lone surrogate (not valid UTF-16)",
		with(`,"ProductCode":"\udc00"`):                     "an item escapes a lone surrogate (not valid UTF-16)",
		amount("PretaxAmount", `"1,5"`):                     `member PretaxAmount is the string "1,5", not a number`,
		amount("InvoiceDiscount", `"0x1f"`):                 `member InvoiceDiscount is the string "0x1f", not a number`,
		with(`,"ProductCode":{"a":1}`):                      `member ProductCode is "{\"a\":1}", not text`,
		with(`,"OwnerID":true`):                             `member OwnerID is "true", not text`,
	} {
		_, err := bill.ParseAccount([]byte(item))
		require.Error(t, err, item)
		assert.Equal(t, msg, err.Error(), item)
	}
	_, err := bill.ParseAccount([]byte(with(`,"ProductCode":"\ud83d\ude00 ok"`)))
	assert.NoError(t, err, "a surrogate pair is a character")
}

func TestParseInstance_RefusesLoneSurrogates(t *testing.T) {
	for _, v := range []string{`"\ud800"`, `"\udbff"`, `"\udfff x"`} {
		_, err := bill.ParseInstance([]byte(`{"BillingDate":"2026-11-03","InstanceID":` + v + `}`))
		require.Error(t, err, v)
		assert.Equal(t, "an item escapes a lone surrogate (not valid UTF-16)", err.Error())
	}
	assert.Equal(t, "", bill.InstanceRow{}.Date(), "a zero row has no date, and no panic")
}
