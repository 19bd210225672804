package faults

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// TestMain lets this test binary be the connector itself (cli.Main, the production
// wiring) when started with FAULTS_RUN_CONNECTOR=1: a real process that can be killed.
func TestMain(m *testing.M) {
	if os.Getenv("FAULTS_RUN_CONNECTOR") == "1" {
		os.Exit(cli.Main(os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startConnector(t *testing.T, cfg string, args ...string) *proc {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, append([]string{"--config", cfg}, args...)...)
	cmd.Env = append(os.Environ(), "FAULTS_RUN_CONNECTOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	return &proc{cmd: cmd, out: &out}
}

// The daemon is killed with SIGKILL at random moments while it catches up on three days,
// and restarted each time, for several seeds; then SIGTERM'd once mid-day. Every row
// arrives, a row arrives twice only with the same id, and the state file stays consistent.
func TestFaults_KilledAtRandomPointsAndRestarted(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			e := newEnv(t)
			// Three days that are due now (pull_hour 0 in UTC): the daemon catches up on them.
			today := billing.DayOf(time.Now().UTC())
			days := []billing.Day{today.AddDays(-3), today.AddDays(-2), today.AddDays(-1)}
			total := 0
			for i, d := range days {
				n := 150 + 40*i
				e.API.SetDay(d.String(), bssfake.SampleDay(d.String(), n, seed*10+uint64(i)))
				total += n
			}
			e.Sink.SetDelay(2 * time.Millisecond) // a day takes long enough to be killed in
			cfg := e.Config(t, map[string]any{"pull_zone": "UTC", "pull_hour": 0, "settle_days": 0, "send_concurrency": 4})
			args := []string{"--catch-up-from", days[0].String()}

			kills := 0
			for ; kills < 12 && len(harness.IDs(e.Sink.Events())) < total; kills++ {
				p := startConnector(t, cfg, args...)
				time.Sleep(time.Duration(20+rng.IntN(250)) * time.Millisecond)
				require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
				_ = p.cmd.Wait()
			}
			// SIGTERM in the middle of a day: a clean stop, exit status 0.
			p := startConnector(t, cfg, args...)
			time.Sleep(time.Duration(20+rng.IntN(100)) * time.Millisecond)
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, p.cmd.Wait(), p.out.String())
			assert.NotContains(t, p.out.String(), `"level":"ERROR"`)

			// Last life: runs until every day is done, then waits for tomorrow; stop it.
			p = startConnector(t, cfg, args...)
			deadline := time.Now().Add(60 * time.Second)
			for !strings.Contains(p.out.String(), `"msg":"waiting for the next pull"`) {
				require.False(t, time.Now().After(deadline), "never finished:\n%s", harness.Tail(p.out.String(), 3000))
				time.Sleep(20 * time.Millisecond)
			}
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, p.cmd.Wait())

			res := verify(t, e, days)
			for subj, evs := range res.bySubject {
				assert.Len(t, evs, 1, "row %s: no content changed, so one id only", subj)
			}
			checkState(t, e, days)
			report(t, fmt.Sprintf("killed -9 %dx + SIGTERM, seed %d", kills, seed), e, res, total)
		})
	}
}
