package cli

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// --help has a Limits block that names every hard limit with the value of the constant
// that enforces it: a clause of the block (its lines cut at ';' and ', ') holds the
// limit's words and the value.
func TestHelp_LimitsNameEveryHardLimitWithItsConstant(t *testing.T) {
	var b bytes.Buffer
	printHelp(&b)
	help := b.String()
	i := strings.Index(help, "\nLimits:\n")
	require.GreaterOrEqual(t, i, 0, "a Limits block in --help")
	block := help[i+len("\nLimits:\n"):]
	block = block[:strings.Index(block, "\n\n")]
	for _, c := range []struct {
		constant, words, value string
	}{
		{"config.MaxAccounts", "entries in accounts", count(config.MaxAccounts)},
		{"config.MaxFileBytes", "config file", size(config.MaxFileBytes)},
		{"config.MaxDaysBack", "days back", count(config.MaxDaysBack)},
		{"config.MaxBrokers", "kafka", count(config.MaxBrokers)},
		{"billing.MaxResponseBytes", "API answer", size(billing.MaxResponseBytes)},
		{"billing.DefaultPolicy.Attempts", "calls per page", strconv.Itoa(billing.DefaultPolicy.Attempts)},
		{"billing.MaxTotalCount", "account bill", count(billing.MaxTotalCount)},
		{"billing.PageSize", "rows a page", count(billing.PageSize)},
		{"billing.MaxInstanceRows", "instance bill", count(billing.MaxInstanceRows)},
		{"billing.MaxResults", "items a page", count(billing.MaxResults)},
		{"billing.MaxTokenBytes", "NextToken", size(billing.MaxTokenBytes)},
		{"bill.MaxInstanceFields", "members", count(bill.MaxInstanceFields)},
		{"bill.MaxFieldName", "member names", size(bill.MaxFieldName)},
		{"bill.MaxValueBytes", "values", size(bill.MaxValueBytes)},
		{"bill.MaxTags", "tags", count(bill.MaxTags)},
		{"job.MaxReReads", "re-reads", strconv.Itoa(job.MaxReReads)},
		{"sender.DefaultPolicy.Attempts", "attempts per event", strconv.Itoa(sender.DefaultPolicy.Attempts)},
		{"sender.MaxRedirects", "307/308", strconv.Itoa(sender.MaxRedirects)},
		{"state.MaxKeyLen", "row identity", size(state.MaxKeyLen)},
	} {
		value := regexp.MustCompile(`(^|[^0-9,])` + regexp.QuoteMeta(c.value) + `($|[^0-9,]|,\D)`)
		found := false
		for _, clause := range regexp.MustCompile(`\n|;|, `).Split(block, -1) {
			found = found || strings.Contains(clause, c.words) && value.MatchString(clause)
		}
		assert.True(t, found, "%s: no clause of the Limits block says %q with %s:\n%s", c.constant, c.words, c.value, block)
	}
}

func TestCountAndSize(t *testing.T) {
	assert.Equal(t, "1,000,000", count(1_000_000))
	assert.Equal(t, "20,000,000", count(20_000_000))
	assert.Equal(t, "540", count(540))
	assert.Equal(t, "-1,000", count(-1000))
	assert.Equal(t, "16 MiB", size(16<<20))
	assert.Equal(t, "64 KiB", size(64<<10))
	assert.Equal(t, "128 bytes", size(128))
	assert.Equal(t, "0 bytes", size(0))
	assert.Equal(t, "1,536 KiB", size(3<<19))
}
