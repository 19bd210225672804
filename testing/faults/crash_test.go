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

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// TestMain makes this test binary the connector when a test starts it as a real process
// (e.StartProc): one that can be killed and signalled.
func TestMain(m *testing.M) { harness.TestMain(m) }

// What only the connector's log says (see where they are used).
const (
	logStarting = `"msg":"connector starting"`
	logWaiting  = `"msg":"waiting for the next pull"`
)

// threeDueDays serves three days that are due now (pull_hour 0 in UTC), so that a daemon
// catches up on them at once, and returns them with their total row count: both bills,
// the instance bill of each day over two or three NextToken pages.
func threeDueDays(e *harness.Env, seed uint64) ([]calendar.Day, int) {
	today := calendar.Of(e.Clock.Now().UTC())
	days := []calendar.Day{today.AddDays(-3), today.AddDays(-2), today.AddDays(-1)}
	total := 0
	for i, d := range days {
		n := 150 + 40*i
		e.API.SetDay(d.String(), bssfake.SampleDay(d.String(), n, seed*10+uint64(i)))
		m := 310 + 130*i
		e.API.SetInstanceDay(d.String(), bssfake.SampleInstanceDay(d.String(), m, seed*10+uint64(i)))
		total += n + m
	}
	return days, total
}

// crashConfig is the suite's config: both bills, due at once, and an ops listener on a
// free port, which says when the connector is ready and what it counted.
func crashConfig(t *testing.T, e *harness.Env) string {
	return e.Config(t, map[string]any{"pull_zone": "UTC", "pull_hour": 0, "settle_days": 0, "send_concurrency": 4,
		"bills": []string{"account", "instance"}, "listen": "127.0.0.1:0"})
}

// The daemon is killed with SIGKILL at random points (right after start, or after a random
// number of events reached the sink) while it catches up on three days, and restarted each
// time, for several seeds; then SIGTERM'd once mid-day. Every row arrives, a row arrives
// twice only with the same id, and the state file stays consistent. The kill points are
// events, not delays, so the test does the same on a loaded machine.
func TestFaults_KilledAtRandomPointsAndRestarted(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			e := harness.New(t)
			days, total := threeDueDays(e, seed)
			e.Sink.SetDelay(2 * time.Millisecond) // a day takes long enough to be killed in
			args := []string{"--config", crashConfig(t, e), "--catch-up-from", days[0].String()}

			// waitKillPoint waits for a random point of p's life: its start (its ops listener
			// says it is ready), or k more events (or every row at the sink: nothing is left).
			waitKillPoint := func(p *harness.Proc) {
				if rng.IntN(4) == 0 {
					e.Changed.Wait(t, "the connector to be ready", p.Out, func() bool { return p.Exited() || p.Ready(t) })
					return
				}
				target := e.Sink.Len() + 1 + rng.IntN(120)
				e.Changed.Wait(t, "the kill point", p.Out, func() bool {
					return p.Exited() || e.Sink.Len() >= target || e.Distinct() >= total
				})
			}
			kills := 0
			for ; kills < 12 && e.Distinct() < total; kills++ {
				p := e.StartProc(t, args...)
				waitKillPoint(p)
				p.Kill(t, e)
			}
			// SIGTERM in the middle of a day: a clean stop, exit status 0.
			p := e.StartProc(t, args...)
			waitKillPoint(p)
			p.Signal(t, syscall.SIGTERM)
			require.Equal(t, 0, p.Wait(t, e), harness.Tail(p.Out.String(), 3000))
			assert.NotContains(t, p.Out.String(), `"level":"ERROR"`)

			// Last life: runs until every day is done, then waits for tomorrow; stop it. Only
			// its log says that it waits: a life that finds every day already recorded done
			// changes no metric before it waits (days_pending is 0 from its start) and sends
			// nothing, so no metric, and not the sink, tells "looked and found nothing left"
			// from "not looked yet"; the state file is locked while it runs.
			p = e.StartProc(t, args...)
			e.Changed.Wait(t, "every day done", p.Out, func() bool { return p.Exited() || strings.Contains(p.Out.String(), logWaiting) })
			p.Signal(t, syscall.SIGTERM)
			require.Equal(t, 0, p.Wait(t, e), harness.Tail(p.Out.String(), 3000))

			res := verify(t, e, days)
			for subj, evs := range res.bySubject {
				assert.Len(t, evs, 1, "row %s: no content changed, so one id only", subj)
			}
			checkState(t, e, days)
			report(t, fmt.Sprintf("killed -9 %dx + SIGTERM, seed %d", kills, seed), e, res, total)
		})
	}
}

// SIGINT/SIGTERM/SIGHUP at every stage of a process's life is a clean stop: the process is
// never killed by the signal (SIGHUP is no reload: it stops like SIGTERM), the state stays
// consistent, the daemon exits 0, and a one-off range that did not deliver everything
// exits 1, saying which day it abandoned (and 0 when everything was delivered before the
// signal). The stages are events of the process: its first log line (before the config is
// read), the end of the start-up, the first event at the sink (mid-send), the daemon
// waiting for tomorrow, and a second signal during the stop.
func TestFaults_SignalAtEveryStage(t *testing.T) {
	type stage struct {
		name  string
		await func(t *testing.T, e *harness.Env, p *harness.Proc, total int) bool // the moment to signal at
		hold  bool                                                                // hold the sink: nothing can complete
	}
	stages := []stage{
		// Before its config is read the process does nothing a test can see but log (with
		// --verbose): its first log line is the only sign of this stage.
		{"first log line, before the config is read", func(_ *testing.T, _ *harness.Env, p *harness.Proc, _ int) bool {
			return strings.Contains(p.Out.String(), logStarting)
		}, true},
		{"start-up done", func(t *testing.T, _ *harness.Env, p *harness.Proc, _ int) bool { return p.Ready(t) }, true},
		{"mid-send", func(_ *testing.T, e *harness.Env, _ *harness.Proc, _ int) bool { return e.Sink.Len() >= 1 }, false},
		// Every row at the sink and no day pending: every day is recorded done.
		{"daemon waiting for tomorrow", func(t *testing.T, e *harness.Env, p *harness.Proc, total int) bool {
			if e.Distinct() < total {
				return false
			}
			pending, ok := p.Metric(t, harness.DaysPending, nil)
			return ok && pending == 0
		}, false},
	}
	for _, mode := range []string{"daemon", "range"} {
		for _, st := range stages {
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
				if mode == "range" && st.name == "daemon waiting for tomorrow" {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%v", mode, st.name, sig), func(t *testing.T) {
					e := harness.New(t)
					days, total := threeDueDays(e, 7)
					args := []string{"--config", crashConfig(t, e), "--verbose"} // --verbose: the first log line
					if mode == "daemon" {
						args = append(args, "--catch-up-from", days[0].String())
					} else {
						// A range opens the ops listener (whose /readyz says start-up is done)
						// only when its command line asks.
						args = append(args, "--from", days[0].String(), "--to", days[2].String(), "--listen", "127.0.0.1:0")
					}
					if st.hold {
						e.Sink.SetDelay(time.Hour) // every send waits until the connector gives up on it
					} else {
						e.Sink.SetDelay(time.Millisecond)
					}
					p := e.StartProc(t, args...)
					e.Changed.Wait(t, st.name, p.Out, func() bool { return p.Exited() || st.await(t, e, p, total) })
					require.False(t, p.Exited(), "the connector ended before the signal:\n%s", harness.Tail(p.Out.String(), 3000))
					if st.name == "mid-send" {
						e.Sink.SetDelay(time.Hour) // at most the sends in flight complete now
					}
					p.Signal(t, sig)
					if sig == syscall.SIGINT { // and once more during the stop
						p.Signal(t, syscall.SIGTERM)
					}
					code := p.Wait(t, e)
					out := p.Out.String()
					assert.NotContains(t, out, harness.Secret)
					want := 0
					if mode == "range" && e.Distinct() < total {
						want = 1
					}
					assert.Equal(t, want, code, harness.Tail(out, 3000))
					if mode == "range" && st.hold {
						assert.Zero(t, e.Sink.Len(), "nothing can have been delivered")
						assert.Equal(t, 1, code)
					}
					if mode == "range" && st.name == "mid-send" && e.Distinct() < total {
						assert.Contains(t, out, `"msg":"day abandoned at shutdown, not done"`)
						assert.Contains(t, out, " - abandoned\n", "the progress line says so")
					}
					checkState(t, e, nil)
				})
			}
		}
	}
}
