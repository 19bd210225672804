package e2e

import (
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/sender"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// oneLine is the connector's message on stderr when it stops at start: a single plain line
// (the usage hint aside), no JSON log, no fx wiring.
func oneLine(t *testing.T, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) == 2 && strings.HasPrefix(lines[1], "Run 'connector --help'") {
		lines = lines[:1]
	}
	require.Len(t, lines, 1, "one line:\n%s", stderr)
	return lines[0]
}

// An API that ignores PageNum and serves page 1 again: the day fails, naming the repeat.
// Page 1's rows were streamed to the receiver before page 2 came, each once; the repeat is
// never delivered (the same rows again as new rows: an inflated bill).
func TestE2E_APIRepeatingAPageFailsTheDayAndDeliversNoRowTwice(t *testing.T) {
	cases := map[bssfake.FaultKind]string{
		bssfake.RepeatPage:    "page 2 repeats page 1",                  // page 1's rows, labelled page 2
		bssfake.IgnorePageNum: "asked for page 2, the answer is page 1", // page 1, labelled so
	}
	for kind, says := range cases {
		e := harness.New(t)
		e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 900, 4))
		e.API.Inject(bssfake.Fault{Kind: kind, Times: 1000})
		r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
		assert.Equal(t, 1, r.Code)
		assert.Contains(t, r.Stderr, says)
		assert.Equal(t, 300, e.Sink.Len(), "page 1, and nothing of the repeat")
		assert.Equal(t, 300, e.Distinct(), "each row once")
	}
}

// TotalCount from the API that cannot be: the day fails naming it; no panic, no crash.
func TestE2E_APIAbsurdTotalCountFailsTheDayNamingIt(t *testing.T) {
	for _, total := range []int{-1, 1_000_000_000} {
		e := harness.New(t)
		e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 10, 4))
		e.API.Inject(bssfake.Fault{Kind: bssfake.SetTotal, Total: total, Times: 1000})
		r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
		assert.Equal(t, 1, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "TotalCount")
		assert.Zero(t, e.Sink.Attempts())
	}
}

// The receiver answers 301: never a delivery. The run fails with exit 2 and names the
// Location to configure; the redirect target gets nothing.
func TestE2E_ReceiverRedirect301IsNotADelivery(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	other := harness.New(t) // where the redirect points: a receiver that would accept anything
	e.Sink.RedirectNext(1000, 301, other.Sink.URL()+"/moved?token=hunter2")
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "redirect to "+other.Sink.URL()+"/moved")
	assert.NotContains(t, r.Stderr, "hunter2")
	assert.Zero(t, other.Sink.Attempts(), "the redirect is not followed")
	assert.Zero(t, e.Sink.Len())
}

// A 307 is followed with the same method and body: the rows arrive.
func TestE2E_ReceiverRedirect307IsFollowedWithTheBody(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	other := harness.New(t)
	e.Sink.RedirectNext(1000, 307, other.Sink.URL())
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	requireDayDelivered(t, e, e.Day.String(), other.Sink.Events())
}

// A receiver whose TLS certificate is not trusted: exit 2 at once with the hint, no retries.
func TestE2E_ReceiverWithAnUntrustedCertificateExits2AtOnce(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 40, 1))
	tlsSink := httptest.NewTLSServer(e.Sink.Handler())
	defer tlsSink.Close()
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"v_target": tlsSink.URL}), "--once", "--date", e.Day.String()})
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "TLS certificate is not trusted")
	assert.Zero(t, e.Sink.Len())
}

// A receiver token in v_target's query or userinfo never reaches the output.
func TestE2E_ReceiverCredentialsInVTargetAreNeverPrinted(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 3, 1))
	// Two receivers that fail: one answers 503, one is not listening (Go's errors then quote
	// the whole URL). Few quick retries: the errors, not the backoff, are under test.
	down := harness.New(t)
	down.Sink.Close()
	quick := fx.Supply(&sender.Policy{Attempts: 2, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	e.Sink.FailNext(1000, 503)
	for _, base := range []string{e.Sink.URL(), down.Sink.URL()} {
		target := strings.Replace(base, "http://", "http://alice:pa55word@", 1) + "/?token=t0k3n-never-shown"
		r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"v_target": target}), "--once", "--date", e.Day.String(), "--verbose"}, quick)
		assert.Equal(t, 1, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "day failed")
		for _, s := range []string{"pa55word", "t0k3n-never-shown", "alice"} {
			assert.NotContains(t, r.Stdout+r.Stderr, s)
		}
	}
}

// State-file problems stop the connector at start with one line naming state_path and
// what to do, exit 2: never a crash, never a chain of wiring errors.
func TestE2E_StateFileProblemsAreOneLineNamingStatePath(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"not a database": func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("not bbolt ", 2000)), 0o600))
		},
		"a directory": func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) },
		"truncated": func(t *testing.T, path string) {
			e := harness.New(t)
			e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 400, 1))
			require.Equal(t, 0, e.Run(t, []string{"--config", e.Config(t, map[string]any{"state_path": path}), "--once", "--date", e.Day.String()}).Code)
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, st.Size()/2))
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			e := harness.New(t)
			e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 3, 1))
			mk(t, e.StatePath)
			r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
			assert.Equal(t, 2, r.Code)
			line := oneLine(t, r.Stderr)
			assert.Contains(t, line, "state_path "+e.StatePath)
			assert.Zero(t, e.Sink.Attempts())
		})
	}
}

// Config problems of the hostile kind: trailing data, a key twice in two spellings, a
// device as the config file. One line, exit 2, nothing called.
func TestE2E_HostileConfigIsOneLineExit2(t *testing.T) {
	e := harness.New(t)
	good := e.Config(t, nil)
	b, err := os.ReadFile(good)
	require.NoError(t, err)
	n := 0
	write := func(s string) string {
		n++
		p := fmt.Sprintf("%s/hostile-%d.json", e.Dir, n)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
		return p
	}
	obj := strings.TrimSuffix(strings.TrimSpace(string(b)), "}")
	cases := map[string]struct{ path, says string }{
		"trailing garbage": {write(string(b) + " {}"), "after its JSON object"},
		"null":             {write("null"), "not a JSON object"},
		"both spellings":   {write(obj + `,"secret_access_key":"other"}`), `"secret_access_Key" and "secret_access_key"`},
		"/dev/zero":        {"/dev/zero", "not a regular file"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.Run(t, []string{"--config", tc.path, "--once", "--date", e.Day.String()})
			assert.Equal(t, 2, r.Code)
			assert.Contains(t, oneLine(t, r.Stderr), tc.says)
			assert.NotContains(t, r.Stderr, "other")
			assert.Empty(t, e.API.Requests())
		})
	}
}
