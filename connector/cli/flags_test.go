package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
)

func TestParseFlags_ModeOrAUsageError(t *testing.T) {
	c, err := parseFlags([]string{"--config", "c.json", "--from", "2026-10-30", "--to", "2026-11-02", "--dry-run", "--account", "a,b", "--account", "c", "--verbose"})
	require.NoError(t, err)
	assert.Equal(t, "c.json", c.config)
	assert.True(t, c.mode.Range && c.mode.DryRun && c.verbose)
	assert.Equal(t, accountFlag{"a", "b", "c"}, c.only)

	c, err = parseFlags([]string{"--check", "--config", "c.json", "--account", "a", "--shard", "1/3"})
	require.NoError(t, err)
	assert.True(t, c.mode.Check)
	assert.Equal(t, "1/3", c.shard)
	assert.Equal(t, Mode{Check: true}, c.mode)

	c, err = parseFlags([]string{"--close-month", "2026-10", "--dry-run", "--account", "a"})
	require.NoError(t, err)
	assert.Equal(t, Mode{Close: true, Month: calendar.Month{Year: 2026, Month: 10}, DryRun: true}, c.mode)
	assert.True(t, c.mode.OneOff())

	c, err = parseFlags([]string{"--catch-up-from", "2026-10-01"})
	require.NoError(t, err)
	assert.Equal(t, "2026-10-01", c.mode.Since.String())

	c, err = parseFlags([]string{"--import-state", "/s/shard2.db", "--once", "--import-state", "/s/shard3.db"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/s/shard2.db", "/s/shard3.db"}, c.mode.ImportFrom)
	assert.True(t, c.mode.Once)

	// --help and --version win over what else is on the line, as before.
	c, err = parseFlags([]string{"--once", "--from", "x", "--help", "extra"})
	require.NoError(t, err)
	assert.True(t, c.help)
	c, err = parseFlags([]string{"--version", "extra"})
	require.NoError(t, err)
	assert.True(t, c.version)

	for want, args := range map[string][]string{
		"flag provided but not defined: -bogus":                                {"--bogus"},
		`unexpected argument "x"`:                                              {"x"},
		"--dry-run goes with --once, --from/--to or --close-month":             {"--dry-run"},
		"--catch-up-from is for the daemon":                                    {"--once", "--catch-up-from", "2026-10-01"},
		`--catch-up-from: "nope" is not a date`:                                {"--catch-up-from", "nope"},
		"--account needs an account name":                                      {"--account", "a,,b"},
		`--shard: "3/3" is not K/N`:                                            {"--shard", "3/3"},
		"--shard needs K/N":                                                    {"--shard", " "},
		"--once and --from/--to cannot be combined":                            {"--once", "--from", "2026-10-30", "--to", "2026-11-02"},
		"--check goes alone":                                                   {"--check", "--once"},
		"--check goes alone (with --config":                                    {"--check", "--from", "2026-10-30", "--to", "2026-11-02", "--dry-run"},
		"--check goes alone (with --config, --account, --shard and --verbose)": {"--check", "--close-month", "2026-10"},
		"--close-month goes alone (with --dry-run":                             {"--close-month", "2026-10", "--once"},
		"--close-month goes alone":                                             {"--close-month", "2026-10", "--from", "2026-10-01", "--to", "2026-10-02"},
		`--close-month: "2026-13" is not a month`:                              {"--close-month", "2026-13"},
		"--import-state is not for --check":                                    {"--check", "--import-state", "/s/shard2.db"},
		`invalid value " " for flag -import-state: needs a file`:               {"--import-state", " "},
	} {
		_, err := parseFlags(args)
		var ue *usageError
		require.ErrorAs(t, err, &ue, want)
		assert.Contains(t, ue.Error(), want)
	}
}

// Only the daemon opens the config's listen; --listen sets it in every mode, "" to none.
func TestOpsOptions_OnlyTheDaemonOpensTheConfigsListener(t *testing.T) {
	cfg := &config.Config{Listen: ":9090"}
	flagged := func(args ...string) Mode {
		c, err := parseFlags(args)
		require.NoError(t, err)
		return c.mode
	}
	assert.Equal(t, ":9090", opsOptions(cfg, flagged()).Listen, "the daemon")
	assert.Equal(t, "", opsOptions(cfg, flagged("--listen", "")).Listen, "--listen \"\" turns the daemon's off")
	for _, args := range [][]string{{"--once"}, {"--once", "--dry-run"}, {"--from", "2026-10-30", "--to", "2026-11-02"}} {
		assert.Equal(t, ops.Options{}, opsOptions(cfg, flagged(args...)), "%q", args)
		o := opsOptions(cfg, flagged(append(args, "--listen", "127.0.0.1:9091")...))
		assert.Equal(t, ops.Options{Listen: "127.0.0.1:9091", Name: "--listen"}, o, "%q --listen", args)
	}
	_, err := parseFlags([]string{"--once", "--listen", "9090"})
	assert.EqualError(t, err, `--listen: "9090" is not host:port ("127.0.0.1:9091", ":9091"), or "" for no listener`)
}
