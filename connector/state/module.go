package state

import (
	"context"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Options say how the process uses the state.
type Options struct {
	ReadOnly bool // --dry-run: read what is there, never write
}

// New opens the configured state file for the life of the application. With ReadOnly and
// no file yet, it returns a nil *Store: the state is empty.
func New(lc fx.Lifecycle, cfg *config.Config, o Options) (*Store, error) {
	s, err := Open(cfg.StatePath, o.ReadOnly)
	if err != nil || s == nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStop: func(context.Context) error { return s.Close() }})
	return s, nil
}

// Module provides the *Store.
var Module = fx.Module("state", fx.Provide(New))
