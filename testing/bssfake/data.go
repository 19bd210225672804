package bssfake

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

var products = []struct{ code, name, pip string }{
	{"ecs", "云服务器 ECS", "ecs"},
	{"disk", "", "disk"}, // the seed's example: an empty ProductName
	{"oss", "对象存储 OSS", "oss"},
	{"rds", "云数据库 RDS MySQL 版", "rds"},
	{"slb", "负载均衡 SLB", "slb"},
	{"cdn", "CDN", "cdn"},
	{"sls", "日志服务 SLS", "sls"},
	{"cms", "云监控 CloudMonitor", "cms"},
	{"nat", "NAT 网关 — Ünïcødé ✓", "nat"},
	{"redisa", "云数据库 Tair (兼容 Redis®)", "redisa"},
}

// SampleDay makes n distinct rows for a day, deterministic for a seed: product lines of
// several owners, both subscription types, unicode names, some empty fields and zero amounts.
func SampleDay(day string, n int, seed uint64) []Item {
	r := rand.New(rand.NewPCG(seed, uint64(len(day))))
	out := make([]Item, 0, n)
	for i := range n {
		p := products[i%len(products)]
		owner := i / (len(products) * 2)
		sub := "PayAsYouGo"
		if (i/len(products))%2 == 1 {
			sub = "Subscription"
		}
		gross := round4(r.Float64() * 100)
		discount := round4(gross * 0.05)
		pretax := round4(gross - discount)
		it := Item{
			BillAccountID:     "1234567890123456",
			BillAccountName:   "billing-fake@example.com",
			BillingDate:       day,
			Currency:          "CNY",
			OwnerID:           fmt.Sprintf("%d", 1234567890123456+owner),
			OwnerName:         fmt.Sprintf("member-%03d", owner),
			PipCode:           p.pip,
			ProductCode:       p.code,
			ProductName:       p.name,
			SubscriptionType:  sub,
			PretaxGrossAmount: amount(gross),
			InvoiceDiscount:   amount(discount),
			PretaxAmount:      amount(pretax),
			PaymentAmount:     amount(pretax),
			CashAmount:        amount(pretax),
		}
		if i%7 == 3 { // a line paid by coupons: zero cash
			it.DeductedByCoupons, it.CashAmount, it.PaymentAmount = amount(pretax), "0", "0"
		}
		if i%11 == 5 {
			it.CostUnit = "未分配" // unallocated cost unit
		}
		if i%13 == 0 {
			it.BizType = "Internal"
		}
		out = append(out, it)
	}
	return out
}

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

// amount is the text the API writes for a number: the shortest that reads back as f, as
// encoding/json writes a float64 (these are never small or large enough for an exponent).
func amount(f float64) bill.Amount { return bill.Amount(strconv.FormatFloat(f, 'f', -1, 64)) }
