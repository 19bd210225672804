// Package harness is what the end-to-end, broker and fault-injection suites share: the
// fake BSS API and the recording sink started on loopback, a config.json for them, the
// connector run in the test's process (Run, Start) or as a real subprocess (StartProc,
// with TestMain), what it counted (its metrics, in-process or from its ops listener), and
// waits on events (the sink's count, a metric, a process's exit) with a deadline, never on
// sleeps.
package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// Deadline bounds every wait of the suites: long enough for a loaded 2-core machine,
// short enough that a hang fails the test well inside its Bazel timeout.
const Deadline = 90 * time.Second

// Signal wakes the waiters whenever something they may wait for has changed.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewSignal returns a Signal.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{})} }

// Notify wakes every current waiter.
func (s *Signal) Notify() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

func (s *Signal) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// Wait returns once cond holds, checking it again on every Notify; it fails the test at the
// Deadline with what it waited for and the end of log (when log is not nil).
func (s *Signal) Wait(t testing.TB, what string, log *Buffer, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(Deadline)
	defer timeout.Stop()
	for {
		ch := s.changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			tail := ""
			if log != nil {
				tail = Tail(log.String(), 3000)
			}
			require.FailNow(t, "timed out waiting for "+what, "log:\n%s", tail)
		}
	}
}

// Buffer is a log that the connector and a test can share: safe for concurrent use, and
// every write notifies its Signal.
type Buffer struct {
	mu     sync.Mutex
	b      strings.Builder
	Signal *Signal // notified on every write; may be nil
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.b.Write(p)
	b.mu.Unlock()
	if b.Signal != nil {
		b.Signal.Notify()
	}
	return n, err
}

func (b *Buffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// The AccessKey of New's environments: test values, never printed (Run checks).
const (
	KeyID  = "LTAI5tHarnessTestKey"
	Secret = "harness-Secret-Never-Printed-9f8e7d"
)

// Env is a fake BSS API and a recording sink on loopback, and a directory for configs and
// the state file. Changed is notified on every event the sink accepts.
type Env struct {
	API       *bssfake.Server
	Sink      *sink.Sink
	Dir       string
	StatePath string
	KeyID     string
	Secret    string
	Changed   *Signal
	// Clock is the real clock, read by the fake API (its timestamp window) and by the
	// tests: the one place the suites read the time of day.
	Clock clock.Clock
	// Day is a day the API serves: three weeks before today in UTC (the connector refuses
	// days in the future and days older than the 18 months the API keeps).
	Day calendar.Day

	mu           sync.Mutex
	neverPrinted []string // Secret and what NeverPrinted added
}

// New starts both fakes with the suites' AccessKey (KeyID, Secret).
func New(t testing.TB) *Env { return NewEnv(t, KeyID, Secret) }

// NewEnv starts both fakes, the API accepting keyID and secret; they stop when the test ends.
func NewEnv(t testing.TB, keyID, secret string) *Env {
	t.Helper()
	c := clock.New()
	api := bssfake.New(bssfake.Options{Keys: map[string]string{keyID: secret}, Now: c.Now})
	require.NoError(t, api.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = api.Close() })
	changed := NewSignal()
	k := sink.New()
	k.OnReceive(func(event.Event) { changed.Notify() })
	require.NoError(t, k.Start("127.0.0.1:0"))
	t.Cleanup(k.Close)
	dir := t.TempDir()
	return &Env{API: api, Sink: k, Dir: dir, StatePath: dir + "/state.db", KeyID: keyID, Secret: secret, Changed: changed,
		Clock: c, Day: calendar.Of(c.Now().UTC()).AddDays(-21), neverPrinted: []string{secret}}
}

// NeverPrinted adds secrets (a broker's password, say) to what Run checks the connector's
// output for, besides the Secret.
func (e *Env) NeverPrinted(secrets ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.neverPrinted = append(e.neverPrinted, secrets...)
}

func (e *Env) secrets() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.neverPrinted...)
}

// Log returns a Buffer for a connector's output whose writes wake this Env's waiters.
func (e *Env) Log() *Buffer { return &Buffer{Signal: e.Changed} }

// Config writes a config.json with the seed's keys (note secret_access_Key) for this
// environment; extra overrides keys, and a nil value removes one.
func (e *Env) Config(t testing.TB, extra map[string]any) string {
	t.Helper()
	c := map[string]any{"v_target": e.Sink.URL(), "access_key_id": e.KeyID, "secret_access_Key": e.Secret,
		"endpoint": e.API.URL(), "pull_hour": 2, "pull_zone": "Asia/Shanghai", "state_path": e.StatePath,
		"listen": ""} // no ops listener unless a test asks for one: tests run side by side
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	f, err := os.CreateTemp(e.Dir, "config-*.json")
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return f.Name()
}

// Distinct is the number of distinct event ids the sink holds.
func (e *Env) Distinct() int { return len(IDs(e.Sink.Events())) }

// WaitDistinct waits until the sink holds at least n distinct events.
func (e *Env) WaitDistinct(t testing.TB, n int, log *Buffer) {
	t.Helper()
	e.Changed.Wait(t, fmt.Sprintf("%d distinct events at the sink", n), log, func() bool { return e.Distinct() >= n })
}

// IDs counts the events per id.
func IDs(rs []sink.Received) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[r.Event.ID()]++
	}
	return m
}

// Revision is an event's revision extension, in whatever form it came (a number, or the
// text of an HTTP header).
func Revision(e event.Event) (int, error) {
	v, ok := e.Extensions()[job.RevisionExtension]
	if !ok {
		return 0, fmt.Errorf("event %s has no revision", e.ID())
	}
	n, err := types.ToInteger(v)
	return int(n), err
}

// Want is what the sink must hold of the fake's days: per event subject, the data of the
// latest content of the row, for the account bill and the instance bill alike.
func (e *Env) Want(t testing.TB, days ...calendar.Day) map[string]string {
	t.Helper()
	want := map[string]string{}
	add := func(r bill.Row) {
		body, _, err := job.Body(r) // the default account's subject and data, as the job makes them
		require.NoError(t, err)
		want[job.Subject(r, r.Identity())] = string(body)
	}
	for _, d := range days {
		for _, it := range e.API.Day(d.String()) {
			add(it) // the fake's item is the connector's row
		}
		for _, it := range e.API.InstanceDay(d.String()) {
			r, err := it.Row()
			require.NoError(t, err)
			add(r)
		}
	}
	return want
}

// Tail is the end of a long log, for failure messages.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
