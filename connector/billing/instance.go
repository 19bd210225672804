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
// NextToken until the API answers an empty one, calling fn with each checked page. again
// is true when the bill has to be read again from its start: the API refused the NextToken
// (it expires), or TotalCount changed while paging.
//
// Pages must advance: a NextToken, or a page of items, that comes again in the same read
// is ErrInconsistent, as are an empty page with a NextToken, more rows than TotalCount,
// and a last page before TotalCount rows.
func (c *Client) streamInstance(ctx context.Context, day calendar.Day, read int, fn func(Page) error) (again bool, err error) {
	inconsistent := func(page int, format string, args ...any) error {
		return fmt.Errorf("query instance bill %s page %d: %w: %s", day, page, ErrInconsistent, c.redact.clean(fmt.Sprintf(format, args...), maxMessage))
	}
	token, total, count := "", -1, 0
	tokens := map[uint64]int{} // token hash -> the page that answered it
	pages := map[uint64]int{}  // page hash -> page number
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		data, err := c.instancePage(ctx, day, page, token)
		if err != nil {
			var apiErr *APIError
			if errors.As(err, &apiErr) && tokenRefused(apiErr) && page > 1 {
				c.log.Warn("the API refused the NextToken (expired?); reading the instance bill again from its start",
					"day", day.String(), "page", page, "code", apiErr.Code, "read", read+1)
				return true, nil
			}
			return false, fmt.Errorf("query instance bill %s page %d: %w", day, page, err)
		}
		rows := data.rows
		switch {
		case data.total < 0:
			return false, inconsistent(page, "TotalCount is %d, below zero", data.total)
		case data.total > MaxInstanceRows:
			return false, inconsistent(page, "TotalCount is %d, above the %d rows a day's instance bill can have", data.total, MaxInstanceRows)
		case len(rows) > MaxResults:
			return false, inconsistent(page, "%d rows on a page of at most %d", len(rows), MaxResults)
		case len(data.token) > MaxTokenBytes:
			return false, inconsistent(page, "a NextToken of %d bytes, more than %d", len(data.token), MaxTokenBytes)
		}
		if msg := checkDay(data, day); msg != "" {
			return false, inconsistent(page, "%s", msg)
		}
		if total == -1 {
			total = data.total
		} else if data.total != total {
			c.log.Warn("bill changed while paging, reading the day again from its start", "bill", "instance", "day", day.String(), "read", read+1)
			return true, nil
		}
		if data.token != "" {
			h := hash64(data.token)
			if p, ok := tokens[h]; ok {
				return false, inconsistent(page, "the NextToken of page %d came again: the pages do not advance", p)
			}
			tokens[h] = page
		}
		if h, ok := pageHash(rows); ok {
			if p, dup := pages[h]; dup {
				return false, inconsistent(page, "page %d repeats page %d (the same %d rows): the pages do not advance", page, p, len(rows))
			}
			pages[h] = page
		}
		count += len(rows)
		switch {
		case count > total:
			return false, inconsistent(page, "%d rows read by this page (%d on it) but TotalCount is %d", count, len(rows), total)
		case data.token == "" && count < total:
			return false, inconsistent(page, "the last page (no NextToken) with %d of %d rows read; try later", count, total)
		case data.token != "" && len(rows) == 0:
			return false, inconsistent(page, "an empty page with a NextToken, %d of %d rows read; try later", count, total)
		}
		c.log.Debug("page read", "bill", "instance", "day", day.String(), "page", page, "rows", len(rows), "total", total)
		if err := fn(Page{Rows: rows, Number: page, Read: read, Total: total}); err != nil {
			return false, err
		}
		if data.token == "" {
			return false, nil
		}
		token = data.token
	}
}

// tokenRefused reports whether the API refused the NextToken sent: as documented, a token
// that is not the last one answered (reused, or expired) is an error. Its code names the
// parameter.
func tokenRefused(e *APIError) bool {
	return strings.Contains(strings.ToLower(e.Code), "nexttoken") ||
		strings.HasPrefix(e.Code, "InvalidParameter") && strings.Contains(strings.ToLower(e.Message), "nexttoken")
}

// instancePage calls DescribeInstanceBill for the page after token ("" for the first)
// and reads its answer (readAnswer).
func (c *Client) instancePage(ctx context.Context, day calendar.Day, page int, token string) (*answerPage, error) {
	var read *answerPage
	err := c.query(ctx, []any{"bill", "instance", "day", day.String(), "page", page}, func() requests.AcsRequest {
		req := bssopenapi.CreateDescribeInstanceBillRequest()
		req.BillingCycle = day.Cycle()
		req.BillingDate = day.String()
		req.Granularity = "DAILY"
		req.IsBillingItem = requests.NewBoolean(true)
		req.MaxResults = requests.NewInteger(MaxResults)
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
