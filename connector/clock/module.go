package clock

import "go.uber.org/fx"

// Module provides the real Clock; tests replace it with fx.Replace(fakeClock).
var Module = fx.Module("clock", fx.Provide(New))
