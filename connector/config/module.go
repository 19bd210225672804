package config

import "go.uber.org/fx"

// Module provides the validated *Config from the Source that main supplies.
var Module = fx.Module("config", fx.Provide(Load))
