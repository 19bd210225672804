package harness

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
)

// childVar set to "1" makes a test binary that StartProc started the connector itself
// (see TestMain).
const childVar = "HARNESS_RUN_CONNECTOR"

// opsFD is the file descriptor on which a child writes its ops listener's address once it
// has started (ExtraFiles[0]).
const opsFD = 3

// mainInstalled says that TestMain runs this binary: StartProc needs it.
var mainInstalled bool

// TestMain turns the test binary into the connector when StartProc runs it: a package that
// starts the connector as a real process (one that can be killed -9 and signalled) says
//
//	func TestMain(m *testing.M) { harness.TestMain(m) }
//
// Started by StartProc, the binary runs cli.Main (the production wiring) on its arguments
// and exits with its status; otherwise it runs the tests.
func TestMain(m *testing.M) {
	if os.Getenv(childVar) == "1" {
		os.Exit(cli.Main(os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr}, reportOps(os.NewFile(opsFD, "harness-ops"))))
	}
	mainInstalled = true
	os.Exit(m.Run())
}

// reportOps writes the ops listener's address to w once the application has started (its
// start hooks run in order, this one last: the connector is configured and ready).
func reportOps(w *os.File) fx.Option {
	return fx.Invoke(func(lc fx.Lifecycle, s *ops.Server) {
		lc.Append(fx.StartHook(func() {
			if a := s.Addr(); a != nil {
				fmt.Fprintln(w, a.String())
			}
			_ = w.Close()
		}))
	})
}

// Proc is the connector as a real subprocess: this test binary started again, so that
// TestMain runs cli.Main.
type Proc struct {
	Cmd  *exec.Cmd
	Out  *Buffer       // stdout and stderr together
	Done chan struct{} // closed when the process has exited and its output is read
	err  error

	mu  sync.Mutex
	ops string // the ops listener's address, once the process said it
}

// StartProc starts the test binary as the connector with args. Its output, its exit and
// its ops listener's address wake e's waiters. The package's TestMain must be TestMain.
func (e *Env) StartProc(t testing.TB, args ...string) *Proc {
	t.Helper()
	require.True(t, mainInstalled, "StartProc needs func TestMain(m *testing.M) { harness.TestMain(m) } in the test package")
	self, err := os.Executable()
	require.NoError(t, err)
	opsR, opsW, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), childVar+"=1")
	cmd.ExtraFiles = []*os.File{opsW} // opsFD in the child
	p := &Proc{Cmd: cmd, Out: e.Log(), Done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	err = cmd.Start()
	_ = opsW.Close() // the child's copy is what it writes to
	if err != nil {
		_ = opsR.Close()
		require.NoError(t, err)
	}
	go func() {
		defer opsR.Close()
		sc := bufio.NewScanner(opsR)
		if sc.Scan() {
			p.mu.Lock()
			p.ops = sc.Text()
			p.mu.Unlock()
			e.Changed.Notify()
		}
	}()
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

// opsAddr is the address of the process's ops listener, "" until it has started (or when
// its config has no listen).
func (p *Proc) opsAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ops
}

// Ready reports whether the process's ops listener answers /readyz with 200: the process
// has started (its config read, its state file open). Its config needs a listen address
// ("127.0.0.1:0").
func (p *Proc) Ready(t testing.TB) bool {
	t.Helper()
	addr := p.opsAddr()
	if addr == "" || p.Exited() {
		return false
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false // the process is stopping
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Metric is the sum of the samples of the metric name whose labels include labels, scraped
// from the process's ops listener (see Value); ok is false until the listener answers.
func (p *Proc) Metric(t testing.TB, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	addr := p.opsAddr()
	if addr == "" || p.Exited() {
		return 0, false
	}
	families, err := Scrape(addr)
	if err != nil {
		return 0, false // the process is stopping
	}
	return Value(families, name, labels), true
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
