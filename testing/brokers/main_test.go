package brokers_test

import (
	"os"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// childEnv makes this test binary the connector itself (cli.Main, the production wiring):
// a real process that a test can kill -9.
const childEnv = "BROKERS_RUN_CONNECTOR=1"

func TestMain(m *testing.M) {
	if os.Getenv("BROKERS_RUN_CONNECTOR") == "1" {
		os.Exit(cli.Main(os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

const (
	keyID  = "LTAI5tBrokersKey"
	secret = "brokers-Secret-Never-Printed-4c3b"
)

// day is a day the API serves: three weeks ago.
var day = calendar.Of(time.Now().UTC()).AddDays(-21)

type env = harness.Env

func newEnv(t *testing.T) *env { return harness.NewEnv(t, keyID, secret) }

type result struct {
	code           int
	stdout, stderr string
}

// run runs the connector in this process; no secret may reach its output.
func run(t *testing.T, args []string, secrets []string, extra ...fx.Option) result {
	t.Helper()
	code, stdout, stderr := harness.Main(t, args, append(secrets, secret), extra...)
	return result{code: code, stdout: stdout, stderr: stderr}
}

// start runs the connector on a goroutine with its stderr in log; wait returns its result
// once it has exited (waking e's waiters), failing the test at the harness's deadline.
func start(e *env, log *harness.Buffer, args []string, extra ...fx.Option) (wait func(t *testing.T) result) {
	done := make(chan result, 1)
	go func() {
		var out harness.Buffer
		code := cli.Main(args, cli.IO{Stdout: &out, Stderr: log, Lookup: func(string) (string, bool) { return "", false }}, extra...)
		done <- result{code: code, stderr: log.String()}
		e.Changed.Notify()
	}()
	return func(t *testing.T) result {
		t.Helper()
		var r result
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
