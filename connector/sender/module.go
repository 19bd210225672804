package sender

import "go.uber.org/fx"

// Module provides the *Sender; the wiring casts it to the job's Publisher.
var Module = fx.Module("sender", fx.Provide(New))
