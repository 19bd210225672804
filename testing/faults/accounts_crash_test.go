package faults

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

const (
	crashAccounts  = 50
	rowsPerAccount = 30
)

// fiftyAccounts serves one due day of 50 member accounts of the payer (each read with the
// payer's key and its bill_owner_id) and returns the day and the config's accounts.
func fiftyAccounts(t *testing.T) (*harness.Env, calendar.Day, []map[string]any) {
	members := make([]string, crashAccounts)
	list := make([]map[string]any, crashAccounts)
	for i := range members {
		members[i] = fmt.Sprintf("40000000000000%02d", i)
		list[i] = map[string]any{"name": fmt.Sprintf("m%02d", i), "bill_owner_id": members[i]}
	}
	e := harness.New(t)
	api := bssfake.New(bssfake.Options{Keys: map[string]string{harness.KeyID: harness.Secret}, Members: members, Now: e.Clock.Now})
	require.NoError(t, api.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = api.Close() })
	e.API = api
	d := calendar.Of(e.Clock.Now().UTC()).AddDays(-1)
	for i, m := range members {
		api.SetAccountDay(m, d.String(), bssfake.SampleDay(d.String(), rowsPerAccount, uint64(100+i)))
	}
	return e, d, list
}

// waiting is the accounts whose scheduler logged that it waits for the next pull.
func waiting(log string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, logWaiting) {
			continue
		}
		if _, rest, ok := strings.Cut(line, `"account":"`); ok {
			name, _, _ := strings.Cut(rest, `"`)
			out[name] = true
		}
	}
	return out
}

// sinkAccounts is the account extension of the events at the sink, by event id.
func sinkAccounts(t *testing.T, e *harness.Env) (subjects map[string]map[string]string, accounts map[string]bool) {
	subjects = map[string]map[string]string{} // subject -> id -> data
	accounts = map[string]bool{}
	for _, r := range e.Sink.Events() {
		a, err := r.Event.Context.GetExtension(job.AccountExtension)
		require.NoError(t, err)
		accounts[fmt.Sprint(a)] = true
		s := r.Event.Subject()
		if subjects[s] == nil {
			subjects[s] = map[string]string{}
		}
		if old, seen := subjects[s][r.Event.ID()]; seen {
			assert.Equal(t, old, string(r.Event.Data()), "a duplicate of %s carries the same content", r.Event.ID())
		}
		subjects[s][r.Event.ID()] = string(r.Event.Data())
	}
	return subjects, accounts
}

// The daemon with 50 accounts, all of them pulling, planning and acknowledging at once
// through the state file's group commit, is killed with SIGKILL while commits happen
// (state_commits_total moving, events of at least half the accounts at the sink, not all),
// again at random points after, and restarted each time. Every row of every account
// arrives, a row twice only with the same id (and content), and every account's state is
// consistent and its day complete.
func TestFaults_KilledDuringGroupCommitsOfFiftyAccounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 50))
	e, d, list := fiftyAccounts(t)
	e.Sink.SetDelay(time.Millisecond) // a day takes long enough to be killed in
	cfg := e.Config(t, map[string]any{"pull_zone": "UTC", "pull_hour": 0, "settle_days": 0, "send_concurrency": 8,
		"bills": []string{"account"}, "listen": "127.0.0.1:0", "accounts": list})
	args := []string{"--config", cfg, "--catch-up-from", d.String()}
	total := crashAccounts * rowsPerAccount
	done := func() bool { s, _ := sinkAccounts(t, e); return len(s) >= total }

	commitsAt := func(p *harness.Proc) float64 {
		v, _ := p.Metric(t, ops.Namespace+"_state_commits_total", nil)
		return v
	}
	// First life: killed once the commits of many accounts are under way.
	p := e.StartProc(t, args...)
	e.Changed.Wait(t, "half the accounts delivering, commits under way", p.Out, func() bool {
		if p.Exited() {
			return true
		}
		_, accounts := sinkAccounts(t, e)
		return len(accounts) >= crashAccounts/2 && commitsAt(p) > 0
	})
	require.False(t, p.Exited(), harness.Tail(p.Out.String(), 3000))
	require.False(t, done(), "killed before every row was delivered")
	p.Kill(t, e)
	kills := 1
	for ; kills < 5 && !done(); kills++ {
		p := e.StartProc(t, args...)
		target := e.Sink.Len() + 1 + rng.IntN(300)
		e.Changed.Wait(t, "the kill point", p.Out, func() bool { return p.Exited() || e.Sink.Len() >= target || done() })
		p.Kill(t, e)
	}
	// Last life: runs until every account's scheduler waits for tomorrow (each says so,
	// with its account, once its days are recorded done).
	p = e.StartProc(t, args...)
	e.Changed.Wait(t, "every account waiting for tomorrow", p.Out, func() bool {
		return p.Exited() || len(waiting(p.Out.String())) == crashAccounts
	})
	p.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, p.Wait(t, e), harness.Tail(p.Out.String(), 3000))

	subjects, accounts := sinkAccounts(t, e)
	assert.Equal(t, crashAccounts, len(accounts), "events of every account")
	require.Equal(t, total, len(subjects), "every row of every account")
	for s, ids := range subjects {
		assert.Equal(t, 1, len(ids), "row %s: one id (its content never changed)", s)
	}
	st, err := state.Open(e.StatePath, true)
	require.NoError(t, err)
	defer st.Close()
	for _, a := range list {
		s := st.DB().Account(a["name"].(string))
		require.NoError(t, s.Check(), a["name"])
		ok, err := s.Complete(d, bill.Account)
		require.NoError(t, err)
		assert.True(t, ok, "%s: %s complete", a["name"], d)
	}
	t.Logf("FAULT killed -9 %dx during group commits, %d accounts: rows %d | events received %d | distinct %d",
		kills, crashAccounts, total, e.Sink.Len(), e.Distinct())
}
