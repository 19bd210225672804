package job

import "go.uber.org/fx"

// Module provides the *Job from a Fetcher, a Publisher and a Clock.
var Module = fx.Module("job", fx.Provide(New))
