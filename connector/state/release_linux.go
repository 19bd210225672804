//go:build linux

package state

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped tells the kernel that the process no longer needs the pages of the file
// that bbolt maps (read-only, shared: its contents are the file's, in the page cache). A
// day of 200,000 rows touches every page of a state file of tens of megabytes; without
// this, they all stay in the connector's resident set until bbolt maps the file again.
// The pages stay in the page cache, and come back on the next read without I/O.
//
// It runs inside a write transaction, where bbolt cannot map the file again under it.
func releaseMapped(tx *bolt.Tx) {
	size := tx.Size()
	if size <= 0 {
		return
	}
	base := tx.DB().Info().Data
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, base, uintptr(size), syscall.MADV_DONTNEED)
}
