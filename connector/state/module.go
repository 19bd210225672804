package state

import (
	"context"

	"go.uber.org/fx"
)

// Options say how the process uses the state.
type Options struct {
	ReadOnly bool // --dry-run: read a copy of what is there at start, never write, take no lock
}

// Opener opens the accounts' state files, one per account.
type Opener struct {
	lc fx.Lifecycle
	o  Options
}

// NewOpener is the Opener of the application's lifecycle.
func NewOpener(lc fx.Lifecycle, o Options) *Opener { return &Opener{lc: lc, o: o} }

// At returns the Store of the file at path, opened when the application starts and closed
// when it stops (see Open): a Store opened while fx builds the graph would stay open, and
// locked, when a later constructor fails, since fx then runs no OnStop. There is always a
// Store: with ReadOnly and no file (or an empty one) it is an empty one that reads as
// empty and never writes. Problems of the file are an *Error from the start, one line to
// print as it is.
func (op *Opener) At(path string) *Store {
	s := &Store{path: path, readOnly: op.o.ReadOnly}
	op.lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return s.open() },
		OnStop:  func(context.Context) error { return s.Close() },
	})
	return s
}

// Module provides the *Opener of the accounts' state files.
var Module = fx.Module("state", fx.Provide(NewOpener))
