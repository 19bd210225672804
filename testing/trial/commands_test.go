// Package trial runs the README's "Try it locally" as a newcomer would: the commands of
// that section's first sh block, read from README.md (not copied here), each
// `tools/bazel run //:NAME -- ARGS` run as the binary Bazel runs for //:NAME, with
// config.example.json. The loopback addresses they name (the fake's and the display's
// --listen, the config's endpoint and v_target) become free ports: each server listens
// on 127.0.0.1:0 and the test writes the ports they print into its copy of the config.
package trial

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/testing/readme"
)

// The repository's files, in the source tree (go test) and in the runfiles (Bazel runs a
// test in its package's directory there; BUILD.bazel makes them data).
const (
	root          = "../.."
	readmeFile    = root + "/README.md"
	configFile    = root + "/config.example.json"
	buildFile     = root + "/BUILD.bazel"
	trySection    = "## Try it locally"
	exampleConfig = "config.example.json"
)

// command is one line of the section: `tools/bazel run //:target -- args...`.
type command struct {
	line   string
	target string // the alias name: "fake" for //:fake
	args   []string
}

// shellSpecial are the characters a plain command has no use for: a line with one of them
// is more than the test can run as written.
const shellSpecial = "'\"`$\\|&;<>(){}[]*?~"

// parseCommands reads the first ```sh block of the "Try it locally" section of readme.
func parseCommands(md string) ([]command, error) {
	block, err := readme.ShBlock(md, trySection, "")
	if err != nil {
		return nil, err
	}
	var cmds []command
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		c, err := parseCommand(line)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	if len(cmds) < 2 {
		return nil, fmt.Errorf("section %q: %d commands; want the servers, then the connector", trySection, len(cmds))
	}
	return cmds, nil
}

func parseCommand(line string) (command, error) {
	if strings.ContainsAny(line, shellSpecial) {
		return command{}, fmt.Errorf("%q: not a plain command (quotes, variables, pipes)", line)
	}
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "tools/bazel" || f[1] != "run" || !strings.HasPrefix(f[2], "//:") {
		return command{}, fmt.Errorf("%q: not `tools/bazel run //:NAME -- ARGS`", line)
	}
	c := command{line: line, target: strings.TrimPrefix(f[2], "//:")}
	if len(f) > 3 {
		if f[3] != "--" {
			return command{}, fmt.Errorf("%q: the binary's arguments go after --", line)
		}
		c.args = f[4:]
	}
	return c, nil
}

func TestParseCommands_ReadsTheFirstShBlockOfTheSection(t *testing.T) {
	md := "# X\n\n## Other\n\n```sh\ntools/bazel run //:no\n```\n\n" + trySection + "\n\nText.\n\n```sh\n" +
		"tools/bazel run //:fake -- --listen 127.0.0.1:8082   # terminal 1\n\n" +
		"tools/bazel run //:connector -- --config c.json --once\n```\n\n```sh\ntools/bazel run //:later\n```\n## Next\n"
	cmds, err := parseCommands(md)
	require.NoError(t, err)
	assert.Equal(t, []command{
		{line: "tools/bazel run //:fake -- --listen 127.0.0.1:8082", target: "fake", args: []string{"--listen", "127.0.0.1:8082"}},
		{line: "tools/bazel run //:connector -- --config c.json --once", target: "connector", args: []string{"--config", "c.json", "--once"}},
	}, cmds)

	for name, md := range map[string]string{
		"no section":       "## Other\n```sh\ntools/bazel run //:a\ntools/bazel run //:b\n```\n",
		"no block":         trySection + "\ntext\n## Next\n```sh\ntools/bazel run //:a\ntools/bazel run //:b\n```\n",
		"one command":      trySection + "\n```sh\ntools/bazel run //:a\n```\n",
		"not bazel run":    trySection + "\n```sh\ngo run ./x\ntools/bazel run //:b\n```\n",
		"not a root alias": trySection + "\n```sh\ntools/bazel run //testing/x\ntools/bazel run //:b\n```\n",
		"args without --":  trySection + "\n```sh\ntools/bazel run //:a --x\ntools/bazel run //:b\n```\n",
		"a variable":       trySection + "\n```sh\ntools/bazel run //:a -- $X\ntools/bazel run //:b\n```\n",
		"unterminated":     trySection + "\n```sh\ntools/bazel run //:a\ntools/bazel run //:b\n",
	} {
		_, err := parseCommands(md)
		assert.Error(t, err, name)
	}
}

// aliasRE is an alias of the root BUILD.bazel: its name and the package it points at.
var aliasRE = regexp.MustCompile(`alias\(\s*name = "([^"]+)",\s*actual = "//([^":]+)(?::([^"]+))?",`)

// binaries are the executables `bazel run //:NAME` runs, by NAME. Under Bazel they are the
// test's data, each at the runfiles path in TRY_BIN_<NAME> (BUILD.bazel sets it with
// $(rlocationpath //:NAME)). Under go test, the package the root BUILD.bazel's alias NAME
// points at, built with go build into a temporary directory.
func binaries(t *testing.T, names []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if runfiles := bazelRunfiles(); runfiles != "" {
		for _, n := range names {
			rel := os.Getenv("TRY_BIN_" + strings.ToUpper(n))
			require.NotEmpty(t, rel, "the README runs //:%s, which is not in //testing/trial's data and env (TRY_BIN_%s)",
				n, strings.ToUpper(n))
			out[n] = filepath.Join(runfiles, rel)
		}
		return out
	}
	b, err := os.ReadFile(buildFile)
	require.NoError(t, err)
	pkgs := map[string]string{}
	for _, m := range aliasRE.FindAllStringSubmatch(string(b), -1) {
		if m[3] == "" || m[3] == filepath.Base(m[2]) { // the package's own binary
			pkgs[m[1]] = m[2]
		}
	}
	dir := t.TempDir()
	for _, n := range names {
		pkg, ok := pkgs[n]
		require.True(t, ok, "the README runs //:%s, which is no alias of a binary in the root BUILD.bazel", n)
		out[n] = filepath.Join(dir, n)
		build := exec.Command("go", "build", "-o", out[n], "./"+pkg)
		build.Dir = root
		b, err := build.CombinedOutput()
		require.NoError(t, err, "go build ./%s (//:%s):\n%s", pkg, n, b)
	}
	return out
}

// bazelRunfiles is the runfiles root when Bazel runs the test, else "".
func bazelRunfiles() string {
	if d := os.Getenv("RUNFILES_DIR"); d != "" {
		return d
	}
	return os.Getenv("TEST_SRCDIR")
}
