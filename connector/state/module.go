package state

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Options say how the process uses the state.
type Options struct {
	ReadOnly bool // --dry-run: read a copy of what is there at start, never write, take no lock
}

// New returns the configured state file, opened when the application starts and closed
// when it stops (see Open): a Store opened while fx builds the graph would stay open, and
// locked, when a later constructor fails, since fx then runs no OnStop. With ReadOnly and
// no file, it returns a nil *Store: the state is empty. Problems of the file are an
// *Error from the start, one line to print as it is.
func New(lc fx.Lifecycle, cfg *config.Config, o Options) (*Store, error) {
	if o.ReadOnly {
		fi, err := os.Stat(cfg.StatePath)
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			return nil, nil
		}
	}
	s := &Store{path: cfg.StatePath, readOnly: o.ReadOnly}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return s.open() },
		OnStop:  func(context.Context) error { return s.Close() },
	})
	return s, nil
}

// Module provides the *Store.
var Module = fx.Module("state", fx.Provide(New))
