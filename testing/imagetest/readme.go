package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/readme"
)

// The README's image commands, run as written: the ```sh block after readmeMarker in the
// section readmeSection. Nothing of them is copied here; the test knows only these
// substitutions, each of which must apply (a README that no longer has the text fails):
//
//   - readmeConfig ("$PWD/config.example.json") becomes the test's copy of
//     config.example.json, whose loopback ports 8082 (the fake) and 8081 (the display)
//     are those of the fake and the recording sink this test started;
//   - readmeOps ("127.0.0.1:9090") becomes a free loopback port;
//   - `docker` is the --docker CLI (a shell function) when that is not docker.
//
// The commands run in one bash, one after the other from the repository's folder, each
// one's output and exit status kept apart; `eval "$(tools/container-engine)"` finds the
// engine tools/image-test started (ACB_ENGINE_DIR), `tools/bazel run //images:load`
// loads the image tools/image-test built.
const (
	readmeSection = "## The image"
	readmeMarker  = "<!-- testing/imagetest runs the next block as written"
	readmeConfig  = "$PWD/config.example.json"
	readmeOps     = "127.0.0.1:9090"
)

// readmeCommands reads the marked block: one command per line, a line that ends in a
// backslash continued by the next.
func readmeCommands(md string) ([]string, error) {
	block, err := readme.ShBlock(md, readmeSection, readmeMarker)
	if err != nil {
		return nil, err
	}
	var cmds []string
	cont := false
	for _, line := range strings.Split(block, "\n") {
		if cont {
			cmds[len(cmds)-1] += "\n" + line
		} else if strings.TrimSpace(line) != "" {
			cmds = append(cmds, line)
		}
		cont = strings.HasSuffix(line, `\`)
	}
	return cmds, nil
}

// result is what one command of the block did.
type result struct {
	cmd    string
	out    string
	status int
}

// runBlock writes cmds, substituted, into a bash script and runs it from the repository's
// folder; config is the path that replaces readmeConfig.
func (c *checker) runBlock(cmds []string, config, ops string) ([]result, error) {
	dir, err := os.MkdirTemp(c.dir, "block")
	if err != nil {
		return nil, err
	}
	var script strings.Builder
	fmt.Fprintf(&script, "cd %q || exit 99\n", c.repo)
	if c.docker != "docker" {
		fmt.Fprintf(&script, "docker() { %q \"$@\"; }\n", c.docker)
	}
	for i, cmd := range cmds {
		cmd = strings.ReplaceAll(cmd, readmeConfig, config)
		cmd = strings.ReplaceAll(cmd, readmeOps, ops)
		fmt.Fprintf(&script, "{\n%s\n} >%q 2>&1 </dev/null\necho $? >%q\n", cmd,
			filepath.Join(dir, fmt.Sprintf("out.%d", i)), filepath.Join(dir, fmt.Sprintf("status.%d", i)))
	}
	if out, err := exec.Command("bash", "-c", script.String()).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bash: %v: %s", err, out)
	}
	res := make([]result, len(cmds))
	for i, cmd := range cmds {
		out, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out.%d", i)))
		st, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("status.%d", i)))
		if err != nil {
			return nil, fmt.Errorf("%q did not run: %w", cmd, err)
		}
		code, err := strconv.Atoi(strings.TrimSpace(string(st)))
		if err != nil {
			return nil, fmt.Errorf("%q: status %q", cmd, st)
		}
		res[i] = result{cmd: cmd, out: string(out), status: code}
	}
	if c.verbose {
		fmt.Println(strings.Join(outputs(res), "\n"))
	}
	return res, nil
}

// exampleConfig writes config.example.json with the fake's and the sink's ports, and
// secret instead of the fake's public test secret when it is not "".
func (c *checker) exampleConfig(name, secret string) (string, error) {
	b, err := os.ReadFile(filepath.Join(c.repo, "config.example.json"))
	if err != nil {
		return "", err
	}
	s := string(b)
	for from, to := range map[string]string{"127.0.0.1:8082": hostPort(c.api.URL()), "127.0.0.1:8081": hostPort(c.sink.URL())} {
		if !strings.Contains(s, from) {
			return "", fmt.Errorf("config.example.json names no %s", from)
		}
		s = strings.ReplaceAll(s, from, to)
	}
	if secret != "" {
		if !strings.Contains(s, `"`+bssfake.DefaultKeySecret+`"`) {
			return "", fmt.Errorf("config.example.json has no secret %q", bssfake.DefaultKeySecret)
		}
		s = strings.ReplaceAll(s, `"`+bssfake.DefaultKeySecret+`"`, strconv.Quote(secret))
	}
	p := filepath.Join(c.dir, name)
	return p, os.WriteFile(p, []byte(s), 0o644) // readable by uid 65532 in the container
}

func hostPort(url string) string { return strings.TrimPrefix(url, "http://") }

// freePort is a loopback address nothing listens on (as the kernel hands them out).
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// readmeLines: the block as written, then its one-off run again with a wrong secret.
func (c *checker) readmeLines() error {
	if c.repo == "" {
		return fmt.Errorf("no repository folder: run under `bazel run` or give --repo")
	}
	readme, err := os.ReadFile(filepath.Join(c.repo, "README.md"))
	if err != nil {
		return err
	}
	cmds, err := readmeCommands(string(readme))
	if err != nil {
		return err
	}
	if err := checkSubstitutions(cmds); err != nil {
		return err
	}
	c.serveYesterday()
	c.cleanReadme(cmds)
	defer c.cleanReadme(cmds)
	if err := c.readmeGood(cmds); err != nil {
		return err
	}
	return c.readmeWrongSecret(cmds)
}

// checkSubstitutions: the block still has what the test replaces, and the commands it
// looks for.
func checkSubstitutions(cmds []string) error {
	all := strings.Join(cmds, "\n")
	for _, s := range []string{readmeConfig, readmeOps} {
		if !strings.Contains(all, s) {
			return fmt.Errorf("the README's block no longer has %q, which the test replaces", s)
		}
	}
	if onceAt(cmds) < 0 || inspectAt(cmds) < 0 || removeOnceAt(cmds) < 0 {
		return fmt.Errorf("the README's block has no `docker run ... --once`, `docker inspect` and `docker rm` of it:\n%s", all)
	}
	return nil
}

func onceAt(cmds []string) int {
	return indexOf(cmds, func(s string) bool { return strings.HasPrefix(s, "docker run ") && strings.Contains(s, "--once") })
}

func inspectAt(cmds []string) int {
	return indexOf(cmds, func(s string) bool { return strings.HasPrefix(s, "docker inspect ") })
}

func removeOnceAt(cmds []string) int {
	return indexOf(cmds, func(s string) bool { return strings.HasPrefix(s, "docker rm ") })
}

func indexOf(cmds []string, f func(string) bool) int {
	for i, s := range cmds {
		if f(s) {
			return i
		}
	}
	return -1
}

// serveYesterday gives the fake the README's day: yesterday in config.example.json's
// pull_zone (UTC+8), and the days either side, so that a run across midnight finds it too;
// 5 rows of each bill, as the fake's command serves.
func (c *checker) serveYesterday() {
	y := calendar.Yesterday(c.clock.Now(), time.FixedZone("UTC+8", 8*60*60))
	for _, d := range []calendar.Day{y.AddDays(-1), y, y.AddDays(1)} {
		c.api.SetDay(d.String(), bssfake.SampleDay(d.String(), 5, 21))
		c.api.GenerateInstanceDay(d.String(), 5, 21)
	}
}

// The containers and volumes the block makes, by the names it gives them.
var (
	containerName = regexp.MustCompile(`--name\s+([A-Za-z0-9][A-Za-z0-9_.-]*)`)
	volumeName    = regexp.MustCompile(`docker volume create\s+([A-Za-z0-9][A-Za-z0-9_.-]*)`)
)

// cleanReadme removes what the block makes (its containers and volumes), so that every run
// starts without state.
func (c *checker) cleanReadme(cmds []string) {
	all := strings.Join(cmds, "\n")
	for _, m := range containerName.FindAllStringSubmatch(all, -1) {
		_, _, _ = c.dockerRun("rm", "-f", "-v", m[1])
	}
	for _, m := range volumeName.FindAllStringSubmatch(all, -1) {
		_, _, _ = c.dockerRun("volume", "rm", "-f", m[1])
	}
}

// readmeGood runs the whole block: every command exits 0, every row of yesterday's two
// bills reaches the sink, docker inspect says 0 and the daemon's ops listener answers.
func (c *checker) readmeGood(cmds []string) error {
	cfg, err := c.exampleConfig("config.example.json", "")
	if err != nil {
		return err
	}
	ops, err := freePort()
	if err != nil {
		return err
	}
	c.sink.Reset()
	res, err := c.runBlock(cmds, cfg, ops)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.status != 0 {
			return fmt.Errorf("%s\nexit status %d:\n%s", r.cmd, r.status, r.out)
		}
	}
	if got := strings.TrimSpace(res[inspectAt(cmds)].out); got != "0" {
		return fmt.Errorf("docker inspect says %q, want 0", got)
	}
	ids := map[string]bool{}
	for _, r := range c.sink.Events() {
		ids[r.Event.ID()] = true
	}
	once := res[onceAt(cmds)].out
	if len(ids) != 10 || !strings.Contains(once, `"delivered":10,"failed":0`) {
		return fmt.Errorf("the sink got %d distinct events, want 10 (5 rows of each bill):\n%s", len(ids), once)
	}
	probe := indexOf(cmds, func(s string) bool { return strings.HasPrefix(s, "curl ") && strings.Contains(s, readmeOps) })
	// The last line: curl reports each refused attempt before the daemon listens.
	if probe < 0 || lastLine(res[probe].out) != "ready" {
		return fmt.Errorf("no answer \"ready\" from the daemon's ops listener:\n%s", strings.Join(outputs(res), "\n"))
	}
	return nil
}

// readmeWrongSecret runs the block up to the removal of the one-off container with a
// config whose secret is wrong: the API refuses it, docker run and docker inspect say 2.
func (c *checker) readmeWrongSecret(cmds []string) error {
	cfg, err := c.exampleConfig("config-wrong-secret.json", "not-the-secret")
	if err != nil {
		return err
	}
	c.sink.Reset()
	res, err := c.runBlock(cmds[:removeOnceAt(cmds)+1], cfg, readmeOps)
	if err != nil {
		return err
	}
	once := res[onceAt(cmds)]
	if once.status != 2 || !strings.Contains(once.out, "SignatureDoesNotMatch") {
		return fmt.Errorf("with a wrong secret: exit status %d, want 2 (credentials refused):\n%s", once.status, once.out)
	}
	if got := strings.TrimSpace(res[inspectAt(cmds)].out); got != "2" {
		return fmt.Errorf("with a wrong secret: docker inspect says %q, want 2", got)
	}
	if n := len(c.sink.Events()); n != 0 {
		return fmt.Errorf("with a wrong secret: the sink got %d events", n)
	}
	return nil
}

func outputs(res []result) []string {
	out := make([]string, len(res))
	for i, r := range res {
		b, _ := json.Marshal(r.cmd)
		out[i] = fmt.Sprintf("$ %s -> %d\n%s", b, r.status, r.out)
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
