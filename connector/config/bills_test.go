package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

func with(extra string) string { return strings.TrimSuffix(minimal, "}") + "," + extra + "}" }

func TestLoad_BillsDefaultToTheAccountBill(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, []bill.Kind{bill.Account}, c.Bills)
	assert.Equal(t, DefaultAPIQPS, c.APIQPS)
}

func TestLoad_BillsAsAnArrayOrACommaList(t *testing.T) {
	for body, want := range map[string][]bill.Kind{
		`"bills":["instance"]`:             {bill.Instance},
		`"bills":["instance","account"]`:   {bill.Account, bill.Instance},
		`"bills":" account , instance "`:   {bill.Account, bill.Instance},
		`"bills":"instance"`:               {bill.Instance},
		`"bills":null`:                     {bill.Account},
		`"bills":["focus"]`:                {bill.Focus},
		`"bills":"focus,instance"`:         {bill.Instance, bill.Focus},
		`"bills":["focus","account"]`:      {bill.Account, bill.Focus},
		`"bills":"account,instance,focus"`: {bill.Account, bill.Instance, bill.Focus},
	} {
		c, err := Load(Source{Path: writeConfig(t, with(body)), Lookup: env()})
		require.NoError(t, err, body)
		assert.Equal(t, want, c.Bills, body)
	}
	c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env("BILLS", "account,instance")})
	require.NoError(t, err)
	assert.Equal(t, []bill.Kind{bill.Account, bill.Instance}, c.Bills)
}

func TestLoad_BadBillsAreOneLineThatNamesTheKey(t *testing.T) {
	for body, want := range map[string]string{
		`"bills":[]`:                    "config: bills: is an empty list",
		`"bills":["account","account"]`: `config: bills: "account" is listed twice`,
		`"bills":["invoice"]`:           `config: bills: "invoice" is not a bill (account, instance, focus)`,
		`"bills":[1]`:                   "config: bills: must be an array of bill names",
		`"bills":["a,b"]`:               "config: bills: must be an array of bill names",
		`"bills":{"account":true}`:      "config: bills: must be a string or a number",
		`"pull_zone":["UTC"]`:           "config: pull_zone: must be a string or a number, not an object or array",
	} {
		_, err := Load(Source{Path: writeConfig(t, with(body)), Lookup: env()})
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), want, body)
		assert.NotContains(t, err.Error(), "\n", body)
	}
}

func TestLoad_APIQPS(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, with(`"api_qps":2.5`)), Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, 2.5, c.APIQPS)
	for _, bad := range []string{`0`, `0.05`, `101`, `"fast"`, `-1`, `"NaN"`} {
		_, err := Load(Source{Path: writeConfig(t, with(`"api_qps":`+bad)), Lookup: env()})
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "config: api_qps: ", bad)
	}
}

func TestLoad_Listen(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, ":9090", c.Listen)
	for body, want := range map[string]string{`"listen":""`: "", `"listen":"127.0.0.1:0"`: "127.0.0.1:0", `"listen":"[::1]:9091"`: "[::1]:9091"} {
		c, err := Load(Source{Path: writeConfig(t, with(body)), Lookup: env()})
		require.NoError(t, err, body)
		assert.Equal(t, want, c.Listen, body)
	}
	for _, bad := range []string{`"9090"`, `"host:port"`, `":99999"`, `"a b:1"`, `"http://x:1"`} {
		_, err := Load(Source{Path: writeConfig(t, with(`"listen":`+bad)), Lookup: env()})
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "config: listen: ", bad)
	}
}

func TestLoad_RetractMaxFraction(t *testing.T) {
	c, err := Load(Source{Path: writeConfig(t, minimal), Lookup: env()})
	require.NoError(t, err)
	assert.Equal(t, 0.2, c.RetractMaxFraction)
	for body, want := range map[string]float64{`"retract_max_fraction":0`: 0, `"retract_max_fraction":"0.5"`: 0.5, `"retract_max_fraction":1`: 1} {
		c, err := Load(Source{Path: writeConfig(t, with(body)), Lookup: env()})
		require.NoError(t, err, body)
		assert.Equal(t, want, c.RetractMaxFraction, body)
	}
	c, err = Load(Source{Path: writeConfig(t, minimal), Lookup: env("RETRACT_MAX_FRACTION", "0.05")})
	require.NoError(t, err)
	assert.Equal(t, 0.05, c.RetractMaxFraction)
	for _, bad := range []string{`-0.1`, `1.5`, `"most"`, `"NaN"`, `"1e400"`} {
		_, err := Load(Source{Path: writeConfig(t, with(`"retract_max_fraction":`+bad)), Lookup: env()})
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "config: retract_max_fraction: ", bad)
		assert.NotContains(t, err.Error(), "\n", bad)
	}
}
