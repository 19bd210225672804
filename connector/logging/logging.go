// Package logging is the process's one logger: JSON lines through log/slog, with fx's own
// events on the same logger (quiet unless verbose).
package logging

import (
	"io"
	"log/slog"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// Options set where logs go and how much is said.
type Options struct {
	Writer  io.Writer
	Verbose bool
}

// New returns the JSON logger.
func New(o Options) *slog.Logger {
	level := slog.LevelInfo
	if o.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewJSONHandler(o.Writer, &slog.HandlerOptions{Level: level}))
}

// FxLogger sends fx's events through the same logger, only with Verbose: without it, a
// start-up failure is reported once, by cli.Main, as one plain message.
func FxLogger(o Options, l *slog.Logger) fxevent.Logger {
	fl := &fxevent.SlogLogger{Logger: l.With("component", "fx")}
	if !o.Verbose {
		fl.UseLogLevel(slog.LevelDebug)
		fl.UseErrorLevel(slog.LevelDebug)
	}
	return fl
}

// Module provides the *slog.Logger from the Options that main supplies; main also passes
// fx.WithLogger(FxLogger) at the top level so that fx's events use it.
var Module = fx.Module("logging", fx.Provide(New))
