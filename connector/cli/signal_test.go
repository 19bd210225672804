package cli

import (
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
)

// safeBuffer is a log the connector writes while the test reads it.
type safeBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *safeBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return string(s.b) }

func signalTestConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"v_target":"http://127.0.0.1:9","access_key_id":"LTAIsignal",
		"secret_access_Key":"signal-secret","endpoint":"http://127.0.0.1:9","state_path":"`+filepath.Join(dir, "state.db")+`","listen":""}`), 0o600))
	return p
}

// stopAt runs Main with a hold at one point of its start; when Main reaches it, the test
// sends sig to its own process (Main's handler must already be in place, or the test
// binary dies), then releases the hold. It returns Main's exit status.
func stopAt(t *testing.T, sig syscall.Signal, args []string, want string, lookup func(hold func()) func(string) (string, bool), extra func(hold func()) fx.Option) int {
	t.Helper()
	reached := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	hold := func() {
		once.Do(func() { close(reached) })
		<-release
	}
	var out safeBuffer
	io := IO{Stdout: &out, Stderr: &out, Lookup: func(string) (string, bool) { return "", false }}
	if lookup != nil {
		io.Lookup = lookup(hold)
	}
	var opts []fx.Option
	if extra != nil {
		opts = append(opts, extra(hold))
	}
	done := make(chan int, 1)
	go func() { done <- Main(args, io, opts...) }()
	timeout := time.NewTimer(90 * time.Second)
	defer timeout.Stop()
	select {
	case <-reached:
	case code := <-done:
		t.Fatalf("Main returned %d before the hold: %s", code, out.String())
	case <-timeout.C:
		t.Fatal("Main never reached the hold")
	}
	// The runtime hands a signal to every channel that asked for it at once: when the
	// test's own channel has it, Main's has it too, and Main finds it right after the hold.
	mine := make(chan os.Signal, 1)
	signal.Notify(mine, sig)
	defer signal.Stop(mine)
	require.NoError(t, syscall.Kill(os.Getpid(), sig))
	select {
	case <-mine:
	case <-timeout.C:
		t.Fatal("the signal never came")
	}
	close(release)
	select {
	case code := <-done:
		assert.NotContains(t, out.String(), "signal-secret")
		assert.Contains(t, out.String(), want, "stopped at the point the signal came")
		return code
	case <-timeout.C:
		t.Fatal("Main did not return")
		return -1
	}
}

// SIGTERM while the configuration is read: a clean stop, not a death by signal. A one-off
// run that delivered nothing exits 1, the daemon 0.
func TestMain_SignalWhileTheConfigIsReadIsACleanStop(t *testing.T) {
	inConfig := func(hold func()) func(string) (string, bool) {
		return func(string) (string, bool) { hold(); return "", false }
	}
	cfg := signalTestConfig(t)
	const early = `"msg":"stopped before the work began","signal":"terminated"`
	assert.Equal(t, ExitIncomplete, stopAt(t, syscall.SIGTERM, []string{"--config", cfg, "--once"}, early, inConfig, nil))
	assert.Equal(t, ExitOK, stopAt(t, syscall.SIGTERM, []string{"--config", cfg}, early, inConfig, nil))
}

// SIGTERM while the start hooks run: the start finishes, then it is a clean stop (the state
// file closed: the second run on the same state file is not refused as locked).
func TestMain_SignalDuringTheStartIsACleanStop(t *testing.T) {
	inStart := func(hold func()) fx.Option {
		return fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(hold))
		})
	}
	cfg := signalTestConfig(t)
	const stopping = `"msg":"stopping","signal":"terminated"`
	assert.Equal(t, ExitIncomplete, stopAt(t, syscall.SIGTERM, []string{"--config", cfg, "--once"}, stopping, nil, inStart))
	assert.Equal(t, ExitOK, stopAt(t, syscall.SIGTERM, []string{"--config", cfg}, stopping, nil, inStart))
}

// SIGHUP is no reload: it stops like SIGTERM, with the same exit statuses, in a one-off
// run and in the daemon (before, the process died of it with status 129).
func TestMain_SIGHUPStopsLikeSIGTERM(t *testing.T) {
	inConfig := func(hold func()) func(string) (string, bool) {
		return func(string) (string, bool) { hold(); return "", false }
	}
	inStart := func(hold func()) fx.Option {
		return fx.Invoke(func(lc fx.Lifecycle) { lc.Append(fx.StartHook(hold)) })
	}
	cfg := signalTestConfig(t)
	const early = `"msg":"stopped before the work began","signal":"hangup"`
	const stopping = `"msg":"stopping","signal":"hangup"`
	assert.Equal(t, ExitIncomplete, stopAt(t, syscall.SIGHUP, []string{"--config", cfg, "--once"}, early, inConfig, nil))
	assert.Equal(t, ExitOK, stopAt(t, syscall.SIGHUP, []string{"--config", cfg}, early, inConfig, nil))
	assert.Equal(t, ExitIncomplete, stopAt(t, syscall.SIGHUP, []string{"--config", cfg, "--once"}, stopping, nil, inStart))
	assert.Equal(t, ExitOK, stopAt(t, syscall.SIGHUP, []string{"--config", cfg}, stopping, nil, inStart))
}

// nohup starts a process with SIGHUP ignored: the connector must not turn it back on (a
// range started under nohup would stop when the terminal closes).
func TestStopSignals_SIGHUPIgnoredByNohupStaysIgnored(t *testing.T) {
	assert.Contains(t, stopSignals(), os.Signal(syscall.SIGHUP))
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	assert.NotContains(t, stopSignals(), os.Signal(syscall.SIGHUP))
	assert.Contains(t, stopSignals(), os.Signal(syscall.SIGTERM))
}
