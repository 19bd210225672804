package state

import (
	"context"
	"log/slog"
	"sync"

	"go.uber.org/fx"
)

// Options say how the process uses the state.
type Options struct {
	ReadOnly bool // --dry-run: read a copy of what is there at start, never write, take no lock
	// ImportFrom (--import-state) are the state files of other connector processes: each
	// account of this process that the state file has not run yet takes its state from
	// the first of them that has it, at open (see handover.go).
	ImportFrom []string
}

// Opener opens the state file of the process, one for all its accounts.
type Opener struct {
	lc  fx.Lifecycle
	o   Options
	log *slog.Logger

	mu  sync.Mutex
	dbs map[string]*DB // by state_path
}

// NewOpener is the Opener of the application's lifecycle.
func NewOpener(lc fx.Lifecycle, o Options) *Opener {
	return &Opener{lc: lc, o: o, dbs: map[string]*DB{}}
}

// OpenerParams are the inputs of the Module's Opener.
type OpenerParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Logger    *slog.Logger `optional:"true"`
}

func newOpener(p OpenerParams) *Opener {
	op := NewOpener(p.Lifecycle, p.Options)
	op.log = p.Logger
	return op
}

// Account returns the Store of the account name in the state file at path (state_path),
// which is opened when the application starts and closed when it stops (see Open), once
// for all its accounts: a file opened while fx builds the graph would stay open, and
// locked, when a later constructor fails, since fx then runs no OnStop. legacy is the
// account's state file of an earlier release (state.<name>.db beside state_path; "" or
// path itself: none), imported at start when it is there (see migrate.go). There is always
// a Store: with ReadOnly and no file (or an empty one) it is an empty one that reads as
// empty and never writes. Problems of the file are an *Error from the start, one line to
// print as it is.
func (op *Opener) Account(path, name, legacy string) *Store {
	op.mu.Lock()
	defer op.mu.Unlock()
	d := op.dbs[path]
	if d == nil {
		d = &DB{path: path, readOnly: op.o.ReadOnly, log: op.log, handover: op.o.ImportFrom}
		op.dbs[path] = d
		op.lc.Append(fx.Hook{
			OnStart: func(context.Context) error { return d.open() },
			OnStop:  func(context.Context) error { return d.Close() },
		})
	}
	if legacy != "" && legacy != path {
		d.legacy = append(d.legacy, Legacy{Account: name, Path: legacy})
	}
	d.names = append(d.names, name)
	return d.Account(name)
}

// At is the Store of the account "default" of the state file at path (see Account).
func (op *Opener) At(path string) *Store { return op.Account(path, DefaultAccount, "") }

// Module provides the *Opener of the process's state file.
var Module = fx.Module("state", fx.Provide(newOpener))
