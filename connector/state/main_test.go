package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// Cases that could crash the process (a fault through bbolt's memory map, a bbolt panic
// in a goroutine of its own) run in a child: the test binary run again with childEnv set,
// which TestMain sends to child instead of the tests. A crash then fails one test, not
// the whole run.
const (
	childEnv      = "STATE_TEST_CHILD"       // what the child does
	childCasesEnv = "STATE_TEST_CHILD_CASES" // probe: the file of cases
	childFromEnv  = "STATE_TEST_CHILD_FROM"  // probe: the first case to run
	childPathEnv  = "STATE_TEST_CHILD_PATH"  // the state file
	childWait     = 2 * time.Minute
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// openAtOnce opens path writable and fails the test unless Open returns within a second
// (today's bbolt lock waits two).
func openAtOnce(t *testing.T, path string) (*Store, error) {
	t.Helper()
	type opened struct {
		s   *Store
		err error
	}
	done := make(chan opened, 1)
	go func() {
		s, err := Open(path, false)
		done <- opened{s, err}
	}()
	select {
	case o := <-done:
		return o.s, o.err
	case <-time.After(time.Second):
		t.Fatal("Open waited for the lock")
		return nil, nil
	}
}

// childResult is what a child says of one attempt.
type childResult struct {
	stdout, stderr string
	code           int
}

// runChild runs the test binary as a child doing mode, with env added.
func runChild(t *testing.T, mode string, env map[string]string, stdin io.Reader) childResult {
	t.Helper()
	res, err := startChild(t, mode, env, stdin)
	require.NoError(t, err)
	return res
}

// startChild is runChild for any goroutine: it returns its error.
func startChild(t *testing.T, mode string, env map[string]string, stdin io.Reader) (childResult, error) {
	var out bytes.Buffer
	res, err := startChildTo(t, mode, env, stdin, &out)
	res.stdout = out.String()
	return res, err
}

// startChildTo is startChild writing the child's stdout to stdout as it comes.
func startChildTo(t *testing.T, mode string, env map[string]string, stdin io.Reader, stdout io.Writer) (childResult, error) {
	ctx, cancel := context.WithTimeout(t.Context(), childWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	// A race-enabled child would wait a second at a clean exit for late race reports.
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = stdout, &errOut, stdin
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return childResult{}, err
	}
	return childResult{stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}, nil
}

// crashed says how a child ended when it did not end well.
func (r childResult) crashed() string {
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	head := strings.Join(lines[:min(len(lines), 3)], " | ")
	return fmt.Sprintf("exit %d: %s", r.code, head)
}

// children are the things a child can do, by mode.
var children = map[string]func() int{"probe": childProbe}

func child(mode string) int {
	if f, ok := children[mode]; ok {
		return f()
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 3
}

// report is what a child says of an error: enough for the parent to judge it.
type report struct {
	Case   int    `json:"case"`
	Step   string `json:"step,omitempty"`
	Msg    string `json:"msg,omitempty"`
	State  bool   `json:"state,omitempty"`  // an *Error
	Path   string `json:"path,omitempty"`   // its Path
	Locked bool   `json:"locked,omitempty"` // errors.Is ErrLocked
	Done   bool   `json:"done,omitempty"`   // the case finished
}

func reportOf(i int, step string, err error) report {
	r := report{Case: i, Step: step, Msg: err.Error(), Locked: errors.Is(err, ErrLocked)}
	var se *Error
	if errors.As(err, &se) {
		r.State, r.Path = true, se.Path
	}
	return r
}

func emit(r report) {
	b, _ := json.Marshal(r)
	os.Stdout.Write(append(b, '\n'))
}

// probeCase is one damaged file: Src copied to Work, then cut and patched.
type probeCase struct {
	Name     string  `json:"name"`
	Src      string  `json:"src"`
	Work     string  `json:"work"`
	Truncate int64   `json:"truncate"` // -1: keep the size
	Patches  []patch `json:"patches,omitempty"`
	Expect   bool    `json:"expect"` // an error must be found
}

type patch struct {
	Off  int64  `json:"off"`
	Xor  byte   `json:"xor,omitempty"`  // flip these bits of the byte at Off
	Zero int64  `json:"zero,omitempty"` // or zero this many bytes from Off
	Data []byte `json:"data,omitempty"` // or write these bytes at Off
}

func (c probeCase) build() error {
	b, err := os.ReadFile(c.Src)
	if err != nil {
		return err
	}
	if c.Truncate >= 0 {
		b = b[:c.Truncate]
	}
	for _, p := range c.Patches {
		switch {
		case p.Data != nil:
			copy(b[p.Off:], p.Data)
		case p.Zero > 0:
			clear(b[p.Off:min(p.Off+p.Zero, int64(len(b)))])
		default:
			b[p.Off] ^= p.Xor
		}
	}
	os.Remove(c.Work)
	if err := os.MkdirAll(filepath.Dir(c.Work), 0o700); err != nil {
		return err
	}
	return os.WriteFile(c.Work, b, 0o600)
}

// childProbe opens each case read-only and writable, reads everything and writes, and
// reports every error. It crashes where the package would.
func childProbe() int {
	var cases []probeCase
	b, err := os.ReadFile(os.Getenv(childCasesEnv))
	if err == nil {
		err = json.Unmarshal(b, &cases)
	}
	from, _ := strconv.Atoi(os.Getenv(childFromEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for i := from; i < len(cases); i++ {
		if err := cases[i].build(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		probe(i, cases[i].Work)
		emit(report{Case: i, Done: true})
	}
	return 0
}

func probe(i int, path string) {
	for _, readOnly := range []bool{true, false} {
		mode := map[bool]string{true: "read-only ", false: ""}[readOnly]
		s, err := Open(path, readOnly)
		if err != nil {
			emit(reportOf(i, mode+"open", err))
			continue
		}
		if s == nil {
			continue
		}
		for step, err := range readAll(s) {
			emit(reportOf(i, mode+step, err))
		}
		if !readOnly {
			d := calendar.Day{Year: 2031, Month: 1, Day: 2}
			if p, err := s.Pull("account", d); err != nil {
				emit(reportOf(i, "pull", err))
			} else if err := p.Plan(map[string]Row{"probe": {Hash: "h", ID: "i", Revision: 1}}); err != nil {
				emit(reportOf(i, "plan", err))
			} else if err := p.Ack([]Ack{{Identity: "probe", ID: "i"}}); err != nil {
				emit(reportOf(i, "ack", err))
			}
		}
		if err := s.Close(); err != nil {
			emit(reportOf(i, mode+"close", err))
		}
	}
}

// readAll reads all the store knows; Check's own findings (a complete day with an
// undelivered row) are what a damaged value may well read as, and are not reported.
func readAll(s *Store) map[string]error {
	errs := map[string]error{}
	if _, _, err := s.Since(); err != nil {
		errs["since"] = err
	}
	days, err := s.Days()
	if err != nil {
		errs["days"] = err
	}
	for _, d := range days {
		if _, err := s.DayInfo(d); err != nil {
			errs["dayinfo "+d.String()] = err
		}
		if _, err := s.Rows(d); err != nil {
			errs["rows "+d.String()] = err
		}
	}
	var se *Error
	if err := s.Check(); errors.As(err, &se) {
		errs["check"] = err
	}
	return errs
}

// runProbes runs the cases in children, one shard of them per CPU, a new child after each
// crash, and returns what they reported, by case, and the crashes.
func runProbes(t *testing.T, cases []probeCase) (map[int][]report, map[int]string) {
	t.Helper()
	shards := min(runtime.GOMAXPROCS(0), len(cases))
	type result struct {
		reports map[int][]report
		crashes map[int]string
		err     error
	}
	results := make(chan result, shards)
	for n := range shards {
		var shard []int
		for i := n; i < len(cases); i += shards {
			shard = append(shard, i)
		}
		go func() {
			r := result{reports: map[int][]report{}, crashes: map[int]string{}}
			r.err = runShard(t, cases, shard, r.reports, r.crashes)
			results <- r
		}()
	}
	reports, crashes := map[int][]report{}, map[int]string{}
	for range shards {
		r := <-results
		require.NoError(t, r.err)
		maps.Copy(reports, r.reports)
		maps.Copy(crashes, r.crashes)
	}
	return reports, crashes
}

// runShard runs the cases at indexes in children, one after the other.
func runShard(t *testing.T, cases []probeCase, indexes []int, reports map[int][]report, crashes map[int]string) error {
	sub := make([]probeCase, len(indexes))
	for j, i := range indexes {
		sub[j] = cases[i]
	}
	b, err := json.Marshal(sub)
	if err != nil {
		return err
	}
	file := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return err
	}
	for from := 0; from < len(sub); {
		res, err := startChild(t, "probe", map[string]string{childCasesEnv: file, childFromEnv: strconv.Itoa(from)}, nil)
		if err != nil {
			return err
		}
		next := from
		sc := bufio.NewScanner(strings.NewReader(res.stdout))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var r report
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return fmt.Errorf("%w: %s", err, sc.Text())
			}
			if r.Done {
				next = r.Case + 1
				continue
			}
			reports[indexes[r.Case]] = append(reports[indexes[r.Case]], r)
		}
		if next < len(sub) {
			crashes[indexes[next]] = res.crashed()
			if len(crashes) >= 25 {
				return fmt.Errorf("too many crashes: %v", crashes)
			}
			next++
		}
		from = next
	}
	return nil
}

// assertProbes checks every case: no crash, every error one line of *Error naming the
// file, never "locked" (a leaked lock), and an error where one is expected.
func assertProbes(t *testing.T, cases []probeCase) {
	t.Helper()
	reports, crashes := runProbes(t, cases)
	for i, c := range cases {
		if msg, ok := crashes[i]; ok {
			t.Errorf("%s: the process crashed: %s", c.Name, msg)
			continue
		}
		for _, r := range reports[i] {
			switch {
			case !r.State:
				t.Errorf("%s: %s: not a *state.Error: %s", c.Name, r.Step, r.Msg)
			case r.Locked:
				t.Errorf("%s: %s: locked (a lock leaked): %s", c.Name, r.Step, r.Msg)
			case r.Path != c.Work || !strings.HasPrefix(r.Msg, "state_path "+c.Work+": ") || strings.Contains(r.Msg, "\n"):
				t.Errorf("%s: %s: not one line naming state_path: %q", c.Name, r.Step, r.Msg)
			}
		}
		if c.Expect && len(reports[i]) == 0 {
			t.Errorf("%s: no error", c.Name)
		}
	}
}

// errOr makes "no error" reportable.
func errOr(err error) error {
	if err == nil {
		return errors.New("no error")
	}
	return err
}
