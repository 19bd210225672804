package state

import (
	"fmt"
	"os"
	"runtime/debug"
)

// guarded runs op, which reads the file through bbolt's memory map, so that the file can
// never take the process down: a memory fault (SIGBUS past the end of a file truncated
// under us, SIGSEGV) becomes a panic (debug.SetPanicOnFault, for this goroutine only) and
// is recovered here as an *Error, as is a bbolt panic when the file on disk (read again
// with plain reads through f) turns out to be damaged. A panic with a sound file is a
// bug, not the file's: it goes on. broken says the panic was the file's.
func guarded(path string, f *os.File, op func() error) (broken bool, err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if addr, ok := faultAddr(r); ok {
			broken, err = true, errCorrupt(path, fmt.Sprintf("unreadable: a memory fault at %#x reading it (damaged or truncated while open, or a disk error)", addr), fmt.Errorf("%v", r))
			return
		}
		if f != nil {
			if fi, serr := f.Stat(); serr == nil {
				if _, ierr := inspect(f, fi.Size(), path); ierr != nil {
					broken, err = true, ierr
					return
				}
			}
		}
		panic(r)
	}()
	return false, op()
}

// faultAddr is the address of a memory fault that SetPanicOnFault turned into a panic.
func faultAddr(r any) (uintptr, bool) {
	if e, ok := r.(interface{ Addr() uintptr }); ok {
		return e.Addr(), true
	}
	return 0, false
}
