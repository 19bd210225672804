package harness

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Proc is the connector as a real subprocess: this test binary started again with
// childEnv set, so that its TestMain runs cli.Main (see the faults suite).
type Proc struct {
	Cmd  *exec.Cmd
	Out  *Buffer       // stdout and stderr together
	Done chan struct{} // closed when the process has exited and its output is read
	err  error
}

// StartProc starts the test binary as the connector with args. Its output wakes e's waiters.
func (e *Env) StartProc(t testing.TB, childEnv string, args ...string) *Proc {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), childEnv)
	p := &Proc{Cmd: cmd, Out: e.Log(), Done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	require.NoError(t, cmd.Start())
	go func() {
		p.err = cmd.Wait()
		close(p.Done)
		e.Changed.Notify()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.Done
	})
	return p
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// Signal sends sig; a process that already ended is not an error.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if p.Exited() {
		return
	}
	if err := p.Cmd.Process.Signal(sig); err != nil && !p.Exited() {
		require.NoError(t, err)
	}
}

// Wait waits (bounded by Deadline, through e's Signal) for the process to end and returns
// its exit status; a death by signal fails the test.
func (p *Proc) Wait(t testing.TB, e *Env) int {
	t.Helper()
	e.Changed.Wait(t, "the connector process to exit", p.Out, p.Exited)
	st := p.Cmd.ProcessState
	require.NotNil(t, st)
	ws, _ := st.Sys().(syscall.WaitStatus)
	require.False(t, ws.Signaled(), "the connector died by signal %v instead of stopping cleanly:\n%s", ws.Signal(), Tail(p.Out.String(), 3000))
	return st.ExitCode()
}

// Kill kills the process with SIGKILL and waits for it.
func (p *Proc) Kill(t testing.TB, e *Env) {
	t.Helper()
	p.Signal(t, syscall.SIGKILL)
	e.Changed.Wait(t, "the killed process to exit", p.Out, p.Exited)
}
