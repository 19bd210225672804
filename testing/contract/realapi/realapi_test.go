// Package realapi runs the contract suite against the real BSS OpenAPI. It needs
// ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (a RAM user with
// AliyunBSSReadOnlyAccess) and is tagged manual in Bazel; it makes read-only calls only.
//
//	ALIBABA_CLOUD_ACCESS_KEY_ID=... ALIBABA_CLOUD_ACCESS_KEY_SECRET=... \
//	  tools/bazel test //testing/contract/realapi:realapi_test --test_env=ALIBABA_CLOUD_ACCESS_KEY_ID \
//	  --test_env=ALIBABA_CLOUD_ACCESS_KEY_SECRET [--test_env=CONTRACT_ENDPOINT] [--test_env=CONTRACT_DAY] \
//	  [--test_env=CONTRACT_MIN_INSTANCE_ROWS]
//
// CONTRACT_MIN_INSTANCE_ROWS is the least number of instance bill rows the day must have
// (default 1).
package realapi

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/testing/contract"
)

func TestContract_RealAPI(t *testing.T) {
	id, secret := os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if id == "" || secret == "" {
		t.Skip("manual: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET to run against the real API")
	}
	endpoint := "https://business.aliyuncs.com"
	if e := os.Getenv("CONTRACT_ENDPOINT"); e != "" {
		endpoint = e
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c := clock.New()
	day := calendar.Yesterday(c.Now(), sh).AddDays(-1) // settled for about a day
	if d := os.Getenv("CONTRACT_DAY"); d != "" {
		var err error
		day, err = calendar.Parse(d)
		require.NoError(t, err)
	}
	minInstanceRows := 1
	if v := os.Getenv("CONTRACT_MIN_INSTANCE_ROWS"); v != "" {
		var err error
		minInstanceRows, err = strconv.Atoi(v)
		require.NoError(t, err, "CONTRACT_MIN_INSTANCE_ROWS")
	}
	contract.Run(t, func(t *testing.T) contract.Harness {
		return contract.Harness{Endpoint: endpoint, KeyID: id, Secret: secret, Day: day, RegionID: "cn-hangzhou",
			MinInstanceRows: minInstanceRows, Clock: c}
	})
}
