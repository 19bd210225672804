package job

import (
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// EventOf is the event the job builds for row r of the default account with the revision,
// pulled at pulled: the job's tests look at one event without running a day.
func EventOf(r bill.Row, revision int, pulled time.Time) (event.Event, error) {
	body, _, err := Body(r)
	if err != nil {
		return event.Event{}, err
	}
	return newEvent(config.DefaultAccount, r, r.Identity(), body, revision, pulled), nil
}
