// Package e2e runs the connector wired as in production (cli.Main: the same flags, the
// same fx modules, real HTTP on loopback) against the fake BSS OpenAPI and the recording
// sink.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// requireDayDelivered checks that the sink holds exactly one event per fake row, each in
// the seed's shape, with the row's values.
func requireDayDelivered(t *testing.T, e *harness.Env, day string, got []sink.Received) {
	t.Helper()
	rows := e.API.Day(day)
	require.Len(t, harness.IDs(got), len(rows), "distinct events")
	want := map[string]bssfake.Item{}
	for _, r := range rows {
		want[r.OwnerID+"/"+r.ProductCode+"/"+r.SubscriptionType] = r
	}
	for _, r := range got {
		require.NoError(t, sink.CheckSeedShape(r.Event))
		var d bill.AccountRow // the fake's item type: the event's data is the row
		require.NoError(t, json.Unmarshal(r.Event.Data(), &d))
		row, ok := want[d.OwnerID+"/"+d.ProductCode+"/"+d.SubscriptionType]
		require.True(t, ok, "event for a row the API never had: %s", r.Event.Data())
		assert.Equal(t, row.ProductName, d.ProductName)
		assert.Equal(t, row.PretaxGrossAmount.String(), d.PretaxGrossAmount.String())
		assert.Equal(t, row.PaymentAmount.String(), d.PaymentAmount.String())
		assert.Equal(t, row.CostUnit, d.CostUnit)
		assert.Equal(t, day, d.BillingDate)
	}
}

func TestE2E_650RowDayOverThreePagesArrivesCompleteInTheSeedsShape(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 650, 42))
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	requireDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	for _, got := range e.Sink.Events() {
		assert.False(t, got.Structured, "binary mode is the default")
	}
	assert.Len(t, e.API.Requests(), 3, "650 rows are 3 pages of 300")
	assert.Contains(t, r.Stderr, `"msg":"day done"`)
	assert.Contains(t, r.Stderr, `"fetched":650,"new":650,"changed":0,"unchanged":0,"pending":0,"delivered":650,"failed":0`)
}

func TestE2E_RerunGivesTheSameIDs(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 40, 7))
	args := []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()}
	require.Equal(t, 0, e.Run(t, args).Code)
	first := harness.IDs(e.Sink.Events())
	e.Sink.Reset()
	require.Equal(t, 0, e.Run(t, args).Code)
	assert.Equal(t, first, harness.IDs(e.Sink.Events()))
}

func TestE2E_StructuredModeByConfig(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"send_mode": "structured"}), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	requireDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	for _, got := range e.Sink.Events() {
		assert.True(t, got.Structured)
	}
}

func TestE2E_ThrottlingAndSink503sAreRiddenOut(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 320, 5))
	e.API.Inject(bssfake.Fault{Kind: bssfake.Throttle, Times: 2, Page: 2})
	e.Sink.FailNext(30, 503)
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	requireDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	assert.Equal(t, 320+30, e.Sink.Attempts())
	assert.Contains(t, r.Stderr, `"code":"Throttling.User"`)
}

func TestE2E_BadCredentialsFailFastWithExit2AndNoSecret(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 5, 1))
	cases := map[string]struct {
		cfg  map[string]any
		says []string
	}{
		"wrong harness.Secret": {map[string]any{"secret_access_Key": harness.Secret + "X"}, []string{"SignatureDoesNotMatch", "check secret_access_Key"}},
		"unknown key":          {map[string]any{"access_key_id": "LTAInobody"}, []string{"InvalidAccessKeyId.NotFound", "check access_key_id"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := len(e.API.Requests())
			r := e.Run(t, []string{"--config", e.Config(t, tc.cfg), "--once", "--date", e.Day.String()})
			assert.Equal(t, 2, r.Code)
			for _, s := range tc.says {
				assert.Contains(t, r.Stderr, s)
			}
			assert.Equal(t, before+1, len(e.API.Requests()), "credentials errors are not retried")
			assert.Zero(t, e.Sink.Len())
		})
	}
}

func TestE2E_BadConfigFailsFastWithExit2(t *testing.T) {
	e := harness.New(t)
	cases := map[string]struct {
		cfg  map[string]any
		says string
	}{
		"pull_hour":    {map[string]any{"pull_hour": 25}, "config: pull_hour: \"25\" is not a whole hour from 0 to 23"},
		"v_target":     {map[string]any{"v_target": nil}, "config: v_target: is required"},
		"pull_zone":    {map[string]any{"pull_zone": "Asia/Beijing"}, "config: pull_zone"},
		"secret empty": {map[string]any{"secret_access_Key": ""}, "config: secret_access_Key: is required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.Run(t, []string{"--config", e.Config(t, tc.cfg), "--once"})
			assert.Equal(t, 2, r.Code)
			assert.Contains(t, r.Stderr, tc.says)
			assert.NotContains(t, strings.TrimSpace(r.Stderr), "\n", "one plain message, no fx noise")
			assert.Empty(t, e.API.Requests(), "nothing is called with a bad config")
		})
	}
	r := e.Run(t, []string{"--config", filepath.Join(e.Dir, "missing.json"), "--once"})
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "cannot read")
}

func TestE2E_UsageErrorsExit2AndHelpAnswers(t *testing.T) {
	e := harness.New(t)
	for _, args := range [][]string{{"--date", "2026-11-01"}, {"--once", "--date", "2026-13-01"},
		{"--from", "2026-11-05", "--to", "2026-11-01"}, {"--from", "2026-11-05"}, {"--bogus"}} {
		r := e.Run(t, args)
		assert.Equal(t, 2, r.Code, "%v", args)
		assert.Contains(t, r.Stderr, "connector --help", "%v", args)
	}
	r := e.Run(t, []string{"--help"})
	assert.Equal(t, 0, r.Code)
	for _, s := range []string{"--once", "--from", "--date", "v_target", "secret_access_Key", "pull_zone", "Exit status"} {
		assert.Contains(t, r.Stdout, s)
	}
}

func TestE2E_RangeOldestFirstWithAProgressLinePerDay(t *testing.T) {
	e := harness.New(t)
	days := []calendar.Day{e.Day, e.Day.AddDays(1), e.Day.AddDays(2)}
	for i, d := range days {
		e.API.SetDay(d.String(), bssfake.SampleDay(d.String(), 10+i, uint64(i)))
	}
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--from", days[0].String(), "--to", days[2].String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 3)
	for i, d := range days {
		assert.Contains(t, lines[i], fmt.Sprintf("[%d/3] %s: %d fetched, %d delivered, 0 failed", i+1, d, 10+i, 10+i))
	}
	var order []string
	for _, q := range e.API.Requests() {
		order = append(order, q.Params.Get("BillingDate"))
	}
	assert.Equal(t, []string{days[0].String(), days[1].String(), days[2].String()}, order)
	assert.Equal(t, 33, len(harness.IDs(e.Sink.Events())))
}

func TestE2E_UndeliveredRowsExit1(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 3, 1))
	e.Sink.FailNext(1000, 400) // the receiver rejects everything
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()})
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stderr, "rejected by the receiver with HTTP 400")
	assert.Contains(t, r.Stderr, `"failed":3`)
}

func TestE2E_DaemonFiresAtPullHourInPullZone(t *testing.T) {
	e := harness.New(t)
	sh, _ := time.LoadLocation("Asia/Shanghai")
	// 01:40 in Shanghai is 17:40 UTC the day before: "yesterday" must be reckoned in the zone.
	start := time.Date(2026, 11, 5, 1, 40, 0, 0, sh)
	yesterday := "2026-11-04"
	e.API.SetDay(yesterday, bssfake.SampleDay(yesterday, 25, 3))
	e.API.SetDay("2026-11-03", bssfake.SampleDay("2026-11-03", 7, 3)) // the UTC "yesterday": must not be pulled
	fc := clockwork.NewFakeClockAt(start)

	var shut fx.Shutdowner
	done := make(chan harness.Result, 1)
	go func() {
		done <- e.Run(t, []string{"--config", e.Config(t, nil)},
			fx.Decorate(func(clock.Clock) clock.Clock { return fc }),
			fx.Populate(&shut))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, fc.BlockUntilContext(ctx, 1), "daemon is not waiting for the hour")
	assert.Zero(t, e.Sink.Len(), "nothing before the hour")
	fc.Advance(19 * time.Minute) // 01:59
	require.NoError(t, fc.BlockUntilContext(ctx, 1))
	assert.Zero(t, e.Sink.Len(), "nothing before the hour")
	fc.Advance(time.Minute) // 02:00
	e.WaitDistinct(t, 25, nil)
	requireDayDelivered(t, e, yesterday, e.Sink.Events())
	// Then it waits for tomorrow's 02:00.
	require.NoError(t, fc.BlockUntilContext(ctx, 1))
	require.NotNil(t, shut)
	require.NoError(t, shut.Shutdown())
	r := <-done
	assert.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, `"msg":"waiting for the next pull","at":"2026-11-06T02:00:00+08:00"`)
}

func TestE2E_DryRunCountsAndSendsNothing(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 12, 2))
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String(), "--dry-run"})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, e.Day.String()+": 12 rows: 12 new, 0 changed, 0 pending delivery, 0 already delivered - dry run, nothing sent")
	// The log says what a run would send, never that something was delivered.
	assert.Contains(t, r.Stderr, `"pending":0,"would_send":12,`)
	assert.NotContains(t, r.Stderr, `"delivered":`)
	assert.Zero(t, e.Sink.Attempts())
	_, err := os.Stat(e.StatePath)
	assert.True(t, os.IsNotExist(err), "a dry run writes no state")

	// After a real run, a dry run sees the rows as delivered.
	require.Equal(t, 0, e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()}).Code)
	r = e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String(), "--dry-run"})
	assert.Contains(t, r.Stdout, "12 rows: 0 new, 0 changed, 0 pending delivery, 12 already delivered")
	assert.Equal(t, 12, e.Sink.Len())

	r = e.Run(t, []string{"--config", e.Config(t, nil), "--dry-run"})
	assert.Equal(t, 2, r.Code, "a daemon cannot be a dry run")
}

func TestE2E_SecondProcessOnTheSameStateIsRefused(t *testing.T) {
	e := harness.New(t)
	cfg := e.Config(t, nil)
	hold, err := state.Open(e.StatePath, false)
	require.NoError(t, err)
	defer hold.Close()
	r := e.Run(t, []string{"--config", cfg, "--once", "--date", e.Day.String()})
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "in use by another connector process")
}

// A dry run shows the rows that were planned but never acknowledged (a receiver that
// rejected them): they are pending, not "already delivered" and not "new".
func TestE2E_DryRunShowsPendingRows(t *testing.T) {
	e := harness.New(t)
	e.API.SetDay(e.Day.String(), bssfake.SampleDay(e.Day.String(), 9, 3))
	e.Sink.FailNext(1000, 400) // every row planned, none acknowledged
	require.Equal(t, 1, e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()}).Code)
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String(), "--dry-run"})
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "9 rows: 0 new, 0 changed, 9 pending delivery, 0 already delivered")
}

// Days the API does not serve are refused before anything is called, with the limit that
// --help states.
func TestE2E_DaysOutsideWhatTheAPIKeepsAreRefused(t *testing.T) {
	e := harness.New(t)
	today := calendar.Of(e.Clock.Now().In(mustZone(t, "Asia/Shanghai")))
	cases := map[string][]string{
		// Two days off where one would do: the test's "today" and the connector's may fall on
		// either side of midnight.
		"the day after tomorrow": {"--once", "--date", today.AddDays(2).String()},
		"542 days back":          {"--once", "--date", today.AddDays(-542).String()},
		"range into future":      {"--from", today.AddDays(-2).String(), "--to", today.AddDays(3).String()},
		"range too old":          {"--from", today.AddDays(-600).String(), "--to", today.AddDays(-1).String()},
		"catch-up too old":       {"--catch-up-from", today.AddDays(-700).String()},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.Run(t, append([]string{"--config", e.Config(t, nil)}, args...))
			assert.Equal(t, 2, r.Code, r.Stderr)
			assert.Regexp(t, `in the future|older than the 540 days`, r.Stderr)
			assert.Contains(t, r.Stderr, "connector --help")
			assert.Empty(t, e.API.Requests())
		})
	}
	_, err := os.Stat(e.StatePath)
	assert.True(t, os.IsNotExist(err), "a usage error opens no state file")
	// The oldest day the API keeps (give or take midnight) is accepted.
	oldest := today.AddDays(-539)
	e.API.SetDay(oldest.String(), bssfake.SampleDay(oldest.String(), 2, 1))
	r := e.Run(t, []string{"--config", e.Config(t, nil), "--once", "--date", oldest.String()})
	assert.Equal(t, 0, r.Code, r.Stderr)
	help := e.Run(t, []string{"--help"})
	assert.Contains(t, help.Stdout, "at most 540 days back")
}

// A row with a 1 MB field (hostile or broken API data) is delivered like any other: the
// state's keys stay bounded, so the day does not become undeliverable.
func TestE2E_RowWithAHugeFieldIsDelivered(t *testing.T) {
	e := harness.New(t)
	items := bssfake.SampleDay(e.Day.String(), 3, 5)
	items[1].ProductName = strings.Repeat("x", 1<<20)
	items[2].CostUnit = strings.Repeat("y", 70<<10)
	e.API.SetDay(e.Day.String(), items)
	args := []string{"--config", e.Config(t, nil), "--once", "--date", e.Day.String()}
	r := e.Run(t, args)
	require.Equal(t, 0, r.Code, harness.Tail(r.Stderr, 2000))
	requireDayDelivered(t, e, e.Day.String(), e.Sink.Events())
	// Pulled again: the same ids, nothing new.
	first := harness.IDs(e.Sink.Events())
	e.Sink.Reset()
	require.Equal(t, 0, e.Run(t, args).Code)
	assert.Equal(t, first, harness.IDs(e.Sink.Events()))
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}
