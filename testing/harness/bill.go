package harness

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
)

// Retracted reports whether an event is a retraction: its retracted extension is true, in
// whatever form it came (a boolean, or the text of a header).
func Retracted(t testing.TB, e event.Event) bool {
	t.Helper()
	v, ok := e.Extensions()[job.RetractedExtension]
	if !ok {
		return false
	}
	b, err := types.ToBool(v)
	require.NoError(t, err, "event %s: the retracted extension", e.ID())
	return b
}

// Latest is what a receiver that upserts by subject and keeps the highest revision holds:
// per subject, the event of the highest revision (the later of two with the same).
func Latest(t testing.TB, events []event.Event) map[string]event.Event {
	t.Helper()
	out := map[string]event.Event{}
	revs := map[string]int{}
	for _, e := range events {
		rev, err := Revision(e)
		require.NoError(t, err)
		if best, ok := revs[e.Subject()]; !ok || rev >= best {
			out[e.Subject()], revs[e.Subject()] = e, rev
		}
	}
	return out
}

// accountAmounts are the names of the account bill's amount members in an event's data.
var accountAmounts = func() []string {
	var names []string
	t := reflect.TypeOf(bill.AccountRow{})
	for i := range t.NumField() {
		if f := t.Field(i); f.Type == reflect.TypeOf(bill.Amount("")) {
			names = append(names, strings.Split(f.Tag.Get("json"), ",")[0])
		}
	}
	return names
}()

// AmountSums are the sums of every amount member of account bill rows, given as their
// event data (JSON objects), by member: exact decimals (math/big.Rat) written as
// RatString, never through a float64.
func AmountSums(t testing.TB, datas ...[]byte) map[string]string {
	t.Helper()
	sums := map[string]*big.Rat{}
	for _, name := range accountAmounts {
		sums[name] = new(big.Rat)
	}
	for _, d := range datas {
		var raw map[string]any
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&raw))
		for _, name := range accountAmounts {
			n, ok := raw[name].(json.Number)
			require.True(t, ok, "member %s of %s is a number", name, d)
			v, ok := new(big.Rat).SetString(n.String())
			require.True(t, ok, "member %s: %s", name, n)
			sums[name].Add(sums[name], v)
		}
	}
	out := map[string]string{}
	for name, s := range sums {
		out[name] = s.RatString()
	}
	return out
}

// ItemSums are AmountSums of the fake's rows.
func ItemSums(t testing.TB, items []bill.AccountRow) map[string]string {
	t.Helper()
	datas := make([][]byte, len(items))
	for i, it := range items {
		d, err := it.AppendData(nil)
		require.NoError(t, err)
		datas[i] = d
	}
	return AmountSums(t, datas...)
}

// LatestSums are AmountSums of what a receiver that keeps each subject's highest revision
// holds of events.
func LatestSums(t testing.TB, events []event.Event) map[string]string {
	t.Helper()
	var datas [][]byte
	for _, e := range Latest(t, events) {
		datas = append(datas, e.Data())
	}
	return AmountSums(t, datas...)
}
