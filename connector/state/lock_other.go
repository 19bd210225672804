//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package state

import "os"

// openNonblock: this system has no non-blocking open; the stat before the open refuses a
// named pipe.
const openNonblock = 0

func setBlocking(*os.File) {}

// fileLock: on this system only bbolt's own lock on the file keeps a second connector off.
type fileLock struct{}

func lock(string) (*fileLock, error) { return nil, nil }

func (*fileLock) verify(string) *Error { return nil }

func (*fileLock) release() error { return nil }
