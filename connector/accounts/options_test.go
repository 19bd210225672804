package accounts

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Every field of every package's options comes from the configuration: a field added to
// an Options and not set here is found (the package would run on its zero value).
func TestOptions_EveryFieldComesFromTheConfig(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	c := &config.Config{
		Target: &url.URL{Scheme: "nats", Host: "nats:4222", Path: "/billing.daily"}, Protocol: config.NATS,
		NATS:     config.NATSConfig{Subject: "billing.daily", Stream: "BILLING"},
		Kafka:    config.KafkaConfig{Topic: "billing"},
		Endpoint: config.Endpoint{Scheme: "https", Host: config.DefaultEndpoint}, APIQPS: 5,
		PullHour: 3, PullZone: sh, Structured: true, Concurrency: 8, CatchupDays: 9, SettleDays: 2,
		Bills: []bill.Kind{bill.Account, bill.Instance}, Listen: ":9090", RetractMaxFraction: 0.3,
	}
	shop := config.Account{Name: "shop"}
	for name, o := range map[string]any{
		"billing":   BillingOptions(c),
		"sender":    SenderOptions(c),
		"ops":       OpsOptions(c),
		"job":       jobOptions(c, shop),
		"scheduler": schedulerOptions(c, shop),
	} {
		v := reflect.ValueOf(o)
		for i := range v.NumField() {
			assert.False(t, v.Field(i).IsZero(), "%s.Options.%s is not set from the config", name, v.Type().Field(i).Name)
		}
	}
	assert.Equal(t, 3*24*time.Hour, SenderOptions(c).DuplicateWindow, "settle_days re-pulls plus the day")
	assert.Equal(t, "shop", jobOptions(c, shop).Account)
	assert.Equal(t, "shop", schedulerOptions(c, shop).Account)
}
