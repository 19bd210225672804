package harness

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/cli"
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

// Main runs the connector in this process (cli.Main, the production wiring) with no
// environment, and checks that none of secrets reached its output.
func Main(t testing.TB, args []string, secrets []string, extra ...fx.Option) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb Buffer
	code = cli.Main(args, cli.IO{Stdout: &out, Stderr: &errb, Lookup: func(string) (string, bool) { return "", false }}, extra...)
	stdout, stderr = out.String(), errb.String()
	for _, s := range secrets {
		assert.NotContains(t, stdout+stderr, s, "a secret reached the output")
	}
	return code, stdout, stderr
}
