package state

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

func nov(d int) calendar.Day { return calendar.Day{Year: 2026, Month: 11, Day: d} }

// Purchases survive a reopen; PurchasesOver finds those whose days include the day, and a
// refund on a day from the purchase's to its last ends it there (that day takes the rest
// of the cost; one before its First takes all of it).
func TestPurchases_RememberedAndEndedByARefund(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	a := Purchase{Identity: `["a"]`, Resource: "i-1", First: nov(10), Last: nov(20), Bought: nov(9), Data: []byte(`{"cost":"30"}`)}
	b := Purchase{Identity: `["b"]`, Resource: "i-2", First: nov(10), Last: nov(20), Bought: nov(9), Data: []byte(`{}`)}
	c := Purchase{Identity: `["c"]`, Resource: "i-3", First: nov(10), Last: nov(20), Bought: nov(5), Data: []byte(`{}`)}
	require.NoError(t, s.RememberPurchases([]Purchase{b, a, c}, nil))
	require.NoError(t, s.RememberPurchases(nil, []Refund{{Resource: "i-1", Day: nov(15)}, {Resource: "i-2", Day: nov(3)}, {Resource: "i-3", Day: nov(7)}}))
	require.NoError(t, s.Close())
	s, err = Open(path, true)
	require.NoError(t, err)
	defer s.Close()

	got, err := s.PurchasesOver(nov(12))
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, `["a"]`, got[0].Identity, "sorted by identity")
	assert.False(t, got[2].Covers(nov(12)), "refunded before its days began")
	assert.JSONEq(t, `{"cost":"30"}`, string(got[0].Data))
	assert.True(t, got[0].Refunded)
	assert.Equal(t, nov(15), got[0].Ended)
	assert.False(t, got[1].Refunded, "a refund before the purchase was bought does not end it")

	assert.True(t, got[0].Covers(nov(14)))
	assert.True(t, got[0].Covers(nov(15)), "the refund's day takes the rest of the cost")
	assert.False(t, got[0].Covers(nov(16)), "the refund ends the spread on its day")
	assert.True(t, got[1].Covers(nov(20)))
	assert.False(t, got[1].Covers(nov(9)), "not the day it was bought")
	early, err := s.PurchasesOver(nov(7))
	require.NoError(t, err)
	require.Len(t, early, 1, "a refund before First: the refund's day has the purchase")
	assert.True(t, early[0].Covers(nov(7)))
	none, err := s.PurchasesOver(nov(21))
	require.NoError(t, err)
	assert.Empty(t, none)
}

// A purchase that does not decode is named as corrupt, in one line.
func TestPurchases_ADamagedRecordIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.update(1, func(root *bolt.Bucket) error {
		b, err := root.CreateBucketIfNotExists(bucketPurchases)
		if err != nil {
			return err
		}
		return b.Put(purchaseKey(nov(1), "x"), []byte("{"))
	}))
	_, err = s.PurchasesOver(nov(1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a purchase does not decode")
	assert.NotContains(t, err.Error(), "\n")
}

// A purchase read again with another Last (the bill corrected its period) replaces its
// record: one purchase, the new days, though the records are kept by Last.
func TestPurchases_ReadAgainWithAnotherLastIsReplaced(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	defer s.Close()
	p := Purchase{Identity: `["a"]`, Resource: "i-1", First: nov(10), Last: nov(20), Bought: nov(10), Data: []byte(`{}`)}
	require.NoError(t, s.RememberPurchases([]Purchase{p}, nil))
	p.Last = nov(25)
	require.NoError(t, s.RememberPurchases([]Purchase{p}, nil))
	got, err := s.PurchasesOver(nov(12))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, nov(25), got[0].Last)
	got, err = s.PurchasesOver(nov(23))
	require.NoError(t, err)
	assert.Len(t, got, 1)
}

// Purchases that ended more than keepPurchases days before the latest day one is bought
// on, and refunds more than keepRefunds days before it, are dropped with their index: no
// such day is read again (the API serves 18 months), and the bucket does not grow forever.
func TestPurchases_TooOldToBeReadAgainAreDropped(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), false)
	require.NoError(t, err)
	defer s.Close()
	old := calendar.Day{Year: 2024, Month: 1, Day: 1}
	ended := Purchase{Identity: `["old"]`, Resource: "i-1", First: old, Last: old.AddDays(30), Bought: old, Data: []byte(`{}`)}
	require.NoError(t, s.RememberPurchases([]Purchase{ended}, []Refund{{Resource: "i-1", Day: old.AddDays(-4000)}, {Resource: "i-1", Day: old.AddDays(3)}}))
	live := Purchase{Identity: `["new"]`, Resource: "i-2", First: nov(1), Last: nov(30), Bought: nov(1), Data: []byte(`{}`)}
	require.NoError(t, s.RememberPurchases([]Purchase{live}, nil))
	var keys []string
	require.NoError(t, s.view(func(root *bolt.Bucket) error {
		return root.Bucket(bucketPurchases).ForEach(func(k, _ []byte) error { keys = append(keys, string(k[:1])); return nil })
	}))
	assert.ElementsMatch(t, []string{"p", "i", "r"}, keys, "the new purchase, its index, the refund of a day a kept purchase may have")
	got, err := s.PurchasesOver(nov(2))
	require.NoError(t, err)
	require.Len(t, got, 1)
}
