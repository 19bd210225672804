package bssfake

import (
	"fmt"
	"strconv"
	"time"
)

// The FOCUS month: instance-bill days with every kind of line the FOCUS mapping must
// handle, amounts consistent as Alibaba's are (PretaxAmount = PretaxGrossAmount -
// InvoiceDiscount - DeductedByCoupons; PretaxAmount = PaymentAmount + DeductedByCashCoupons
// + DeductedByPrepaidCard + OutstandingAmount; ListPrice x Usage = PretaxGrossAmount):
//
//   - pay-as-you-go usage every day: an ECS instance, an OSS bucket, CDN traffic, a log
//     project, and a product whose code no table knows (FocusUnknownProduct);
//   - a one-month RDS subscription bought on the 15th (FocusSubscription, FocusSubscriptionCost),
//     with pay-as-you-go backup lines of the same instance from the 20th;
//   - an ECS subscription bought on the 3rd and refunded on the 10th (FocusRefunded);
//   - an adjustment on the 12th;
//   - resource-package deductions (OSS, even days), coupon deductions (CDN, every third
//     day), cash coupons and a prepaid card (the log project), an unpaid line;
//   - tags with spaces, colons, Chinese characters, a valueless key and one of Alibaba's
//     own (acs:).
const (
	FocusOwner            = "1234567890123456"
	FocusSubscription     = "rm-focussub0001" // the instance bought on the 15th for a month
	FocusSubscriptionCost = "300"             // its PretaxAmount
	FocusRefunded         = "i-focussub0002"  // bought on the 3rd, refunded on the 10th
	FocusUnknownProduct   = "zz-unlisted"
)

// FocusDay is one billing day of FocusMonth.
type FocusDay struct {
	Date  string // YYYY-MM-DD
	Items []InstanceItem
}

// FocusMonth makes the FOCUS month's instance-bill days for month (YYYY-MM), every day of
// it, deterministic.
func FocusMonth(month string) ([]FocusDay, error) {
	m, err := time.Parse("2006-01", month)
	if err != nil {
		return nil, fmt.Errorf("month %q is not YYYY-MM", month)
	}
	var out []FocusDay
	for d := m; d.Month() == m.Month(); d = d.AddDate(0, 0, 1) {
		out = append(out, FocusDay{Date: d.Format(time.DateOnly), Items: focusDay(d.Format(time.DateOnly), d.Day())})
	}
	return out, nil
}

// FocusDayOf is the FOCUS month's lines of one date (YYYY-MM-DD): the lines FocusMonth
// gives that day, for a caller that serves a few days rather than a month.
func FocusDayOf(date string) ([]InstanceItem, error) {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return nil, fmt.Errorf("date %q is not YYYY-MM-DD", date)
	}
	return focusDay(date, d.Day()), nil
}

// SetFocusMonth serves FocusMonth(month) as the instance bill of its days.
func (s *Server) SetFocusMonth(month string) error {
	days, err := FocusMonth(month)
	if err != nil {
		return err
	}
	for _, d := range days {
		s.SetInstanceDay(d.Date, d.Items)
	}
	return nil
}

// money is an amount given in ten-thousandths of a yuan, as the float64 the SDK's item
// holds: parsed from its decimal text, so that it is written back with the same digits.
func money(u int64) float64 {
	sign := ""
	if u < 0 {
		sign, u = "-", -u
	}
	f, _ := strconv.ParseFloat(fmt.Sprintf("%s%d.%04d", sign, u/10000, u%10000), 64)
	return f
}

func decimal4(u int64) string { return strconv.FormatFloat(money(u), 'f', -1, 64) }

// line is one instance-bill line of the month, amounts in ten-thousandths.
type line struct {
	product, name, instance, itemCode, itemName string
	sub, item, period, periodUnit               string
	usage, price                                int64 // ten-thousandths: 24 hours is 240000
	usageUnit, priceUnit                        string
	gross, discount, coupons                    int64
	cashCoupons, prepaid, outstanding           int64
	pkg, tag, zone, region, nick                string
}

func (l line) instanceItem(day string) InstanceItem {
	pretax := l.gross - l.discount - l.coupons
	cash := pretax - l.cashCoupons - l.prepaid - l.outstanding
	it := InstanceItem{BillAccountID: FocusOwner, BillAccountName: "billing-fake@example.com", BillingDate: day,
		BillingItem: l.itemName, BillingItemCode: l.itemCode, BillingType: "Normal", CommodityCode: l.product,
		CostUnit: "FinOps 团队", Currency: "CNY", DeductedByResourcePackage: l.pkg, InstanceID: l.instance,
		Item: l.item, NickName: l.nick, OwnerID: FocusOwner, PipCode: l.product, ProductCode: l.product,
		ProductDetail: l.name, ProductName: l.name, Region: l.region, ResourceGroup: "rg-focus",
		ServicePeriod: l.period, ServicePeriodUnit: l.periodUnit, SubscriptionType: l.sub, Tag: l.tag,
		UsageUnit: l.usageUnit, ListPriceUnit: l.priceUnit, Zone: l.zone,
		PretaxGrossAmount: money(l.gross), InvoiceDiscount: money(l.discount), DeductedByCoupons: money(l.coupons),
		PretaxAmount: money(pretax), DeductedByCashCoupons: money(l.cashCoupons), DeductedByPrepaidCard: money(l.prepaid),
		OutstandingAmount: money(l.outstanding), PaymentAmount: money(cash), CashAmount: money(cash)}
	if l.usage != 0 || l.price != 0 {
		it.Usage, it.ListPrice = decimal4(l.usage), decimal4(l.price)
	}
	if it.DeductedByResourcePackage == "" {
		it.DeductedByResourcePackage = "0"
	}
	return it
}

// focusDay is the lines of day (the n-th of its month).
func focusDay(day string, n int) []InstanceItem {
	n64 := int64(n)
	payg := func(l line) line {
		l.sub, l.item, l.period, l.periodUnit = "PayAsYouGo", "PayAsYouGoBill", "86400", "秒"
		l.gross = l.usage * l.price / 10000
		return l
	}
	ecs := line{product: "ecs", name: "云服务器 ECS", instance: "i-focusecs0001", nick: "web-01",
		region: "华东1（杭州）", zone: "cn-hangzhou-h", tag: "env:prod;cost center:R&D team;项目:计费 系统"}
	vm := ecs
	vm.itemCode, vm.itemName, vm.usageUnit, vm.priceUnit = "instance_type", "实例规格", "小时", "元/小时"
	vm.usage, vm.price = (20+n64%5)*10000, 5000
	vm = payg(vm)
	vm.discount = vm.gross / 10
	oss := payg(line{product: "oss", name: "对象存储 OSS", instance: "oss-focus-bucket", region: "华东2（上海）",
		tag: "endpoint:db.internal:3306;acs:oss:storage-class:Standard", itemCode: "storage", itemName: "标准存储容量",
		usage: (100 + n64) * 10000, price: 40, usageUnit: "GB", priceUnit: "元/GB/天"})
	if n%2 == 0 { // 50 GB of the day from a resource package
		oss.pkg, oss.discount = "50GB", 50*40
	}
	cdn := payg(line{product: "cdn", name: "CDN", instance: "static-focus.example.com", tag: "团队:内容分发;cdn-flag",
		itemCode: "flow", itemName: "下行流量", usage: ((10+n64%5)*10 + 5) * 1000, price: 2400, usageUnit: "GB", priceUnit: "元/GB"})
	if n%3 == 0 {
		cdn.coupons = 5000
	}
	sls := payg(line{product: "sls", name: "日志服务 SLS", instance: "log-focus-project", region: "新加坡",
		itemCode: "storage", itemName: "存储空间", usage: (5 + n64%3) * 10000, price: 3500, usageUnit: "GB", priceUnit: "元/GB/天"})
	switch {
	case n%7 == 0:
		sls.outstanding = sls.gross
	case n%4 == 1:
		sls.cashCoupons = 10000
	case n%4 == 2:
		sls.prepaid = 5000
	}
	unknown := payg(line{product: FocusUnknownProduct, name: "未知产品 (测试)", instance: "zz-0001", region: "火星（一区）",
		tag: "owner:张三", itemCode: "api_calls", itemName: "调用次数", usage: 1000 * 10000, price: 10, usageUnit: "次", priceUnit: "元/次"})
	lines := []line{vm, oss, cdn, sls, unknown}
	lines = append(lines, focusEvents(n, ecs)...)
	out := make([]InstanceItem, len(lines))
	for i, l := range lines {
		out[i] = l.instanceItem(day)
	}
	return out
}

// focusEvents are the lines of the n-th day that happen once: subscriptions bought, a
// refund, an adjustment, and the pay-as-you-go lines of the bought RDS instance.
func focusEvents(n int, ecs line) []line {
	rds := line{product: "rds", name: "云数据库 RDS MySQL 版", instance: FocusSubscription, nick: "订单库",
		region: "华北2（北京）", zone: "cn-beijing-g", tag: "env:prod;应用:订单 服务"}
	var out []line
	switch n {
	case 3:
		l := ecs
		l.instance, l.nick, l.sub, l.item, l.period, l.periodUnit = FocusRefunded, "batch-01", "Subscription", "SubscriptionOrder", "1", "月"
		l.itemCode, l.itemName, l.usage, l.price, l.usageUnit, l.priceUnit = "instance_type", "实例规格", 10000, 1500000, "月", "元/月"
		l.gross = 1500000
		out = append(out, l)
	case 10:
		l := ecs
		l.instance, l.nick, l.sub, l.item = FocusRefunded, "batch-01", "Subscription", "Refund"
		l.itemCode, l.itemName, l.gross = "instance_type", "实例规格", -1000000
		out = append(out, l)
	case 12:
		l := ecs
		l.sub, l.item, l.itemCode, l.itemName, l.gross = "PayAsYouGo", "Adjustment", "instance_type", "实例规格", -25000
		out = append(out, l)
	case 15:
		l := rds
		l.sub, l.item, l.period, l.periodUnit = "Subscription", "SubscriptionOrder", "1", "月"
		l.itemCode, l.itemName, l.usage, l.price, l.usageUnit, l.priceUnit = "db_instance_class", "实例规格", 10000, 4000000, "月", "元/月"
		l.gross, l.discount = 4000000, 1000000
		out = append(out, l)
	}
	if n >= 20 {
		l := rds
		l.sub, l.item, l.period, l.periodUnit = "PayAsYouGo", "PayAsYouGoBill", "86400", "秒"
		l.itemCode, l.itemName, l.usage, l.price, l.usageUnit, l.priceUnit = "backup_storage", "备份存储", int64(2+n%3)*10000, 2000, "GB", "元/GB"
		l.gross = l.usage * l.price / 10000
		out = append(out, l)
	}
	return out
}
