package config

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's configuration table is written from Keys, between these markers:
// go test ./connector/config -run TestREADME -update rewrites it.
const (
	readmeFile  = "../../README.md" // Bazel: //:README.md in the test's data
	tableBegin  = "<!-- config keys: written from connector/config/keys.go by `go test ./connector/config -run TestREADME -update` -->\n"
	tableEnd    = "<!-- end of config keys -->\n"
	tableHeader = "| key | environment | default | meaning |\n|---|---|---|---|\n"
)

var update = flag.Bool("update", false, "rewrite README.md's configuration table from Keys")

// markdownTable is Keys as the README's table: a row for each key.
func markdownTable() string {
	var b strings.Builder
	b.WriteString("\n" + tableHeader) // blank lines around the table: the markers are blocks of their own
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	code := func(s string) string {
		if s == "" || strings.HasPrefix(s, "(") {
			return s
		}
		return "`" + s + "`"
	}
	for _, k := range Keys {
		b.WriteString("| " + code(k.Name) + " | " + code(k.Env()) + " | " + cell(code(k.Shown())) + " | " + cell(k.Doc()) + " |\n")
	}
	b.WriteString("\n")
	return b.String()
}

func TestREADME_ConfigurationTableIsTheKeyTable(t *testing.T) {
	b, err := os.ReadFile(readmeFile)
	require.NoError(t, err)
	readme := string(b)
	_, section, ok := strings.Cut(readme, "\n## Configuration\n")
	require.True(t, ok, "README.md has a Configuration section")
	section, _, _ = strings.Cut(section, "\n## ")
	_, rest, ok := strings.Cut(section, tableBegin)
	require.True(t, ok, "the Configuration section has the marker %q", tableBegin)
	table, _, ok := strings.Cut(rest, tableEnd)
	require.True(t, ok, "the Configuration section has the marker %q", tableEnd)
	want := markdownTable()
	if *update && table != want {
		readme = strings.Replace(readme, tableBegin+table+tableEnd, tableBegin+want+tableEnd, 1)
		require.NoError(t, os.WriteFile(readmeFile, []byte(readme), 0o644))
		return
	}
	assert.Equal(t, want, table, "README.md's configuration table is not Keys: run go test ./connector/config -run TestREADME -update")
}

func TestMarkdownTable_ARowForEveryKeyWithItsDefaultAndEnvironment(t *testing.T) {
	table := markdownTable()
	for _, row := range []string{
		"| `pull_hour` | `PULL_HOUR` | `2` | hour of the day (0..23, ",
		"| `secret_access_Key` | `SECRET_ACCESS_KEY` | `$ALIBABA_CLOUD_ACCESS_KEY_SECRET` | AccessKey secret (also `secret_access_key`) |",
		"| `nats.stream` |  | (required for nats://) | ",
		"| `accounts[].name` |  |  | ",
	} {
		assert.Contains(t, table, row)
	}
	assert.Equal(t, len(Keys)+4, strings.Count(table, "\n"), "a line per key, after the header, between blank lines")
}
