package sink

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const good = SeedExampleData

func seedEvent(data string) event.Event {
	e := event.New()
	e.SetID("bd64e9e0-cd46-43f1-95fa-2008b6b49e85")
	e.SetSource("cloud.alicloud.billing")
	e.SetType("alicloud.account_billing.daily")
	e.SetTime(time.Date(2022, 6, 14, 7, 1, 55, 0, time.UTC))
	e.SetDataContentType("application/json")
	e.DataEncoded = []byte(data)
	return e
}

func TestCheckSeedShape_AcceptsTheSeedsExample(t *testing.T) {
	require.NoError(t, CheckSeedShape(seedEvent(good)))
}

func TestCheckSeedShape_CatchesEveryKindOfDrift(t *testing.T) {
	cases := map[string]func(e *event.Event){
		"OwnerID spelled as the API": func(e *event.Event) { e.DataEncoded = []byte(strings.Replace(good, `"OwnerId"`, `"OwnerID"`, 1)) },
		"amount as a string": func(e *event.Event) {
			e.DataEncoded = []byte(strings.Replace(good, `"PaymentAmount":0.23`, `"PaymentAmount":"0.23"`, 1))
		},
		"id as a number": func(e *event.Event) {
			e.DataEncoded = []byte(strings.Replace(good, `"OwnerId":"123456"`, `"OwnerId":123456`, 1))
		},
		"empty field dropped": func(e *event.Event) { e.DataEncoded = []byte(strings.Replace(good, `"BizType":"",`, ``, 1)) },
		"keys out of order": func(e *event.Event) {
			e.DataEncoded = []byte(strings.Replace(good, `"VanceSource":"cloud.alicloud.billing","VanceType":"alicloud.account_billing.daily"`, `"VanceType":"alicloud.account_billing.daily","VanceSource":"cloud.alicloud.billing"`, 1))
		},
		"extra key":          func(e *event.Event) { e.DataEncoded = []byte(strings.Replace(good, `}`, `,"Extra":""}`, 1)) },
		"wrong source":       func(e *event.Event) { e.SetSource("alicloud") },
		"wrong type":         func(e *event.Event) { e.SetType("alicloud.billing") },
		"wrong content type": func(e *event.Event) { e.SetDataContentType("text/plain") },
		"id not a UUID":      func(e *event.Event) { e.SetID("row-1") },
		"VanceSource differs": func(e *event.Event) {
			e.DataEncoded = []byte(strings.Replace(good, `"VanceSource":"cloud.alicloud.billing"`, `"VanceSource":"x"`, 1))
		},
		"data not an object": func(e *event.Event) { e.DataEncoded = []byte(`[1,2]`) },
	}
	for name, mutate := range cases {
		e := seedEvent(good)
		mutate(&e)
		assert.Error(t, CheckSeedShape(e), name)
	}
}
