//go:build unix

package config

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loadOrGiveUp runs Load and gives up (failing the test) if it does not return: reading a
// FIFO or a device used to block or run forever. The deadline only bounds a regression.
func loadOrGiveUp(t *testing.T, src Source) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Load(src)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Load did not return: it is reading a file that never ends")
		return nil
	}
}

func TestLoad_DevicesAndPipesAreNotRead(t *testing.T) {
	t.Run("/dev/zero", func(t *testing.T) {
		err := loadOrGiveUp(t, Source{Path: "/dev/zero", Lookup: env()})
		requireConfigError(t, err, "", []string{"/dev/zero is not a regular file", "a device"})
	})
	t.Run("fifo", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "config.json")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("cannot make a FIFO here: %v", err)
		}
		err := loadOrGiveUp(t, Source{Path: p, Lookup: env()})
		requireConfigError(t, err, "", []string{"is not a regular file", "a named pipe"})
	})
	t.Run("fifo at a default path", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "config.json")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("cannot make a FIFO here: %v", err)
		}
		old := DefaultPaths
		DefaultPaths = []string{p}
		t.Cleanup(func() { DefaultPaths = old })
		err := loadOrGiveUp(t, Source{Lookup: env()})
		require.Error(t, err)
		requireConfigError(t, err, "", []string{"is not a regular file"})
	})
}
