package state

import (
	"context"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Options say how the process uses the state.
type Options struct {
	ReadOnly bool // --dry-run: read a copy of what is there at start, never write, take no lock
}

// New returns the configured state file, opened when the application starts and closed
// when it stops (see Open): a Store opened while fx builds the graph would stay open, and
// locked, when a later constructor fails, since fx then runs no OnStop. There is always a
// Store: with ReadOnly and no file (or an empty one) it is an empty one that reads as
// empty and never writes. Problems of the file are an *Error from the start, one line to
// print as it is.
func New(lc fx.Lifecycle, cfg *config.Config, o Options) (*Store, error) {
	s := &Store{path: cfg.StatePath, readOnly: o.ReadOnly}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return s.open() },
		OnStop:  func(context.Context) error { return s.Close() },
	})
	return s, nil
}

// Module provides the *Store.
var Module = fx.Module("state", fx.Provide(New))
