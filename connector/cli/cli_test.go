package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
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
		{true, "02/11/2026", "", "", "YYYY-MM-DD"},
	} {
		_, msg := parseMode(c.once, c.date, c.from, c.to)
		assert.Contains(t, msg, c.s, "%+v", c)
	}
}

func TestCheckDays_RefusesTheFutureAndWhatTheAPINoLongerKeeps(t *testing.T) {
	today := calendar.Day{Year: 2026, Month: time.November, Day: 27}
	ok := []Mode{
		{Once: true, HasDate: true, Date: today},
		{Once: true, HasDate: true, Date: today.AddDays(-540)},
		{Range: true, From: today.AddDays(-540), To: today},
		{Since: today.AddDays(-540)},
		{}, {Once: true},
	}
	for _, m := range ok {
		assert.NoError(t, checkDays(m, today), "%+v", m)
	}
	bad := map[string]Mode{
		"--date 2026-11-28 is in the future":   {Once: true, HasDate: true, Date: today.AddDays(1)},
		"--date 2025-06-04 is older than":      {Once: true, HasDate: true, Date: today.AddDays(-541)},
		"--from 2025-06-04 is older than":      {Range: true, From: today.AddDays(-541), To: today},
		"--to 2026-11-28 is in the future":     {Range: true, From: today, To: today.AddDays(1)},
		"--catch-up-from 2025-06-04 is older ": {Since: today.AddDays(-541)},
	}
	for want, m := range bad {
		err := checkDays(m, today)
		require.Error(t, err, want)
		assert.Contains(t, err.Error(), want)
	}
}
