package faults

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// childEnv makes this test binary the connector itself (cli.Main, the production wiring):
// a real process that can be killed and signalled.
const childEnv = "FAULTS_RUN_CONNECTOR=1"

func TestMain(m *testing.M) {
	if os.Getenv("FAULTS_RUN_CONNECTOR") == "1" {
		os.Exit(cli.Main(os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

const (
	logStarting   = `"msg":"connector starting"`
	logConfigured = `"msg":"connector configured"`
	logWaiting    = `"msg":"waiting for the next pull"`
)

// threeDueDays serves three days that are due now (pull_hour 0 in UTC), so that a daemon
// catches up on them at once, and returns them with their total row count: both bills,
// the instance bill of each day over two or three NextToken pages.
func threeDueDays(e *env, seed uint64) ([]calendar.Day, int) {
	today := calendar.Of(time.Now().UTC())
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

func crashConfig(t *testing.T, e *env) string {
	return e.Config(t, map[string]any{"pull_zone": "UTC", "pull_hour": 0, "settle_days": 0, "send_concurrency": 4,
		"bills": []string{"account", "instance"}})
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
			e := newEnv(t)
			days, total := threeDueDays(e, seed)
			e.Sink.SetDelay(2 * time.Millisecond) // a day takes long enough to be killed in
			args := []string{"--config", crashConfig(t, e), "--catch-up-from", days[0].String()}

			// waitKillPoint waits for a random point of p's life: its start, or k more events.
			waitKillPoint := func(p *harness.Proc) {
				if rng.IntN(4) == 0 {
					e.Changed.Wait(t, "the connector to start", p.Out, func() bool {
						return p.Exited() || strings.Contains(p.Out.String(), logConfigured)
					})
					return
				}
				target := e.Sink.Len() + 1 + rng.IntN(120)
				e.Changed.Wait(t, "the kill point", p.Out, func() bool {
					return p.Exited() || e.Sink.Len() >= target || strings.Contains(p.Out.String(), logWaiting)
				})
			}
			kills := 0
			for ; kills < 12 && e.Distinct() < total; kills++ {
				p := e.StartProc(t, childEnv, args...)
				waitKillPoint(p)
				p.Kill(t, e)
			}
			// SIGTERM in the middle of a day: a clean stop, exit status 0.
			p := e.StartProc(t, childEnv, args...)
			waitKillPoint(p)
			p.Signal(t, syscall.SIGTERM)
			require.Equal(t, 0, p.Wait(t, e), harness.Tail(p.Out.String(), 3000))
			assert.NotContains(t, p.Out.String(), `"level":"ERROR"`)

			// Last life: runs until every day is done, then waits for tomorrow; stop it.
			p = e.StartProc(t, childEnv, args...)
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
		await func(e *env, p *harness.Proc) func() bool // the moment to signal at
		hold  bool                                      // hold the sink: nothing can complete
	}
	logged := func(line string) func(e *env, p *harness.Proc) func() bool {
		return func(_ *env, p *harness.Proc) func() bool {
			return func() bool { return strings.Contains(p.Out.String(), line) }
		}
	}
	stages := []stage{
		{"first log line, before the config is read", logged(logStarting), true},
		{"start-up done", logged(logConfigured), true},
		{"mid-send", func(e *env, _ *harness.Proc) func() bool { return func() bool { return e.Sink.Len() >= 1 } }, false},
		{"daemon waiting for tomorrow", logged(logWaiting), false},
	}
	for _, mode := range []string{"daemon", "range"} {
		for _, st := range stages {
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
				if mode == "range" && st.name == "daemon waiting for tomorrow" {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%v", mode, st.name, sig), func(t *testing.T) {
					e := newEnv(t)
					days, total := threeDueDays(e, 7)
					args := []string{"--config", crashConfig(t, e), "--verbose"} // --verbose: the first log line
					if mode == "daemon" {
						args = append(args, "--catch-up-from", days[0].String())
					} else {
						args = append(args, "--from", days[0].String(), "--to", days[2].String())
					}
					if st.hold {
						e.Sink.SetDelay(time.Hour) // every send waits until the connector gives up on it
					} else {
						e.Sink.SetDelay(time.Millisecond)
					}
					p := e.StartProc(t, childEnv, args...)
					cond := st.await(e, p)
					e.Changed.Wait(t, st.name, p.Out, func() bool { return p.Exited() || cond() })
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
					assert.NotContains(t, out, secret)
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
