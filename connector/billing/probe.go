package billing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Probe makes one signed, read-only call of the bill of kind for day, asking for a single
// row (QueryAccountBill with PageSize 1, DescribeInstanceBill with MaxResults 1), through
// the same signer, guard, pacer and answer checks as Stream: `connector --check` uses it
// to tell whether the endpoint answers, accepts the credentials and lets them read the
// bill. It tries as often as the client's Policy says (the check builds its clients with
// one attempt).
//
// Its error is an *APIError that always says how to fix it (Hint), or ctx's error; it is
// never wrapped, so that it reads as one line.
func (c *Client) Probe(ctx context.Context, kind bill.Kind, day calendar.Day) error {
	var (
		read *answerPage
		err  error
	)
	if kind == bill.Instance {
		read, err = c.instancePage(ctx, day, 1, 1, "")
	} else {
		read, err = c.accountPage(ctx, day, 1, 1)
	}
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		if apiErr.Hint == "" {
			e := *apiErr
			e.Hint = probeHint(&e, c.ep)
			return &e
		}
		return apiErr
	case err != nil:
		return err
	}
	if msg := checkDay(read, day); msg != "" {
		return &APIError{Class: Request, Code: unexpectedShape, Message: c.redact.clean(msg, maxMessage),
			Hint: "check endpoint: something between this machine and the API answers for it"}
	}
	return nil
}

// probeHint says what to do about an API error whose rule gives no hint: one that a
// retry may cure while the connector runs (the daemon keeps retrying it), but that a
// check reports.
func probeHint(e *APIError, ep config.Endpoint) string {
	switch {
	case strings.HasPrefix(e.Code, "Throttling"):
		return "the API throttles this caller: another process may use the same credentials; lower api_qps or try again in a minute"
	case e.HTTPStatus >= 500:
		return "the API failed on its side: try again later"
	case e.Code == unexpectedResponse, e.Code == unexpectedShape, e.Code == "ResponseTooLarge":
		return fmt.Sprintf("what answers at %s is not the BSS OpenAPI: check endpoint (business.aliyuncs.com, or business.ap-southeast-1.aliyuncs.com for the international site)", ep)
	case e.HTTPStatus != 0:
		return "the API refused the request: check endpoint and, with accounts, bill_owner_id"
	}
	return fmt.Sprintf("cannot reach %s: check endpoint (business.aliyuncs.com, or business.ap-southeast-1.aliyuncs.com for the international site) and this machine's DNS, proxy (HTTPS_PROXY) and network", ep)
}
