package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// --help's Config keys block is config.Keys: a line for each key, in its order, with its
// default (or the variable that stands in for it) and its help without the backquotes.
func TestHelp_ConfigKeysAreTheKeyTable(t *testing.T) {
	var b bytes.Buffer
	printHelp(&b)
	help := b.String()
	_, block, ok := strings.Cut(help, "\nConfig keys (")
	require.True(t, ok, "a Config keys block")
	block, _, _ = strings.Cut(block, "\n\n")
	lines := strings.Split(block, "\n")
	var keys []string
	for _, l := range lines {
		if strings.HasPrefix(l, "  ") {
			keys = append(keys, l)
		}
	}
	require.Len(t, keys, len(config.Keys))
	for i, k := range config.Keys {
		cols := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(keys[i]), 3)
		if k.Shown() == "" {
			cols = append(cols[:1], append([]string{""}, cols[1:]...)...)
		}
		require.Len(t, cols, 3, keys[i])
		assert.Equal(t, []string{k.Name, k.Shown(), strings.ReplaceAll(k.Doc(), "`", "")}, cols, k.Name)
	}
	assert.NotContains(t, help, "`", "no markdown in a terminal")
	assert.Contains(t, help, "  access_key_id             $ALIBABA_CLOUD_ACCESS_KEY_ID ")
	assert.Contains(t, help, "AccessKey secret (also secret_access_key)\n")
}
