package scheduler

import "go.uber.org/fx"

// Module provides a *Scheduler of one account. The connector makes one per account
// (connector/accounts calls New); the module serves an application of a single account,
// as the style of every concern's package asks.
var Module = fx.Module("scheduler", fx.Provide(New))
