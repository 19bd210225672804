package billing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/bssopenapi"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// MaxResults is the largest page DescribeInstanceBill serves.
const MaxResults = 300

// MaxInstanceRows is the most rows a day's instance bill is believed to have (the largest
// accounts have about a million); a larger TotalCount is a broken answer.
const MaxInstanceRows = 20_000_000

// MaxTokenBytes bounds a NextToken: it is sent back in the next request's URL.
const MaxTokenBytes = 4096

// streamInstance reads DescribeInstanceBill (daily, by billing item) from an empty
// NextToken until the API answers an empty one, calling fn with each checked page
// (checkInstance). The API refusing a NextToken (it expires) is a *bill.MovedError, as is
// a TotalCount that changed while paging: the bill can only be read again from its start.
func (c *Client) streamInstance(ctx context.Context, day calendar.Day, fn func(Page) error) error {
	ps := c.newPages("instance bill", day)
	tokens := map[uint64]int{} // token hash -> the page that answered it
	token := ""
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Only the rows and the token outlive the answer: the page is the planner's once fn
		// has it, and nothing here holds it while fn waits for room to read the next one
		// (every account waiting so would pin a page outside the budget).
		rows, next, err := c.instanceRows(ctx, ps, day, page, token, tokens)
		if err != nil {
			return err
		}
		if err := fn(Page{Rows: rows, Number: page, Total: ps.total}); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		token = next
	}
}

// instanceRows asks for the page after token and checks it (checkInstance): its rows and
// its NextToken.
func (c *Client) instanceRows(ctx context.Context, ps *pages, day calendar.Day, page int, token string, tokens map[uint64]int) ([]bill.Row, string, error) {
	data, err := c.instancePage(ctx, day, page, MaxResults, token)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && tokenRefused(apiErr) && page > 1:
		return nil, "", &bill.MovedError{Page: page, What: fmt.Sprintf("the API refused the NextToken of page %d (expired?): %s", page, apiErr.Code)}
	case err != nil:
		return nil, "", fmt.Errorf("query instance bill %s page %d: %w", day, page, err)
	}
	if err := ps.checkInstance(page, data, tokens); err != nil {
		return nil, "", err
	}
	c.log.Debug("page read", "bill", "instance", "day", day.String(), "page", page, "rows", len(data.rows), "total", ps.total)
	return data.rows, data.token, nil
}

// checkInstance checks an instance-bill page and counts its rows. Pages must advance: a
// NextToken (tokens: hash -> the page that answered it), or a page of items, that comes
// again in the same read is ErrInconsistent, as are an empty page with a NextToken, more
// rows than TotalCount, and a last page before TotalCount rows. A TotalCount that changed
// is a *bill.MovedError.
func (ps *pages) checkInstance(page int, data *answerPage, tokens map[uint64]int) error {
	rows := data.rows
	switch {
	case data.total < 0:
		return ps.inconsistent(page, "TotalCount is %d, below zero", data.total)
	case data.total > MaxInstanceRows:
		return ps.inconsistent(page, "TotalCount is %d, above the %d rows a day's instance bill can have", data.total, MaxInstanceRows)
	case len(rows) > MaxResults:
		return ps.inconsistent(page, "%d rows on a page of at most %d", len(rows), MaxResults)
	case len(data.token) > MaxTokenBytes:
		return ps.inconsistent(page, "a NextToken of %d bytes, more than %d", len(data.token), MaxTokenBytes)
	}
	if msg := checkDay(data, ps.day); msg != "" {
		return ps.inconsistent(page, "%s", msg)
	}
	if err := ps.sameTotal(page, data.total); err != nil {
		return err
	}
	if data.token != "" {
		h := hash64(data.token)
		if p, ok := tokens[h]; ok {
			return ps.inconsistent(page, "the NextToken of page %d came again: the pages do not advance", p)
		}
		tokens[h] = page
	}
	if err := ps.add(page, rows, ": the pages do not advance"); err != nil {
		return err
	}
	count, total := ps.count, ps.total
	switch {
	case count > total:
		return ps.inconsistent(page, "%d rows read by this page (%d on it) but TotalCount is %d", count, len(rows), total)
	case data.token == "" && count < total:
		return ps.inconsistent(page, "the last page (no NextToken) with %d of %d rows read; try later", count, total)
	case data.token != "" && len(rows) == 0:
		return ps.inconsistent(page, "an empty page with a NextToken, %d of %d rows read; try later", count, total)
	}
	return nil
}

// tokenRefused reports whether the API refused the NextToken sent: as documented, a token
// that is not the last one answered (reused, or expired) is an error. Its code names the
// parameter.
func tokenRefused(e *APIError) bool {
	return strings.Contains(strings.ToLower(e.Code), "nexttoken") ||
		strings.HasPrefix(e.Code, "InvalidParameter") && strings.Contains(strings.ToLower(e.Message), "nexttoken")
}

// instancePage calls DescribeInstanceBill for the page of size items after token ("" for
// the first) and reads its answer (readAnswer).
func (c *Client) instancePage(ctx context.Context, day calendar.Day, page, size int, token string) (*answerPage, error) {
	var read *answerPage
	err := c.query(ctx, []any{"bill", "instance", "day", day.String(), "page", page}, func() requests.AcsRequest {
		req := bssopenapi.CreateDescribeInstanceBillRequest()
		req.BillingCycle = day.Cycle()
		req.BillingDate = day.String()
		req.Granularity = "DAILY"
		req.IsBillingItem = requests.NewBoolean(true)
		req.MaxResults = requests.NewInteger(size)
		req.NextToken = token
		if c.owner != 0 {
			req.BillOwnerId = requests.NewInteger64(c.owner)
		}
		return req
	}, func(top map[string][]byte) (pr *problem) {
		read, pr = c.readAnswer(bill.Instance, top)
		return pr
	})
	return read, err
}

func hash64(s string) uint64 {
	h := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(h[:8])
}
