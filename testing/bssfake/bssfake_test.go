package bssfake

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The example of the API's signature documentation: the fake computes what the service
// computes for it.
func TestSign_DocumentedExample(t *testing.T) {
	p := url.Values{}
	for k, v := range map[string]string{
		"Action": "DescribeRegions", "AccessKeyId": "testid", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
		"SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
		"Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
	} {
		p.Set(k, v)
	}
	assert.Equal(t, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", Sign("GET", p, "testsecret"))
}

func signed(now time.Time, nonce string) url.Values {
	p := url.Values{}
	for k, v := range map[string]string{
		"Action": Action, "Version": Version, "Format": "JSON", "AccessKeyId": "testid",
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": nonce,
		"Timestamp": now.UTC().Format("2006-01-02T15:04:05Z"), "BillingCycle": "2026-11",
		"BillingDate": "2026-11-01", "Granularity": "DAILY",
	} {
		p.Set(k, v)
	}
	p.Set("Signature", Sign("POST", p, "testsecret"))
	return p
}

func TestAuthenticate_WindowNonceAndTampering(t *testing.T) {
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	_, code, _ := s.authenticate(signed(now, "n1"))
	assert.Empty(t, code)
	_, code, _ = s.authenticate(signed(now, "n1"))
	assert.Equal(t, "SignatureNonceUsed", code)
	_, code, _ = s.authenticate(signed(now.Add(-16*time.Minute), "n2"))
	assert.Equal(t, "InvalidTimeStamp.Expired", code)
	p := signed(now, "n3")
	p.Set("PageSize", "300") // added after signing
	_, code, _ = s.authenticate(p)
	assert.Equal(t, "SignatureDoesNotMatch", code)
}

func TestValidate_Parameters(t *testing.T) {
	base := func() url.Values { return signed(time.Now(), "x") }
	for name, c := range map[string]struct{ key, value, code string }{
		"page size":     {"PageSize", "301", "InvalidParameter"},
		"no date":       {"BillingDate", "", "MissingParameter"},
		"date in cycle": {"BillingDate", "2026-10-31", "InvalidParameter"},
		"action":        {"Action", "QueryBill", "InvalidAction.NotFound"},
		"version":       {"Version", "2014-05-26", "InvalidVersion"},
	} {
		p := base()
		p.Set(c.key, c.value)
		_, code, _ := validate(p)
		assert.Equal(t, c.code, code, name)
	}
	_, code, _ := validate(base())
	assert.Empty(t, code)
}
