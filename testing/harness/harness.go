// Package harness is what the end-to-end and fault-injection suites share: the fake BSS
// API and the recording sink started on loopback, a config.json for them, and small
// helpers to read what arrived.
package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"

	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// wallClock is the connector's clock package: the one place that reads the time.
var wallClock = clock.New()

// Buffer is a strings.Builder that the connector's logger and a test can share.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }
func (b *Buffer) String() string              { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// Env is a fake BSS API and a recording sink on loopback, and a directory for configs and
// the state file.
type Env struct {
	API       *bssfake.Server
	Sink      *sink.Sink
	Dir       string
	StatePath string
	KeyID     string
	Secret    string
}

// NewEnv starts both fakes; they stop when the test ends.
func NewEnv(t testing.TB, keyID, secret string) *Env {
	t.Helper()
	api := bssfake.New(bssfake.Options{Keys: map[string]string{keyID: secret}})
	require.NoError(t, api.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = api.Close() })
	k := sink.New()
	require.NoError(t, k.Start("127.0.0.1:0"))
	t.Cleanup(k.Close)
	dir := t.TempDir()
	return &Env{API: api, Sink: k, Dir: dir, StatePath: filepath.Join(dir, "state.db"), KeyID: keyID, Secret: secret}
}

// Config writes a config.json with the seed's keys (note secret_access_Key) for this
// environment; extra overrides keys, and a nil value removes one.
func (e *Env) Config(t testing.TB, extra map[string]any) string {
	t.Helper()
	c := map[string]any{"v_target": e.Sink.URL(), "access_key_id": e.KeyID, "secret_access_Key": e.Secret,
		"endpoint": e.API.URL(), "pull_hour": 2, "pull_zone": "Asia/Shanghai", "state_path": e.StatePath}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	p := filepath.Join(e.Dir, fmt.Sprintf("config-%d.json", wallClock.Now().UnixNano()))
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// IDs counts the events per id.
func IDs(rs []sink.Received) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[r.Event.ID()]++
	}
	return m
}

// RowOf is the connector's view of a row the fake serves.
func RowOf(it bssfake.Item) billing.Row {
	return billing.Row{AdjustAmount: it.AdjustAmount, BillAccountID: it.BillAccountID, BillAccountName: it.BillAccountName,
		BillingDate: it.BillingDate, BizType: it.BizType, CashAmount: it.CashAmount, CostUnit: it.CostUnit,
		Currency: it.Currency, DeductedByCashCoupons: it.DeductedByCashCoupons, DeductedByCoupons: it.DeductedByCoupons,
		DeductedByPrepaidCard: it.DeductedByPrepaidCard, InvoiceDiscount: it.InvoiceDiscount,
		OutstandingAmount: it.OutstandingAmount, OwnerID: it.OwnerID, OwnerName: it.OwnerName,
		PaymentAmount: it.PaymentAmount, PipCode: it.PipCode, PretaxAmount: it.PretaxAmount,
		PretaxGrossAmount: it.PretaxGrossAmount, ProductCode: it.ProductCode, ProductName: it.ProductName,
		SubscriptionType: it.SubscriptionType}
}

// Tail is the end of a long log, for failure messages.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
