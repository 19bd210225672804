package cli

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// limit is one hard limit of the connector as --help says it: what it bounds, and the
// bound, written from the constant that enforces it (never a number copied by hand).
type limit struct{ what, bound string }

// limits are the connector's hard limits, for --help's Limits block.
func limits() []limit {
	return []limit{
		{"accounts", fmt.Sprintf("at most %s entries in accounts", count(config.MaxAccounts))},
		{"config file", fmt.Sprintf("at most %s", size(config.MaxFileBytes))},
		{"days back", fmt.Sprintf("at most %s (the API's 18 months): --date, --from, --to, --catch-up-from, catchup_days", count(config.MaxDaysBack))},
		{"kafka brokers", fmt.Sprintf("at most %s seed brokers in a kafka:// v_target", count(config.MaxBrokers))},
		{"API answer", fmt.Sprintf("a body of at most %s; a larger one fails the page (ResponseTooLarge)", size(billing.MaxResponseBytes))},
		{"API attempts", fmt.Sprintf("%d calls per page (throttling, 5xx, timeouts, garbled answers)", billing.DefaultPolicy.Attempts)},
		{"account bill", fmt.Sprintf("TotalCount 0..%s rows a day; at most %s rows a page", count(billing.MaxTotalCount), count(billing.PageSize))},
		{"instance bill", fmt.Sprintf("TotalCount 0..%s rows a day; at most %s items a page; a NextToken of at most %s",
			count(billing.MaxInstanceRows), count(billing.MaxResults), size(billing.MaxTokenBytes))},
		{"instance item", fmt.Sprintf("at most %s members, member names of at most %s, values of at most %s, %s tags",
			count(bill.MaxInstanceFields), size(bill.MaxFieldName), size(bill.MaxValueBytes), count(bill.MaxTags))},
		{"re-reads", fmt.Sprintf("at most %d of a bill that moves while read (TotalCount changes, NextToken expires, a row comes twice); then the day fails", job.MaxReReads)},
		{"receiver", fmt.Sprintf("%d attempts per event; 307/308 followed at most %d hops (the API's redirects never)",
			sender.DefaultPolicy.Attempts, sender.MaxRedirects)},
		{"state keys", fmt.Sprintf("a row identity longer than %s is stored under its SHA-256", size(state.MaxKeyLen))},
	}
}

// printLimits writes the Limits block of --help.
func printLimits(w io.Writer) {
	fmt.Fprint(w, "\nLimits:\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, l := range limits() {
		fmt.Fprintf(tw, "  %s\t%s\n", l.what, l.bound)
	}
	_ = tw.Flush()
}

// count writes n with thousands separators: 1,000,000.
func count(n int) string {
	if n < 0 {
		return "-" + count(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// size writes a byte count in the largest binary unit that divides it: 16 MiB, 4 KiB, 128 bytes.
func size(n int) string {
	switch {
	case n != 0 && n%(1<<20) == 0:
		return count(n>>20) + " MiB"
	case n != 0 && n%(1<<10) == 0:
		return count(n>>10) + " KiB"
	}
	return count(n) + " bytes"
}
