package brokers_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
	var out, errb harness.Buffer
	code := cli.Main(args, cli.IO{Stdout: &out, Stderr: &errb, Lookup: func(string) (string, bool) { return "", false }}, extra...)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	for _, s := range append(secrets, secret) {
		assert.NotContains(t, r.stdout+r.stderr, s, "a secret reached the output")
	}
	return r
}
