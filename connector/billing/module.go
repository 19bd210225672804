package billing

import "go.uber.org/fx"

// Module provides the *Factory that makes each account's *Client (connector/accounts asks
// it for one per account) from the Options the wiring supplies.
var Module = fx.Module("billing", fx.Provide(NewFactory))
