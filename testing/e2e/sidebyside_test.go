package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// lastLine is the last non-empty line of out: the process's last word.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// A daemon, a dry run and a one-off run with the same config file side by side (issue 21):
// the daemon holds the ops listener and the state file's lock. The dry run opens no
// listener and takes no lock: it works. The one-off run opens no listener either: the
// state's lock alone refuses it, at once, in one line that names the lock file.
func TestE2E_DaemonDryRunAndOnceRunSideBySide(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 12, 3))
	d := startOpsDaemon(t, e, nil) // listen 127.0.0.1:0: a free port
	e.Changed.Wait(t, "the daemon to deliver the day", d.log, func() bool {
		return strings.Contains(d.log.String(), `"msg":"waiting for the next pull"`)
	})
	// The daemon's config file, with listen the address the daemon listens on: a one-off
	// run that opened the config's listener would find it taken.
	cfg := e.Config(t, map[string]any{"listen": d.srv.Addr().String()})

	var dry *ops.Server
	r := e.Run(t, []string{"--config", cfg, "--once", "--date", e.Day.String(), "--dry-run"}, fx.Populate(&dry))
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "12 rows: 0 new, 0 changed, 0 pending delivery, 12 already delivered - dry run, nothing sent")
	assert.Nil(t, dry.Addr(), "a dry run opens no ops listener")

	var once *ops.Server
	r = e.Run(t, []string{"--config", cfg, "--once", "--date", e.Day.String()}, fx.Populate(&once))
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Nil(t, once.Addr(), "a one-off run opens no ops listener")
	assert.Equal(t, "connector: state_path "+e.StatePath+": in use by another connector process (it holds the lock file "+e.StatePath+
		".lock); stop that process first (a --dry-run works beside it: it takes no lock), or give each connector its own state_path",
		lastLine(r.Stderr))
	assert.NotContains(t, r.Stderr, "listen")

	r = e.Run(t, []string{"--config", cfg, "--from", e.Day.String(), "--to", e.Day.String(), "--dry-run"})
	require.Equal(t, 0, r.Code, r.Stderr)

	code, body := d.get(t, "/healthz")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, 12, e.Sink.Len(), "the day delivered once, by the daemon")
}

// --listen on the command line opens the ops listener of a one-off run; without it, none
// opens, whatever the config's listen says.
func TestE2E_OneOffRunsOpenTheListenerOnlyWhenTheirCommandLineAsks(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 3, 1))
	cfg := e.Config(t, map[string]any{"listen": "127.0.0.1:0"})
	for _, args := range [][]string{
		{"--once", "--date", e.Day.String()},
		{"--from", e.Day.String(), "--to", e.Day.String()},
		{"--once", "--date", e.Day.String(), "--dry-run"},
	} {
		var srv *ops.Server
		r := e.Run(t, append([]string{"--config", cfg}, args...), fx.Populate(&srv))
		require.Equal(t, 0, r.Code, r.Stderr)
		assert.Nil(t, srv.Addr(), "%q opens no listener", args)
		assert.NotContains(t, r.Stderr, `"msg":"ops listener"`)

		r = e.Run(t, append([]string{"--config", cfg, "--listen", "127.0.0.1:0"}, args...), fx.Populate(&srv))
		require.Equal(t, 0, r.Code, r.Stderr)
		assert.NotNil(t, srv.Addr(), "%q --listen opens one", args)
		assert.Contains(t, r.Stderr, `"msg":"ops listener"`)
	}

	// A --listen that is taken names the flag, not the config.
	hold := startOpsDaemon(t, e, nil)
	r := e.Run(t, []string{"--config", cfg, "--listen", hold.srv.Addr().String(), "--once", "--date", e.Day.String(), "--dry-run"})
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, lastLine(r.Stderr), `connector: --listen: cannot listen on "`+hold.srv.Addr().String()+`"`)
	r = e.Run(t, []string{"--config", cfg, "--listen", "nope", "--once"})
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, `connector: --listen: "nope" is not host:port`)
}
