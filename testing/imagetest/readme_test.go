package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadmeCommands_TheMarkedBlockOfTheSectionWithContinuedLines(t *testing.T) {
	md := "# X\n\n```sh\ndocker run no\n```\n\n" + readmeSection + "\n\nText.\n\n```sh\ndocker run not-marked\n```\n\n" +
		readmeMarker + " -->\n```sh\neval \"$(x)\"   # a comment\n\ndocker run --name a \\\n  -v b \\\n  image --once\ndocker rm a\n```\n\n" +
		"```sh\ndocker run later\n```\n## Next\n"
	cmds, err := readmeCommands(md)
	require.NoError(t, err)
	assert.Equal(t, []string{`eval "$(x)"   # a comment`, "docker run --name a \\\n  -v b \\\n  image --once", "docker rm a"}, cmds)

	for name, md := range map[string]string{
		"no section":           "## Other\n" + readmeMarker + "\n```sh\ndocker run a\n```\n",
		"no marker":            readmeSection + "\n```sh\ndocker run a\n```\n",
		"marker in next":       readmeSection + "\ntext\n## Next\n" + readmeMarker + "\n```sh\ndocker run a\n```\n",
		"no block after it":    readmeSection + "\n" + readmeMarker + "\ntext\n",
		"block does not close": readmeSection + "\n" + readmeMarker + "\n```sh\ndocker run a\n",
	} {
		_, err := readmeCommands(md)
		assert.Error(t, err, name)
	}
}

// The README's block has what the image test replaces and looks for, so that a change to
// it fails here, in `bazel test //...`, before tools/image-test runs it.
func TestReadmeCommands_TheReadmesBlockHasWhatTheImageTestNeeds(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	cmds, err := readmeCommands(string(b))
	require.NoError(t, err)
	require.NoError(t, checkSubstitutions(cmds))
	assert.Less(t, onceAt(cmds), inspectAt(cmds), "docker inspect after the run")
	assert.Less(t, inspectAt(cmds), removeOnceAt(cmds), "docker rm after docker inspect")
	for _, c := range cmds {
		assert.NotContains(t, c, "--rm", "podman's Docker API reports 0 for a failed --rm container: %q", c)
	}
}

func TestCleanReadme_NamesFromTheBlock(t *testing.T) {
	all := "docker volume create acb-trial   # x\ndocker run --name acb-once --network host \\\n  -v acb-trial:/v img\ndocker run -d --name acb-daemon img"
	var names []string
	for _, m := range containerName.FindAllStringSubmatch(all, -1) {
		names = append(names, m[1])
	}
	for _, m := range volumeName.FindAllStringSubmatch(all, -1) {
		names = append(names, m[1])
	}
	assert.Equal(t, []string{"acb-once", "acb-daemon", "acb-trial"}, names)
}

func TestLastLine_IsTheAnswerAfterCurlsRetries(t *testing.T) {
	assert.Equal(t, "ready", lastLine("curl: (7) Failed to connect to 127.0.0.1 port 1 after 0 ms\nready\n"))
	assert.Equal(t, "ready", lastLine("ready"))
	assert.Equal(t, "", lastLine(""))
}
