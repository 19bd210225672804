package focus

import (
	"encoding/json"
	"sort"
	"strings"
)

// The instance bill's Item (the kind of line) and SubscriptionType, as the API writes them.
const (
	itemPayAsYouGo   = "PayAsYouGoBill"    // a pay-as-you-go line
	itemOrder        = "SubscriptionOrder" // a subscription bought (or renewed)
	itemRefund       = "Refund"            // a subscription refunded
	itemAdjustment   = "Adjustment"        // Alibaba's correction of a bill already issued
	typeSubscription = "Subscription"
)

// chargeCategory: a pay-as-you-go line is Usage; an order is a Purchase and so is the
// refund of a subscription (FOCUS: "Purchase ... including refunds"), the refund of a
// pay-as-you-go charge is negative Usage; an adjustment is an Adjustment. An Item the
// table does not know is a Purchase for a subscription and Usage otherwise.
func chargeCategory(it item) string {
	sub := it.s("SubscriptionType") == typeSubscription
	switch it.s("Item") {
	case itemPayAsYouGo:
		return "Usage"
	case itemOrder:
		return "Purchase"
	case itemAdjustment:
		return "Adjustment"
	}
	if sub {
		return "Purchase"
	}
	return "Usage"
}

// chargeClass is "Correction" for Alibaba's adjustments (they correct bills already
// issued), null for everything else: a refund is a new charge of the current period.
func chargeClass(category string) string {
	if category == "Adjustment" {
		return "Correction"
	}
	return ""
}

// chargeFrequency: a purchase or an adjustment happens once; usage of a subscription
// recurs whether used or not; pay-as-you-go usage is usage-based.
func chargeFrequency(it item, category string) string {
	switch {
	case category != "Usage":
		return "One-Time"
	case it.s("SubscriptionType") == typeSubscription:
		return "Recurring"
	}
	return "Usage-Based"
}

// pricingCategory: null for an adjustment (a correction); Committed for usage that a
// resource package (a prepaid commitment of usage) paid for, in part or whole; Standard
// otherwise (Alibaba's list or agreed price, pay-as-you-go or subscription).
func pricingCategory(it item, category string) string {
	switch {
	case category == "Adjustment":
		return ""
	case category == "Usage" && packageDeducted(it.s("DeductedByResourcePackage")):
		return "Committed"
	}
	return "Standard"
}

// packageDeducted reports whether DeductedByResourcePackage ("12.5GB", "0", "") says a
// resource package paid for some of the line.
func packageDeducted(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return true // a quantity the API wrote some other way: still a deduction
	}
	return strings.Trim(s[:i], "0.") != ""
}

// units are Alibaba's units (UsageUnit, ServicePeriodUnit) in FOCUS's Unit Format; a unit
// not listed is kept as the API wrote it (FOCUS's string handling).
var units = map[string]string{
	"秒": "Seconds", "分钟": "Minutes", "小时": "Hours", "天": "Days", "日": "Days", "月": "Months", "年": "Years",
	"个": "Units", "次": "Requests", "万次": "10000 Requests", "核": "Cores", "核*小时": "Core-Hours",
	"GB*小时": "GB-Hours", "GB*天": "GB-Days", "GB/天": "GB/Day", "Mbps": "Mb/Second", "CU": "CU",
	"Second": "Seconds", "Hour": "Hours", "Day": "Days", "Month": "Months", "Year": "Years",
}

func unit(s string) string {
	s = strings.TrimSpace(s)
	if u, ok := units[s]; ok {
		return u
	}
	return s
}

// Tags: FOCUS's Tags column (a key-value object) from the instance bill's Tag,
// "key1:value1;key2:value2". Pairs are split at ';', a pair at its first ':' (a value may
// hold ':'). Keys lose the spaces around them (they separate pairs: "a:1; b:2"); values
// are kept exactly as written, spaces and all (FOCUS: values never altered). A key
// without ':' has no value: true. A pair with an empty key is no tag and is skipped; a
// key given twice keeps its last value. Alibaba's own tags (keys starting "acs:" or
// "aliyun", prefixes Alibaba reserves, that users cannot give their tags) are kept as they
// are: their prefix is the provider-defined tag prefix FOCUS asks for. An "acs:" key has
// three parts, "acs:<product>:<name>" ("acs:rm:rgId:rg-123" is the key acs:rm:rgId with
// the value rg-123). No tag: null.
func tags(s string) []byte {
	m := map[string]any{}
	for _, p := range strings.Split(s, ";") {
		k, v, hasValue := cutTag(p)
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if hasValue {
			m[k] = v
		} else {
			m[k] = true
		}
	}
	if len(m) == 0 {
		return jsonNull
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(m[k])
		b = append(append(append(b, kb...), ':'), vb...)
	}
	return append(b, '}')
}

// cutTag splits one pair at the colon that ends its key (see tags).
func cutTag(p string) (k, v string, hasValue bool) {
	if rest, ok := strings.CutPrefix(strings.TrimLeft(p, " "), "acs:"); ok {
		parts := strings.SplitN(rest, ":", 3)
		if len(parts) == 3 {
			return "acs:" + parts[0] + ":" + parts[1], parts[2], true
		}
		return "acs:" + rest, "", false
	}
	return strings.Cut(p, ":")
}
