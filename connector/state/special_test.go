//go:build linux || darwin

package state

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// Named pipes, sockets and devices at state_path: refused, before anything reads them.

// giveUpAfter bounds a regression that blocks (opening a named pipe for reading waits for
// a writer): the deadline only fails the test, nothing waits for it.
const giveUpAfter = 10 * time.Second

// within runs op and fails the test if it does not return by the deadline; a FIFO at
// fifo (if any) is then opened for writing, which lets a blocked open of it return.
func within(t *testing.T, fifo string, op func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-time.After(giveUpAfter):
		if fifo != "" {
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
		t.Fatal("Open did not return: it is waiting on or reading what is at state_path")
		return nil
	}
}

// special makes the things that are not regular files, by name; a test is skipped where
// this system cannot make one.
func special(t *testing.T, name string) (path, kind string) {
	t.Helper()
	switch name {
	case "fifo":
		path = filepath.Join(t.TempDir(), "state.db")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skipf("cannot make a FIFO here: %v", err)
		}
		return path, "a named pipe"
	case "socket":
		dir, err := os.MkdirTemp("", "s") // a socket's path is short
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		path = filepath.Join(dir, "state.db")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Skipf("cannot make a socket here: %v", err)
		}
		t.Cleanup(func() { l.Close() })
		return path, "a socket"
	case "symlink to fifo":
		fifo, kind := special(t, "fifo")
		path = filepath.Join(t.TempDir(), "state.db")
		require.NoError(t, os.Symlink(fifo, path))
		return path, kind
	}
	if _, err := os.Stat(name); err != nil {
		t.Skipf("no %s here: %v", name, err)
	}
	return name, "a device"
}

func TestOpen_WhatIsNotARegularFileIsRefusedBeforeItIsRead(t *testing.T) {
	for _, name := range []string{"fifo", "/dev/null", "/dev/zero", "socket", "symlink to fifo"} {
		for _, readOnly := range []bool{false, true} {
			t.Run(name+map[bool]string{true: " read-only"}[readOnly], func(t *testing.T) {
				path, kind := special(t, name)
				_, statErr := os.Lstat(path + ".lock")
				var s *Store
				err := within(t, path, func() error {
					var err error
					s, err = Open(path, readOnly)
					return err
				})
				if s != nil {
					s.Close()
				}
				var se *Error
				require.ErrorAs(t, err, &se, "%v", err)
				assert.Equal(t, path, se.Path)
				assert.Equal(t, "state_path "+path+": is not a regular file ("+kind+"); point state_path at the connector's state file or at a path that does not exist yet, where the connector creates it", err.Error())
				assert.NotContains(t, err.Error(), "\n")
				if errors.Is(statErr, os.ErrNotExist) {
					_, err = os.Lstat(path + ".lock")
					assert.True(t, errors.Is(err, os.ErrNotExist), "nothing was created beside it")
				}
			})
		}
	}
}

func TestOpen_SymlinkToAStateFileIsFine(t *testing.T) {
	real := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(real, false)
	require.NoError(t, err)
	require.NoError(t, s.SetSince(day))
	require.NoError(t, s.Close())
	path := filepath.Join(t.TempDir(), "link.db")
	require.NoError(t, os.Symlink(real, path))
	for _, readOnly := range []bool{false, true} {
		s, err := Open(path, readOnly)
		require.NoError(t, err)
		since, ok, err := s.Since()
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, day, since)
		require.NoError(t, s.Close())
	}
}

// What is at the path may change between the stat and the open: the open does not wait,
// and what it opened is checked again.
func TestOpenRegular_RefusesWhatTheOpenFinds(t *testing.T) {
	fifo, _ := special(t, "fifo")
	for _, c := range []struct {
		path, kind string
		flag       int
	}{
		{fifo, "a named pipe", os.O_RDONLY},
		{fifo, "a named pipe", os.O_RDWR | os.O_CREATE},
		{"/dev/null", "a device", os.O_RDONLY},
		{"/dev/zero", "a device", os.O_RDWR | os.O_CREATE},
	} {
		err := within(t, fifo, func() error {
			f, _, err := openRegular(c.path, c.flag)
			if f != nil {
				f.Close()
			}
			return err
		})
		var se *Error
		require.ErrorAs(t, err, &se, "%s %#x: %v", c.path, c.flag, err)
		assert.Equal(t, "is not a regular file ("+c.kind+")", se.Problem)
	}
}

func TestModule_DryRunOnANamedPipeFailsAtStart(t *testing.T) {
	path, _ := special(t, "fifo")
	app := fxtest.New(t, fx.Supply(Options{ReadOnly: true}), Module, fx.Invoke(func(op *Opener) { op.At(path) }))
	err := within(t, path, func() error { return app.Start(t.Context()) })
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.True(t, strings.HasPrefix(err.Error(), "state_path "+path+": is not a regular file (a named pipe)"), err.Error())
}
