// Package scriptcheck checks the repository's shell scripts for what must never be in
// them: the address of a package archive or registry. They use what the machine is
// configured with (its apt sources, GOPROXY) or the tool's own default.
package scriptcheck

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	anyURL   = regexp.MustCompile(`(https?|ftp|rsync|git|ssh)\??://[^\s"'(){}<>]*`)
	loopback = regexp.MustCompile(`^[a-z]+://(127\.0\.0\.1|localhost|\[::1\])([:/]|$)`)
	// A URL pattern in a script's grep or sed, such as 'https?://[^ ]+/debian/?', is not an
	// address: it has no host.
	noHost = regexp.MustCompile(`^[a-z]+\??://($|\[|\()`)
)

// hosts lists the network addresses named in text, loopback excepted.
func hosts(text string) []string {
	var out []string
	for _, u := range anyURL.FindAllString(text, -1) {
		if loopback.MatchString(u) || noHost.MatchString(u) {
			continue
		}
		out = append(out, u)
	}
	return out
}

func TestScripts_NameNoNetworkAddress(t *testing.T) {
	for _, name := range []string{"../bazel", "../bazel-reset", "../check-generated", "../container-engine", "../image-test"} {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		assert.Empty(t, hosts(string(b)), "%s names a network address; use the machine's configuration or the tool's default", name)
	}
}

func TestHosts_FindsArchiveAddressesAndSkipsPatternsAndLoopback(t *testing.T) {
	assert.Equal(t, []string{"http://mirror.example/debian"}, hosts(`echo "${m:-http://mirror.example/debian}"`))
	assert.Equal(t, []string{"https://proxy.example/x"}, hosts("GOPROXY=https://proxy.example/x go mod download"))
	assert.Empty(t, hosts(`grep -oE 'https?://[^ ]+/debian/?( |$)'`))
	assert.Empty(t, hosts("curl http://127.0.0.1:8080/ http://localhost/ http://[::1]:9/"))
}
