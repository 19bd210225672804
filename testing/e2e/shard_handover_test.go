package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// Issue 19's "then N = 2" with the removed shard's state file handed over: three daemons
// deliver 2026-11-10; two start three days later, each with --import-state on the removed
// shard's file. The moved accounts are not taken over from a day: they keep their state,
// so their new owners catch their missed days up from where the removed shard stopped,
// every row once, and nothing the removed shard delivered is sent again.
func TestShards_ThreeThenTwoWithTheRemovedShardsStateCatchesTheMovedAccountsUp(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	d1, next := "2026-11-10", []string{"2026-11-11", "2026-11-12", "2026-11-13"}
	e, entries := shardWorld(t, append([]string{d1}, next...)...)
	owner, _ := layout(t, e, entries, 3, time.Date(2026, 11, 11, 3, 0, 0, 0, sh), "--catch-up-from", d1)
	require.Len(t, owner, shardAccounts)
	first := e.Sink.Events()
	require.Equal(t, shardAccounts*shardRows, len(first))

	fetched, took := layout(t, e, entries, 2, time.Date(2026, 11, 14, 3, 0, 0, 0, sh), "--import-state", e.Dir+"/shard2/state.db")
	assert.Empty(t, took, "no account taken over from a day: the moved ones came with their state")
	for a, k := range owner {
		_, ok := fetched[a]
		assert.True(t, ok, "%s's missed days read by its owner (it was shard %d's)", a, k)
	}
	requireNextDaysOnce(t, e, first, d1, next)
}

// A moved account's day read again by its new owner with the old owner's state file
// (--import-state): every row comes with the id and revision the old owner sent it with,
// so receivers and brokers drop the repeats (without it, new ids:
// TestShards_ADayReadAgainWithoutTheAccountsStateHasNewIDs).
func TestShards_AMovedAccountWithItsStateIsReadAgainWithTheSameIDs(t *testing.T) {
	moved, first, again, stderr := movedReadAgain(t, true)
	assert.Contains(t, stderr, `"msg":"state: took the state of accounts from another process's state file"`)
	assert.Contains(t, stderr, `"accounts":["`+moved+`"]`)
	bySubject := map[string]sink.Received{}
	for _, r := range first {
		bySubject[r.Event.Subject()] = r
	}
	for _, r := range again {
		old := bySubject[r.Event.Subject()]
		assert.Equal(t, old.Event.ID(), r.Event.ID(), "the same id")
		assert.Equal(t, old.Event.Extensions(), r.Event.Extensions(), "the same revision")
	}
}

// --import-state given an earlier release's state file (one account's, without its name:
// it would take nothing, silently) stops the start with exit status 2 and one line, and
// the file is left as it was.
func TestShards_AnEarlierReleasesFileToImportIsRefusedWithOneLine(t *testing.T) {
	e, entries := shardWorld(t, "2026-11-10")
	b, err := os.ReadFile("../../connector/state/testdata/release1/state.payer.db")
	require.NoError(t, err)
	from := e.Dir + "/release1-payer.db"
	require.NoError(t, os.WriteFile(from, b, 0o600))
	r := e.Run(t, []string{"--config", e.Config(t, map[string]any{"accounts": entries, "state_path": e.Dir + "/shard0/state.db"}),
		"--shard", "0/2", "--once", "--import-state", from})
	assert.Equal(t, 2, r.Code, r.Stderr)
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
		if !strings.HasPrefix(l, "{") { // not a log record
			errLines = append(errLines, l)
		}
	}
	require.Len(t, errLines, 1, r.Stderr)
	assert.Contains(t, errLines[0], "--import-state "+from+`: a state file of an earlier release (schema "1"`)
	after, err := os.ReadFile(from)
	require.NoError(t, err)
	assert.Equal(t, b, after, "only read")
	_, err = os.Stat(from + ".lock")
	assert.True(t, os.IsNotExist(err), "no lock taken on it")
}
