// Package clock is the only place that reads the wall clock. Everything else takes a
// clockwork.Clock, so tests drive time with clockwork.NewFakeClock and never sleep.
package clock

import "github.com/jonboulle/clockwork"

// Clock is what the rest of the connector may use to read time and wait.
type Clock = clockwork.Clock

// New returns the real clock.
func New() Clock { return clockwork.NewRealClock() }
