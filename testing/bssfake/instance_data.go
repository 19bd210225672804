package bssfake

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
)

type billingItem struct{ code, name, usageUnit, priceUnit string }

// instanceProducts are the products of the instance bill, each with its billing items.
var instanceProducts = []struct {
	code, name, commodity, prefix, spec, config string
	items                                       []billingItem
	zoned, intranet, internet                   bool
}{
	{"ecs", "云服务器 ECS", "ecs", "i-bp1", "ecs.g7.large", "地域:华东1（杭州）;实例规格:ecs.g7.large;CPU:2核;内存:8GB",
		[]billingItem{{"instance_type", "实例规格", "小时", "元/小时"}, {"systemdisk", "系统盘", "GB", "元/GB/小时"},
			{"internet_traffic_out", "公网流出流量", "GB", "元/GB"}}, true, true, true},
	{"yundisk", "块存储 EBS", "yundisk", "d-bp1", "cloud_essd.PL1", "容量:200GB;性能级别:PL1",
		[]billingItem{{"datadisk", "数据盘", "GB", "元/GB/小时"}}, true, false, false},
	{"oss", "对象存储 OSS", "oss", "oss-bucket-", "", "",
		[]billingItem{{"storage", "标准存储容量", "GB", "元/GB/天"}, {"netflow_out", "外网流出流量", "GB", "元/GB"},
			{"requests_put", "PUT 类请求", "万次", "元/万次"}}, false, false, false},
	{"rds", "云数据库 RDS MySQL 版", "rds", "rm-bp1", "mysql.n2.medium.1", "引擎:MySQL 8.0;规格:mysql.n2.medium.1",
		[]billingItem{{"db_instance_class", "实例规格", "小时", "元/小时"}, {"storage", "存储空间", "GB", "元/GB/小时"}}, true, true, false},
	{"slb", "负载均衡 SLB", "slb", "lb-bp1", "slb.s1.small", "",
		[]billingItem{{"instance_rent", "实例费", "小时", "元/小时"}, {"internet_traffic_out", "公网流出流量", "GB", "元/GB"}}, true, true, true},
	{"cdn", "CDN", "cdn", "static-", "", "",
		[]billingItem{{"flow", "下行流量", "GB", "元/GB"}}, false, false, false},
	{"sls", "日志服务 SLS", "sls", "log-project-", "", "",
		[]billingItem{{"storage", "存储空间", "GB", "元/GB/天"}, {"read_write_traffic", "读写流量", "GB", "元/GB"}}, false, false, false},
	{"nat", "NAT 网关 — Ünïcødé ✓", "nat", "ngw-bp1", "Small", "",
		[]billingItem{{"nat_gateway", "实例费", "小时", "元/小时"}, {"cu", "CU", "CU", "元/CU"}}, true, false, true},
	{"redisa", "云数据库 Tair (兼容 Redis®)", "redisa", "r-bp1", "redis.master.small.default", "内存:1GB",
		[]billingItem{{"instance_type", "实例规格", "小时", "元/小时"}}, true, true, false},
}

var instanceRegions = []struct {
	name  string
	zones []string
}{
	{"华东1（杭州）", []string{"cn-hangzhou-h", "cn-hangzhou-i"}},
	{"华东2（上海）", []string{"cn-shanghai-l"}},
	{"华北2（北京）", []string{"cn-beijing-g", "cn-beijing-h"}},
	{"新加坡", []string{"ap-southeast-1a"}},
	{"德国（法兰克福）", []string{"eu-central-1a"}},
}

var instanceTags = []string{
	"",
	"env:prod;team:billing",
	"env:test;endpoint:db.internal:3306", // a value with ':'
	"项目:计费;owner:alice",
	"",
	"app:web",
}

var resourceGroups = []string{"", "默认资源组", "rg-prod"}

// SampleInstanceDay makes n DescribeInstanceBill rows for a day, deterministic for a seed:
// several products, each with its billing items, in several regions and zones, both
// subscription types, some rows tagged (one tag value holds ':'), some with an empty Tag,
// ResourceGroup, NickName or Zone, unicode names. (BillingDate, OwnerID, InstanceID,
// BillingItemCode, SubscriptionType) is unique per row. Row i depends on day, seed and i
// only, and is what GenerateInstanceDay serves as row i.
func SampleInstanceDay(day string, n int, seed uint64) []InstanceItem {
	out := make([]InstanceItem, 0, max(n, 0))
	for i := range n {
		out = append(out, instanceRow(day, i, seed))
	}
	return out
}

// instanceRow is row i of a sample day. Row i is product i%P; of that product's rows,
// the k-th (k = i/P) is billing item k%B of instance k/B, so that an instance and its
// billing item name one row only.
func instanceRow(day string, i int, seed uint64) InstanceItem {
	h := fnv.New64a()
	_, _ = h.Write([]byte(day))
	r := rand.New(rand.NewPCG(seed^h.Sum64(), uint64(i)))

	p := instanceProducts[i%len(instanceProducts)]
	k := i / len(instanceProducts)
	bi := p.items[k%len(p.items)]
	num := k / len(p.items) // the instance, within its product
	owner := num % 4
	sub, item, period, periodUnit := "PayAsYouGo", "PayAsYouGoBill", "86400", "秒"
	if num%3 == 1 {
		sub, item, period, periodUnit = "Subscription", "SubscriptionOrder", "1", "天"
	}
	region := instanceRegions[(num+i%len(instanceProducts))%len(instanceRegions)]
	zone := ""
	if p.zoned {
		zone = region.zones[num%len(region.zones)]
	}
	var intranet, internet string
	if p.intranet {
		intranet = fmt.Sprintf("172.16.%d.%d", num/250%250, num%250+2)
	}
	if p.internet && num%2 == 0 {
		internet = fmt.Sprintf("47.96.%d.%d", num/250%250, num%250+2)
	}
	nick := ""
	if num%4 != 0 {
		nick = fmt.Sprintf("%s-%s-%03d", p.code, []string{"web", "数据库", "batch"}[num%3], num%1000)
	}

	usage := round4(r.Float64() * 100)
	price := round4(0.01 + r.Float64())
	gross := round4(usage * price)
	discount := round4(gross * 0.05)
	pretax := round4(gross - discount)
	it := InstanceItem{
		BillAccountID:             "1234567890123456",
		BillAccountName:           "billing-fake@example.com",
		BillingDate:               day,
		BillingItem:               bi.name,
		BillingItemCode:           bi.code,
		BillingType:               "Normal",
		CommodityCode:             p.commodity,
		Currency:                  "CNY",
		DeductedByResourcePackage: "0",
		InstanceConfig:            p.config,
		InstanceID:                p.prefix + fmt.Sprintf("%010d", num),
		InstanceSpec:              p.spec,
		InternetIP:                internet,
		IntranetIP:                intranet,
		Item:                      item,
		ListPrice:                 strconv.FormatFloat(price, 'f', 4, 64),
		ListPriceUnit:             bi.priceUnit,
		NickName:                  nick,
		OwnerID:                   strconv.Itoa(1234567890123456 + owner),
		PipCode:                   p.code,
		ProductCode:               p.code,
		ProductDetail:             p.name,
		ProductName:               p.name,
		ProductType:               "",
		Region:                    region.name,
		ResourceGroup:             resourceGroups[num%len(resourceGroups)],
		ServicePeriod:             period,
		ServicePeriodUnit:         periodUnit,
		SubscriptionType:          sub,
		Tag:                       instanceTags[num%len(instanceTags)],
		Usage:                     strconv.FormatFloat(usage, 'f', 4, 64),
		UsageUnit:                 bi.usageUnit,
		Zone:                      zone,
		PretaxGrossAmount:         gross,
		InvoiceDiscount:           discount,
		PretaxAmount:              pretax,
		PaymentAmount:             pretax,
		CashAmount:                pretax,
	}
	switch {
	case i%7 == 3: // paid by coupons: zero cash
		it.DeductedByCoupons, it.CashAmount, it.PaymentAmount = pretax, 0, 0
	case i%17 == 9: // not paid yet
		it.OutstandingAmount, it.CashAmount, it.PaymentAmount = pretax, 0, 0
	case i%19 == 4: // partly from a resource package
		it.DeductedByResourcePackage = strconv.FormatFloat(round4(usage/2), 'f', 4, 64) + bi.usageUnit
	}
	if num%11 == 5 {
		it.CostUnit = "未分配" // unallocated cost unit
	}
	if num%13 == 0 {
		it.BizType = "Internal"
	}
	return it
}
