package billing

import "go.uber.org/fx"

// Module provides the *Factory that makes each account's *Client; the wiring casts a
// client to the job's Fetcher.
var Module = fx.Module("billing", fx.Provide(NewFactory))
