package trial

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

var (
	loopbackRE = regexp.MustCompile(`127\.0\.0\.1:[1-9][0-9]*`) // port 0 is no address
	// The fake's line: which days it serves and how many rows a day of each bill.
	fakeLineRE = regexp.MustCompile(`billing days ([0-9-]+)\.\.([0-9-]+) .*?([0-9]+) rows a day`)
)

// billingYesterday is the billing day the connector's --once pulls (pull_zone
// Asia/Shanghai, UTC+8 all year).
func billingYesterday() calendar.Day {
	return calendar.Yesterday(clock.New().Now(), time.FixedZone("UTC+8", 8*60*60))
}

func TestReadme_TryItLocallyRunsAsWritten(t *testing.T) {
	readme, err := os.ReadFile(readmeFile)
	require.NoError(t, err)
	cmds, err := parseCommands(string(readme))
	require.NoError(t, err)
	raw, err := os.ReadFile(configFile)
	require.NoError(t, err)
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.target
	}
	bins := binaries(t, names)
	for _, c := range cmds[:len(cmds)-1] {
		// Started without --listen, a server listens where config.example.json expects it.
		_, serves := onFreePort(t, c, string(raw))
		help, err := exec.Command(bins[c.target], "--help").CombinedOutput()
		require.NoError(t, err, "%s --help", c.target)
		assert.Contains(t, string(help), fmt.Sprintf("(default %q", serves), "%s --help names its default --listen", c.target)
	}
	// A run that straddles midnight in UTC+8 would pull a day the fake (started the day
	// before) does not hold: run again; twice in one test is impossible.
	for range 2 {
		day := billingYesterday()
		r := runTrial(t, cmds, bins, raw)
		if billingYesterday() == day {
			r.check(t, day)
			return
		}
		t.Logf("the billing day changed during the run; running again")
	}
}

// trial is what one run of the README's commands left.
type trial struct {
	config   map[string]any
	fakeLine string // the fake's line
	display  string // the display sink's stdout
	code     int    // the connector's exit status
	log      string // the connector's output
}

// runTrial starts every command but the last as a server on a free port, writes the
// config with those ports, runs the last command (the connector) to its end, and stops
// the servers with SIGINT, each of which must exit 0.
func runTrial(t *testing.T, cmds []command, bins map[string]string, raw []byte) trial {
	t.Helper()
	dir := t.TempDir()
	changed := harness.NewSignal()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir, "BUILD_WORKING_DIRECTORY=" + dir}
	config := string(raw)
	servers := map[string]*proc{} // by the config's address they serve
	for _, c := range cmds[:len(cmds)-1] {
		args, serves := onFreePort(t, c, config)
		p := start(t, changed, dir, env, bins[c.target], args)
		changed.Wait(t, c.line+" to listen", p.out, func() bool { return p.exited() || loopbackRE.MatchString(p.all()) })
		if p.exited() {
			require.FailNow(t, c.line+" exited before it listened", "status %d:\n%s", p.code(), p.all())
		}
		config = strings.ReplaceAll(config, serves, loopbackRE.FindString(p.all()))
		servers[serves] = p
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, exampleConfig), []byte(config), 0o600))
	var cfg map[string]any
	require.NoError(t, json.Unmarshal([]byte(config), &cfg))
	last := cmds[len(cmds)-1]
	conn := start(t, changed, dir, env, bins[last.target], last.args)
	changed.Wait(t, last.line+" to exit", conn.out, conn.exited)
	fake, display := servers[addr(t, raw, "endpoint")], servers[addr(t, raw, "v_target")]
	require.NotNil(t, fake, "no README command serves config.example.json's endpoint")
	require.NotNil(t, display, "no README command serves config.example.json's v_target")
	for _, p := range servers {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
		changed.Wait(t, "a server to stop on SIGINT", p.out, p.exited)
		require.Equal(t, 0, p.code(), "a server's exit status after SIGINT:\n%s", p.all())
	}
	return trial{config: cfg, fakeLine: fake.all(), display: display.stdout.String(), code: conn.code(), log: conn.all()}
}

// onFreePort is c's arguments with the config's loopback address that c listens on (its
// --listen) replaced by 127.0.0.1:0, and that address; a server that listens on none of
// them would take a fixed port, and fails the test.
func onFreePort(t *testing.T, c command, config string) ([]string, string) {
	t.Helper()
	args := append([]string(nil), c.args...)
	for i, a := range args {
		if m := loopbackRE.FindString(a); m != "" && strings.Contains(config, m) {
			args[i] = strings.ReplaceAll(a, m, "127.0.0.1:0")
			return args, m
		}
	}
	require.FailNow(t, "a README server listens on no address of config.example.json",
		"%s: give it --listen with the address config.example.json names (the test moves it to a free port)", c.line)
	return nil, ""
}

// addr is the loopback host:port in the config's key.
func addr(t *testing.T, raw []byte, key string) string {
	t.Helper()
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(raw, &cfg))
	v, _ := cfg[key].(string)
	a := loopbackRE.FindString(v)
	require.NotEmpty(t, a, "config.example.json's %s %q is on 127.0.0.1", key, v)
	return a
}

func (r trial) check(t *testing.T, day calendar.Day) {
	t.Helper()
	require.Equal(t, 0, r.code, "the connector's exit status; its output:\n%s", harness.Tail(r.log, 3000))
	m := fakeLineRE.FindStringSubmatch(r.fakeLine)
	require.NotNil(t, m, "the fake's line names its days and rows:\n%s", r.fakeLine)
	assert.Equal(t, day.String(), m[2], "the fake's last day is yesterday (UTC+8)")
	rows, err := strconv.Atoi(m[3])
	require.NoError(t, err)
	require.Positive(t, rows)
	want := map[string]int{}
	for _, b := range bills(t, r.config) {
		want["alicloud."+b+"_billing.daily"] = rows
	}
	events := parseDisplay(t, r.display)
	got, ids, revs := map[string]int{}, map[string]bool{}, map[int]bool{}
	for _, e := range events {
		got[e.fields["type"]]++
		ids[e.fields["id"]] = true
		assert.NotEmpty(t, e.fields["subject"], "event %s", e.fields["id"])
		rev, err := strconv.Atoi(e.fields["revision"])
		assert.NoError(t, err, "event %s: revision", e.fields["id"])
		assert.Positive(t, rev, "event %s: revision", e.fields["id"])
		revs[rev] = true
		assert.Equal(t, day.String(), e.data["BillingDate"], "event %s", e.fields["id"])
	}
	assert.Equal(t, want, got, "events per type: one per row of yesterday")
	assert.Len(t, ids, len(events), "distinct ids")
	assert.LessOrEqual(t, len(revs), len(want), "one revision per bill: the time of its pull")
}

// bills are the config's bills: a list, a comma-separated string, or the default.
func bills(t *testing.T, cfg map[string]any) []string {
	t.Helper()
	switch v := cfg["bills"].(type) {
	case nil:
		return []string{"account"}
	case string:
		return strings.Split(v, ",")
	case []any:
		out := make([]string, len(v))
		for i, b := range v {
			out[i], _ = b.(string)
		}
		return out
	}
	require.FailNow(t, "config.example.json's bills is a list or a string")
	return nil
}

// shown is one event as the display sink printed it.
type shown struct {
	fields map[string]string // id, type, subject, revision, ...
	data   map[string]any
}

// parseDisplay reads the display sink's output: per event a "--- event N ---" line,
// "name: value" lines, then "data:" and the data as indented JSON.
func parseDisplay(t *testing.T, out string) []shown {
	t.Helper()
	var events []shown
	blocks := strings.Split(out, "--- event ")
	require.Empty(t, strings.TrimSpace(blocks[0]), "the display printed only events on stdout")
	for i, b := range blocks[1:] {
		head, body, ok := strings.Cut(b, "\ndata:\n")
		require.True(t, ok, "event %d has JSON data:\n%s", i+1, b)
		require.True(t, strings.HasPrefix(head, fmt.Sprintf("%d ---\n", i+1)), "event %d is numbered:\n%s", i+1, head)
		e := shown{fields: map[string]string{}}
		for _, l := range strings.Split(head, "\n")[1:] {
			k, v, ok := strings.Cut(l, ":")
			require.True(t, ok, "event %d: %q is name: value", i+1, l)
			e.fields[k] = strings.TrimSpace(v)
		}
		require.NoError(t, json.Unmarshal([]byte(body), &e.data), "event %d's data", i+1)
		events = append(events, e)
	}
	return events
}

// proc is a command of the README running.
type proc struct {
	cmd    *exec.Cmd
	out    *harness.Buffer // stdout and stderr
	stdout *harness.Buffer // stdout alone
	done   chan struct{}
}

func start(t *testing.T, changed *harness.Signal, dir string, env []string, bin string, args []string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &harness.Buffer{Signal: changed},
		stdout: &harness.Buffer{Signal: changed}, done: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout, p.cmd.Stderr = teeWriter{p.stdout, p.out}, p.out
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait() // returns once the output is copied
		close(p.done)
		changed.Notify()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) all() string { return p.out.String() }

// code is the exit status; a death by signal is -1.
func (p *proc) code() int { <-p.done; return p.cmd.ProcessState.ExitCode() }

// teeWriter writes to both buffers.
type teeWriter struct{ a, b *harness.Buffer }

func (w teeWriter) Write(p []byte) (int, error) {
	_, _ = w.a.Write(p)
	return w.b.Write(p)
}
