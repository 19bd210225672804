package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// How long the application may take to start, and to stop.
const (
	startTimeout = 15 * time.Second
	stopTimeout  = 30 * time.Second
)

// session is one life of the application: its start, its run and its stop, and the stop
// signals that may come at any point of it.
type session struct {
	app    *fx.App
	sigs   <-chan os.Signal // stopSignals, handled since Main's first instruction
	log    *slog.Logger     // Main's early logger
	mode   Mode
	stderr io.Writer
	exit   *exitCode // the run's verdict
}

// run starts the application, waits for the run to end or for a stop signal, stops it and
// returns the exit status.
func (s *session) run() int {
	if sig, ok := s.signalled(); ok { // one that came while the configuration was read
		return s.stoppedEarly(sig)
	}
	if code, started := s.start(); !started {
		return code
	}
	// From here the run's own verdict counts: a day stopped half-way says so (exit 1).
	code := s.wait()
	// Signals during the stop are absorbed: the stop is bounded by its own timeout.
	if err := s.stop(); err != nil {
		fmt.Fprintf(s.stderr, "connector: stop: %s\n", textsafe.Line(err.Error(), maxLine))
	}
	if code > 0 {
		return code
	}
	return s.exit.get()
}

// start starts the application; when it cannot, it returns the exit status. A signal
// during the start lets the start finish (its hooks do not block; the timeout bounds
// them), then stops: cancelling the start would make fx roll it back with a context that
// is already done, leaving hooks half-stopped.
func (s *session) start() (code int, started bool) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	err := s.app.Start(ctx)
	if err == nil {
		return 0, true
	}
	_ = s.stop()
	if sig, ok := s.signalled(); ok {
		return s.stoppedEarly(sig), false
	}
	return fail(s.stderr, startFailure(err)), false
}

// wait waits for the run to end by itself (its exit code, or -1) or for a stop signal. A
// signal that came during the start wins over a run that ended at the same time.
func (s *session) wait() int {
	select {
	case sig := <-s.sigs: // one that came during the start
		s.log.Info("stopping", "signal", sig.String())
		return -1
	default:
	}
	select {
	case sig := <-s.sigs:
		s.log.Info("stopping", "signal", sig.String())
		return -1
	case sd := <-s.app.Wait(): // the run's own Shutdown with its exit code (or fx's own signal relay)
		return sd.ExitCode
	}
}

func (s *session) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return s.app.Stop(ctx)
}

// signalled returns a stop signal that has come, if one has.
func (s *session) signalled() (os.Signal, bool) {
	select {
	case sig := <-s.sigs:
		return sig, true
	default:
		return nil, false
	}
}

// stoppedEarly is a stop before the work began: nothing was delivered, nothing was left
// half-done. A one-off run did not do what it was asked (1); the daemon stopped cleanly (0).
func (s *session) stoppedEarly(sig os.Signal) int {
	s.log.Info("stopped before the work began", "signal", sig.String())
	if s.mode.OneOff() {
		return ExitIncomplete
	}
	return ExitOK
}
