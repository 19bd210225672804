package state

import (
	"fmt"
	"path/filepath"
	"testing"
)

// benchStores is n accounts of one state file (one DB), its commit count, and its close.
func benchStores(b *testing.B, n int) ([]*Store, func() uint64, func()) {
	d, err := OpenDB(filepath.Join(b.TempDir(), "state.db"), false, nil)
	if err != nil {
		b.Fatal(err)
	}
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = d.Account(fmt.Sprintf("acct-%d", i))
	}
	return stores, d.Commits, func() { d.Close() }
}
