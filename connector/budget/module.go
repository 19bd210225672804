package budget

import "go.uber.org/fx"

// Module provides the process's one *Budget, from the Options the application provides.
var Module = fx.Module("budget", fx.Provide(New))
