package bill_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

func TestParseAmount_KeepsTheAPIsDigitsAndRefusesWhatIsNotANumber(t *testing.T) {
	for raw, want := range map[string]string{
		`0`: `0`, `12.30`: `12.30`, `"12.30"`: `12.30`, `-0.5`: `-0.5`, `1.5E-7`: `1.5E-7`, `2e+3`: `2e+3`,
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

func TestParseAccount_AmountsAsWrittenTextAsSentMembersNamed(t *testing.T) {
	r, err := bill.ParseAccount([]byte(`{"BillingDate":"2026-11-03","OwnerID":1234,"PretaxAmount":"0.10","PaymentAmount":1.50,` +
		`"pretaxamount":"x","Currency":null}`))
	require.NoError(t, err)
	assert.Equal(t, "1234", r.OwnerID, "a number where text is expected keeps its digits")
	assert.Equal(t, bill.Amount("0.10"), r.PretaxAmount, "members are matched exactly, case included")
	data, err := r.AppendData(nil)
	require.NoError(t, err)
	var back map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, "1.50", string(back["PaymentAmount"]))
	assert.Equal(t, "0", string(back["CashAmount"]), "an absent amount is 0")
	assert.Equal(t, `""`, string(back["Currency"]))

	for item, msg := range map[string]string{
		`[]`:                         "an item is not a JSON object",
		`{"PretaxAmount":"1,5"}`:     `member PretaxAmount is the string "1,5", not a number`,
		`{"ProductCode":{"a":1}}`:    `member ProductCode is "{\"a\":1}", not text`,
		`{"OwnerID":true}`:           `member OwnerID is "true", not text`,
		`{"InvoiceDiscount":"0x1f"}`: `member InvoiceDiscount is the string "0x1f", not a number`,
	} {
		_, err := bill.ParseAccount([]byte(item))
		require.Error(t, err, item)
		assert.Equal(t, msg, err.Error(), item)
	}
}
