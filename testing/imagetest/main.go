// Command imagetest checks the published image under a real container engine, the way the
// seed's users run it: `docker run -v config.json:/vance/config/config.json IMAGE`. It
// starts the fake BSS OpenAPI and the recording sink on loopback, runs the image with host
// networking, and checks that every row arrives in the seed's shape, that a bad config exits
// 2 with a clear message, that the process runs as uid 65532, that SIGTERM stops the daemon
// with status 0, and that --help works. It runs the README's image commands as written
// (readme.go), and the linux/arm64 connector of the image index under qemu (arm64.go). It
// prints "imagetest: N passed, M failed".
//
// tools/image-test installs and starts the engine (podman serving the Docker API) and runs
// this with the image tarball that //images:load builds and the index's OCI layout.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/clock"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

const (
	keyID  = "LTAI5tImageTest"
	secret = "image-test-secret-do-not-print"
	rows   = 650
)

type checker struct {
	clock         clock.Clock // the connector's clock package: the one place that reads the time
	docker, image string
	dir           string
	repo          string // the repository's folder: README.md, config.example.json, tools/
	layout, qemu  string // the image index's OCI layout and qemu-aarch64-static, for linux/arm64
	verbose       bool   // print what the README's commands printed
	api           *bssfake.Server
	sink          *sink.Sink
	passed        int
	failed        int
}

func main() {
	tarball := flag.String("tarball", "", "image tarball to docker load (empty: the image is already loaded)")
	image := flag.String("image", "alicloud-billing-source:latest", "image to run")
	docker := flag.String("docker", "docker", "docker CLI")
	repo := flag.String("repo", os.Getenv("BUILD_WORKSPACE_DIRECTORY"), "the repository's folder (default: where `bazel run` was called)")
	layout := flag.String("layout", "", "the image index's OCI layout (bazel-bin/images/image_layout); empty: no linux/arm64 check")
	qemu := flag.String("qemu", "qemu-aarch64-static", "runs linux/arm64 programs here (Debian's qemu-user-static)")
	verbose := flag.Bool("v", false, "print what each of the README's commands printed")
	flag.Parse()
	c := &checker{docker: *docker, image: *image, clock: clock.New(), repo: *repo, layout: *layout, qemu: *qemu, verbose: *verbose}
	os.Exit(c.run(*tarball))
}

func (c *checker) run(tarball string) int {
	docker := c.docker
	if tarball != "" {
		if out, err := exec.Command(docker, "load", "-i", tarball).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "imagetest: docker load -i %s: %v\n%s", tarball, err, out)
			return 1
		}
		fmt.Printf("imagetest: loaded %s\n", tarball)
	}
	var err error
	if c.dir, err = os.MkdirTemp("", "imagetest"); err != nil {
		fmt.Fprintln(os.Stderr, "imagetest:", err)
		return 1
	}
	defer os.RemoveAll(c.dir)
	_ = os.Chmod(c.dir, 0o755)
	// Its own key, and the fake's public test key that config.example.json names.
	c.api = bssfake.New(bssfake.Options{Keys: map[string]string{keyID: secret, bssfake.DefaultKeyID: bssfake.DefaultKeySecret}})
	c.sink = sink.New()
	if err := c.api.Start("127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, "imagetest: fake BSS API:", err)
		return 1
	}
	defer c.api.Close()
	if err := c.sink.Start("127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, "imagetest: sink:", err)
		return 1
	}
	defer c.sink.Close()

	c.check("image config: entrypoint, user 65532, labels, port 9090", c.imageConfig)
	c.check("--once delivers every row in the seed's shape", c.deliversEveryRow)
	c.check("bad config exits 2 with a clear message", c.badConfig)
	c.check("--help works", c.help)
	c.check("daemon runs as uid 65532 and stops on SIGTERM with 0", c.daemonUIDAndStop)
	c.check("state volume: a second --once with the same volume knows the day", c.stateVolume)
	c.check("README's image commands as written; a wrong secret exits 2", c.readmeLines)
	if c.layout != "" {
		c.check("linux/arm64 connector from the index runs under qemu: --version, --once", c.arm64)
	}
	fmt.Printf("imagetest: %d passed, %d failed\n", c.passed, c.failed)
	if c.failed > 0 {
		return 1
	}
	return 0
}

func (c *checker) check(name string, f func() error) {
	start := c.clock.Now()
	if err := f(); err != nil {
		c.failed++
		fmt.Printf("FAIL  %s (%s): %v\n", name, time.Since(start).Round(time.Millisecond), err)
		return
	}
	c.passed++
	fmt.Printf("ok    %s (%s)\n", name, time.Since(start).Round(time.Millisecond))
}

func (c *checker) config(extra map[string]any) (string, error) {
	cfg := map[string]any{"v_target": c.sink.URL(), "access_key_id": keyID, "secret_access_Key": secret,
		"endpoint": c.api.URL(), "pull_hour": 2, "pull_zone": "Asia/Shanghai", "listen": "127.0.0.1:0"}
	for k, v := range extra {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(c.dir, fmt.Sprintf("config-%d.json", c.clock.Now().UnixNano()))
	return p, os.WriteFile(p, b, 0o644) // readable by uid 65532 in the container
}

// docker runs the CLI and returns its combined output and exit status.
func (c *checker) dockerRun(args ...string) (string, int, error) {
	cmd := exec.Command(c.docker, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode(), nil
	}
	if err != nil {
		return out.String(), -1, err
	}
	return out.String(), 0, nil
}

// runContainer runs the image to completion without --rm (podman's Docker API reports
// status 0 for failed --rm containers), then removes it.
func (c *checker) runContainer(cfg string, args ...string) (string, int, error) {
	name := fmt.Sprintf("imagetest-%d", c.clock.Now().UnixNano())
	full := []string{"run", "--name", name, "--network", "host"}
	if cfg != "" {
		full = append(full, "-v", cfg+":/vance/config/config.json:ro")
	}
	full = append(append(full, c.image), args...)
	out, code, err := c.dockerRun(full...)
	_, _, _ = c.dockerRun("rm", "-f", "-v", name)
	if strings.Contains(out, secret) {
		return out, code, fmt.Errorf("the secret appeared in the container's output")
	}
	return out, code, err
}

func (c *checker) imageConfig() error {
	out, _, err := c.dockerRun("image", "inspect", "--format", "{{json .Config}}", c.image)
	if err != nil {
		return err
	}
	var cfg struct {
		User         string
		Entrypoint   []string
		Labels       map[string]string
		ExposedPorts map[string]struct{}
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &cfg); err != nil {
		return fmt.Errorf("inspect: %v: %s", err, out)
	}
	if cfg.User != "65532:65532" {
		return fmt.Errorf("user %q", cfg.User)
	}
	if len(cfg.Entrypoint) != 1 || cfg.Entrypoint[0] != "/usr/local/bin/connector" {
		return fmt.Errorf("entrypoint %v", cfg.Entrypoint)
	}
	if _, ok := cfg.ExposedPorts["9090/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		return fmt.Errorf("exposed ports %v, want the ops listener's 9090/tcp", cfg.ExposedPorts)
	}
	for _, l := range []string{"source", "version", "description", "licenses"} {
		if cfg.Labels["org.opencontainers.image."+l] == "" {
			return fmt.Errorf("label org.opencontainers.image.%s missing", l)
		}
	}
	return nil
}

func (c *checker) deliversEveryRow() error {
	day := c.recentDay(0)
	c.api.SetDay(day.String(), bssfake.SampleDay(day.String(), rows, 11))
	c.sink.Reset()
	cfg, err := c.config(nil)
	if err != nil {
		return err
	}
	out, code, err := c.runContainer(cfg, "--once", "--date", day.String())
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit %d:\n%s", code, out)
	}
	got := c.sink.Events()
	ids := map[string]bool{}
	for _, r := range got {
		if err := sink.CheckSeedShape(r.Event); err != nil {
			return fmt.Errorf("event %s: %w", r.Event.ID(), err)
		}
		ids[r.Event.ID()] = true
	}
	if len(ids) != rows {
		return fmt.Errorf("sink got %d distinct events, want %d:\n%s", len(ids), rows, out)
	}
	if !strings.Contains(out, `"fetched":650,"new":650,"changed":0,"unchanged":0,"pending":0,"delivered":650,"failed":0`) {
		return fmt.Errorf("no day-done log line with the counts:\n%s", out)
	}
	return nil
}

func (c *checker) badConfig() error {
	cfg, err := c.config(map[string]any{"pull_hour": 25})
	if err != nil {
		return err
	}
	out, code, err := c.runContainer(cfg, "--once")
	if err != nil {
		return err
	}
	if code != 2 {
		return fmt.Errorf("exit %d, want 2:\n%s", code, out)
	}
	if !strings.Contains(out, `config: pull_hour: "25" is not a whole hour from 0 to 23`) {
		return fmt.Errorf("unclear message:\n%s", out)
	}
	// No config mounted at all: the default path is named.
	out, code, err = c.runContainer("", "--once")
	if err != nil {
		return err
	}
	if code != 2 || !strings.Contains(out, "v_target") && !strings.Contains(out, "/vance/config/config.json") {
		return fmt.Errorf("without a config: exit %d:\n%s", code, out)
	}
	return nil
}

// stateVolume runs --once twice with the state volume on a host directory: the state file
// is written there (by uid 65532) and the second run sees the rows as already delivered.
func (c *checker) stateVolume() error {
	day := c.recentDay(1)
	c.api.SetDay(day.String(), bssfake.SampleDay(day.String(), 30, 12))
	vol := filepath.Join(c.dir, "state")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		return err
	}
	if err := os.Chown(vol, 65532, 65532); err != nil {
		return err
	}
	cfg, err := c.config(nil)
	if err != nil {
		return err
	}
	for i, want := range []string{`"new":30,"changed":0,"unchanged":0`, `"new":0,"changed":0,"unchanged":30`} {
		name := fmt.Sprintf("imagetest-state-%d-%d", i, c.clock.Now().UnixNano())
		out, code, err := c.dockerRun("run", "--name", name, "--network", "host",
			"-v", cfg+":/vance/config/config.json:ro", "-v", vol+":/var/lib/alicloud-billing-source",
			c.image, "--once", "--date", day.String())
		_, _, _ = c.dockerRun("rm", "-f", "-v", name)
		if err != nil || code != 0 {
			return fmt.Errorf("run %d: exit %d %v:\n%s", i+1, code, err, out)
		}
		if !strings.Contains(out, want) {
			return fmt.Errorf("run %d: want %s in:\n%s", i+1, want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(vol, "state.db")); err != nil {
		return fmt.Errorf("no state file in the volume: %w", err)
	}
	return nil
}

func (c *checker) help() error {
	out, code, err := c.runContainer("", "--help")
	if err != nil {
		return err
	}
	if code != 0 || !strings.Contains(out, "--once") || !strings.Contains(out, "/vance/config/config.json") {
		return fmt.Errorf("exit %d:\n%s", code, out)
	}
	return nil
}

func (c *checker) daemonUIDAndStop() error {
	cfg, err := c.config(nil)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("imagetest-daemon-%d", c.clock.Now().UnixNano())
	defer c.dockerRun("rm", "-f", "-v", name) //nolint:errcheck
	if out, code, err := c.dockerRun("run", "-d", "--name", name, "--network", "host",
		"-v", cfg+":/vance/config/config.json:ro", c.image); err != nil || code != 0 {
		return fmt.Errorf("start: exit %d %v: %s", code, err, out)
	}
	deadline := c.clock.Now().Add(30 * time.Second)
	for {
		logs, _, _ := c.dockerRun("logs", name)
		if strings.Contains(logs, "waiting for the next pull") {
			break
		}
		if c.clock.Now().After(deadline) {
			return fmt.Errorf("daemon did not start:\n%s", logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	pidOut, _, err := c.dockerRun("inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		return err
	}
	status, err := os.ReadFile("/proc/" + strings.TrimSpace(pidOut) + "/status")
	if err != nil {
		return fmt.Errorf("read the container process's status: %w", err)
	}
	var uidLine string
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Uid:") {
			uidLine = l
		}
	}
	if f := strings.Fields(uidLine); len(f) < 3 || f[1] != "65532" || f[2] != "65532" {
		return fmt.Errorf("process uid line %q, want 65532", uidLine)
	}
	if out, code, err := c.dockerRun("stop", "-t", "20", name); err != nil || code != 0 {
		return fmt.Errorf("stop: exit %d %v: %s", code, err, out)
	}
	exitOut, _, err := c.dockerRun("inspect", "--format", "{{.State.ExitCode}}", name)
	if err != nil {
		return err
	}
	if strings.TrimSpace(exitOut) != "0" {
		logs, _, _ := c.dockerRun("logs", name)
		return fmt.Errorf("exit status after SIGTERM %s, want 0:\n%s", strings.TrimSpace(exitOut), logs)
	}
	return nil
}

// recentDay is a day the API serves (the connector refuses days older than 18 months):
// three weeks ago, plus n.
func (c *checker) recentDay(n int) calendar.Day {
	return calendar.Of(c.clock.Now().UTC()).AddDays(-21 + n)
}
