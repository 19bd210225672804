package cli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// The fx graph of every mode is complete: each constructor finds what it needs.
func TestOptions_GraphIsComplete(t *testing.T) {
	for _, mode := range []Mode{{}, {Once: true}, {Range: true}, {Once: true, DryRun: true}} {
		var buf bytes.Buffer
		err := fx.ValidateApp(Options(config.Source{Path: "/nonexistent"}, IO{Stdout: &buf, Stderr: &buf}, mode, false, &exitCode{}))
		require.NoError(t, err, "%+v", mode)
	}
}

func TestParseMode(t *testing.T) {
	m, msg := parseMode(true, "2026-11-02", "", "")
	require.Empty(t, msg)
	assert.True(t, m.Once && m.HasDate)
	assert.Equal(t, "2026-11-02", m.Date.String())

	m, msg = parseMode(false, "", "2026-10-30", "2026-11-02")
	require.Empty(t, msg)
	assert.True(t, m.Range)

	for _, c := range []struct {
		once              bool
		date, from, to, s string
	}{
		{true, "", "2026-10-30", "2026-11-02", "cannot be combined"},
		{false, "2026-11-02", "", "", "--date needs --once"},
		{false, "", "2026-10-30", "", "go together"},
		{false, "", "2026-11-02", "2026-10-30", "is before"},
		{false, "", "2024-01-01", "2026-11-02", "18 months"},
		{true, "02/11/2026", "", "", "YYYY-MM-DD"},
	} {
		_, msg := parseMode(c.once, c.date, c.from, c.to)
		assert.Contains(t, msg, c.s, "%+v", c)
	}
}
