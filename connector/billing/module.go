package billing

import "go.uber.org/fx"

// Module provides the *Client; the wiring casts it to the job's Fetcher.
var Module = fx.Module("billing", fx.Provide(New))
