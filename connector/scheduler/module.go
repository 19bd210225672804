package scheduler

import "go.uber.org/fx"

// Module provides the *Scheduler; daemon mode registers its Lifecycle.
var Module = fx.Module("scheduler", fx.Provide(New))
