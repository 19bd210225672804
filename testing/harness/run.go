package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
)

// Result is what a run of the connector in the test's process said and counted.
type Result struct {
	Code           int
	Stdout, Stderr string
	// Metrics are the run's metrics as it left them; nil when it ended before its
	// application was built (a usage error, --help).
	Metrics *ops.Metrics
}

// Metric is the sum of the samples of the run's metric name whose labels include labels
// (see Value); -1 when the run has no such metric.
func (r Result) Metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	if r.Metrics == nil {
		return -1
	}
	families, err := r.Metrics.Registry.Gather()
	require.NoError(t, err)
	return Value(byName(families), name, labels)
}

// Run runs the connector in this process (cli.Main, the production wiring) with args, no
// environment and extra options, and checks that no secret of e (NeverPrinted) reached
// its output.
func (e *Env) Run(t testing.TB, args []string, extra ...fx.Option) Result {
	t.Helper()
	var out, errb Buffer
	var r Result
	r.Code = cli.Main(args, noEnv(&out, &errb), append(append([]fx.Option(nil), extra...), fx.Populate(&r.Metrics))...)
	r.Stdout, r.Stderr = out.String(), errb.String()
	for _, s := range e.secrets() {
		assert.NotContains(t, r.Stdout+r.Stderr, s, "a secret reached the output")
	}
	return r
}

// Start runs the connector in this process on a goroutine, like Run, with its stderr in log;
// the function it returns waits until the run has ended (failing the test at the Deadline)
// and returns its Result.
func (e *Env) Start(log *Buffer, args []string, extra ...fx.Option) (wait func(t testing.TB) Result) {
	done := make(chan Result, 1)
	go func() {
		var out Buffer
		var r Result
		r.Code = cli.Main(args, noEnv(&out, log), append(append([]fx.Option(nil), extra...), fx.Populate(&r.Metrics))...)
		r.Stdout, r.Stderr = out.String(), log.String()
		done <- r
		e.Changed.Notify()
	}()
	return func(t testing.TB) Result {
		t.Helper()
		var r Result
		e.Changed.Wait(t, "the connector to finish", log, func() bool {
			select {
			case r = <-done:
				return true
			default:
				return false
			}
		})
		return r
	}
}

// noEnv is a process's streams with an empty environment.
func noEnv(stdout, stderr *Buffer) cli.IO {
	return cli.IO{Stdout: stdout, Stderr: stderr, Lookup: func(string) (string, bool) { return "", false }}
}
