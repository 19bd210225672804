package state

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/fx/fxtest"
)

// holdCommits makes the next commit wait until want more writes are queued behind it,
// so that they form one batch.
func holdCommits(t *testing.T, want int) {
	_, behind, release := holdFirstCommit(t, want)
	go func() {
		<-behind
		close(release)
	}()
}

// holdFirstCommit holds the next commit until release is closed: inCommit is closed once
// it is held, behind once want more writes are queued behind it.
func holdFirstCommit(t *testing.T, want int) (inCommit, behind <-chan struct{}, release chan<- struct{}) {
	var mu sync.Mutex
	n, first := 0, true
	in, all, rel := make(chan struct{}), make(chan struct{}), make(chan struct{})
	queued = func() {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == want+1 { // the held one and want behind it
			close(all)
		}
	}
	committing = func() {
		mu.Lock()
		held := first
		first = false
		mu.Unlock()
		if held {
			close(in)
			<-rel
		}
	}
	t.Cleanup(func() { queued, committing = func() {}, func() {} })
	return in, all, rel
}

// The writes of 100 accounts queued during a commit are one transaction, one fsync; a
// write that fails in the batch (a pull that another began after) fails alone; each
// caller returns once its write is in the file.
func TestCommit_WritesOfManyAccountsQueuedMeanwhileAreOneCommit(t *testing.T) {
	const accounts = 100
	path := filepath.Join(t.TempDir(), "state.db")
	d, err := OpenDB(path, false, nil)
	require.NoError(t, err)
	defer d.Close()
	// A stale pull of acct-0's day: two newer pulls planned since.
	stale, err := d.Account("acct-0").Pull("account", day)
	require.NoError(t, err)
	for rev := range 2 {
		newer, err := d.Account("acct-0").Pull("account", day)
		require.NoError(t, err)
		require.NoError(t, newer.Plan(map[string]Row{"r": {Hash: "h", ID: "new", Revision: rev + 1}}))
	}
	base := d.Commits()

	holdCommits(t, accounts)
	errs := make([]error, accounts+1)
	var wg sync.WaitGroup
	for i := range accounts + 1 {
		wg.Go(func() {
			if i == accounts {
				errs[i] = stale.Plan(map[string]Row{"r": {Hash: "h", ID: "stale", Revision: 1}})
				return
			}
			p, err := d.Account(fmt.Sprintf("acct-%d", i)).Pull("instance", day)
			if err == nil {
				err = p.Plan(map[string]Row{"r1": {Hash: "h", ID: fmt.Sprint("id", i), Revision: 1}})
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range accounts {
		require.NoError(t, errs[i], i)
	}
	require.ErrorContains(t, errs[accounts], "another pull of it began since this one")
	assert.LessOrEqual(t, d.Commits()-base, uint64(2), "101 writes, the first held: at most two commits (the first, then the rest)")
	assert.Equal(t, Commits() >= d.Commits(), true, "the process's count includes the file's")

	snap, err := Open(path, true) // a copy of what is in the file now
	require.NoError(t, err)
	defer snap.Close()
	for i := range accounts {
		s := snap.DB().Account(fmt.Sprintf("acct-%d", i))
		p, err := s.ReadPull("instance", day)
		require.NoError(t, err)
		k, err := p.Known([]string{"r1"})
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint("id", i), k[0].ID, "acct-%d's plan is in the file", i)
	}
	rows, err := snap.DB().Account("acct-0").Rows(day)
	require.NoError(t, err)
	assert.Equal(t, "new", rows["r"].ID, "the stale pull wrote nothing")
}

// Writes committed before the file closes stay; writes after it fail.
func TestCommit_WritesAfterCloseFailAndThoseBeforeStay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	d, err := OpenDB(path, false, nil)
	require.NoError(t, err)
	s := d.Account("payer")
	holdCommits(t, 1)
	done := make(chan error, 2)
	go func() { done <- s.SetSince(day) }()
	go func() { done <- s.SetSince(day.AddDays(1)) }()
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	require.NoError(t, d.Close())
	require.ErrorContains(t, s.SetSince(day), "database not open")

	d, err = OpenDB(path, false, nil)
	require.NoError(t, err)
	defer d.Close()
	_, ok, err := d.Account("payer").Since()
	require.NoError(t, err)
	assert.True(t, ok)
}

// fds counts the process's open file descriptors.
func fds(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(es)
}

// 500 accounts are one file, one lock file: the descriptors do not grow with them.
func TestOpener_FileDescriptorsDoNotGrowWithTheAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	before := fds(t)
	lc := fxtest.NewLifecycle(t)
	op := NewOpener(lc, Options{})
	var stores []*Store
	for i := range 500 {
		name := fmt.Sprintf("acct-%03d", i)
		stores = append(stores, op.Account(path, name, filepath.Join(filepath.Dir(path), "state."+name+".db")))
	}
	lc.RequireStart()
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			p, err := s.Pull("account", day)
			if err == nil {
				err = p.Plan(map[string]Row{"r": {Hash: "h", ID: "i", Revision: 1}})
			}
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	open := fds(t) - before
	assert.LessOrEqual(t, open, 3, "the state file, its lock file (and nothing per account)")
	lc.RequireStop()
	assert.LessOrEqual(t, fds(t)-before, 0, "all closed")
}

// Writes queued while the file closes are committed before it closes: each returns nil
// and is in the file after Close returns.
func TestCommit_CloseCommitsTheWritesThatWait(t *testing.T) {
	const writers = 20
	path := filepath.Join(t.TempDir(), "state.db")
	d, err := OpenDB(path, false, nil)
	require.NoError(t, err)
	_, all, release := holdFirstCommit(t, writers-1)
	errs := make(chan error, writers)
	for i := range writers {
		go func() { errs <- d.Account(fmt.Sprintf("acct-%d", i)).SetSince(day) }()
	}
	<-all
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	close(release)
	require.NoError(t, <-closed)
	for range writers {
		require.NoError(t, <-errs)
	}
	snap, err := Open(path, true)
	require.NoError(t, err)
	defer snap.Close()
	for i := range writers {
		_, ok, err := snap.DB().Account(fmt.Sprintf("acct-%d", i)).Since()
		require.NoError(t, err)
		assert.True(t, ok, "acct-%d's write is in the file", i)
	}
}

// fault is what debug.SetPanicOnFault panics with: a memory fault at an address.
type fault struct{}

func (fault) Error() string    { return "unexpected fault address" }
func (fault) Addr() uintptr    { return 0xdead }
func (fault) RuntimeError()    {}
func (f fault) String() string { return f.Error() }

// A write that faults reading the file's map (damaged or truncated under the process)
// fails with the file's error, and so do the writes queued behind it meanwhile, of every
// account: none of them goes into the broken file. The file still closes: no caller waits
// for ever.
func TestCommit_AFaultStopsTheWritesQueuedBehindIt(t *testing.T) {
	const writers = 10
	path := filepath.Join(t.TempDir(), "state.db")
	d, err := OpenDB(path, false, nil)
	require.NoError(t, err)
	held, release, queuedCh := make(chan struct{}), make(chan struct{}), make(chan struct{}, writers+1)
	first := true
	queued = func() { queuedCh <- struct{}{} }
	committing = func() {
		if first { // the fault's batch, alone
			first = false
			close(held)
			<-release
		}
	}
	t.Cleanup(func() { queued, committing = func() {}, func() {} })
	faulted := make(chan error, 1)
	go func() { faulted <- d.update(1, func(*bolt.Tx) error { panic(fault{}) }) }()
	<-held
	errs := make(chan error, writers)
	for i := range writers {
		go func() { errs <- d.Account(fmt.Sprintf("acct-%d", i)).SetSince(day) }()
	}
	for range writers + 1 {
		<-queuedCh
	}
	close(release)
	var se *Error
	require.ErrorAs(t, <-faulted, &se)
	assert.Contains(t, se.Error(), "a memory fault at 0xdead")
	for range writers {
		err := <-errs
		require.ErrorAs(t, err, &se, "a write queued behind the fault")
		assert.Contains(t, se.Error(), "a memory fault at 0xdead")
	}
	require.NoError(t, d.Close())
}

// lowerBounds makes a batch of several writes wait for ever (a window of an hour) until
// it holds calls writes.
func lowerBounds(t *testing.T, calls int) {
	wait, max := gatherWait, batchCalls
	gatherWait, batchCalls = time.Hour, calls
	t.Cleanup(func() { gatherWait, batchCalls = wait, max })
}

// A lone writer (one account, one bill) commits at once: its batch waits for no window.
func TestCommit_ALoneWriterDoesNotWaitForMore(t *testing.T) {
	lowerBounds(t, maxBatchCalls)
	d, err := OpenDB(filepath.Join(t.TempDir(), "state.db"), false, nil)
	require.NoError(t, err)
	defer d.Close()
	base := d.Commits()
	for i := range 3 {
		require.NoError(t, d.Account("payer").SetSince(day.AddDays(i)), "returns although the window is an hour")
	}
	assert.Equal(t, uint64(3), d.Commits()-base)
}

// A batch that finds writes queued beside its first waits for more (within the window):
// here the first commit, of one write, is held until two writes wait behind it; they
// find each other and wait, with the window an hour, for a third write, which then joins
// them: two commits for four writes. Without the wait the second batch would be the two
// alone. The first write is in its commit before the others start: else, under a slow
// scheduler (-race), the first batch could take all three and answer two at once.
func TestCommit_ABatchOfSeveralWaitsForMoreWithinTheWindow(t *testing.T) {
	lowerBounds(t, 3)
	path := filepath.Join(t.TempDir(), "state.db")
	d, err := OpenDB(path, false, nil)
	require.NoError(t, err)
	defer d.Close()
	base := d.Commits()
	inCommit, behind, release := holdFirstCommit(t, 2)
	errs := make(chan error, 4)
	write := func(i int) { errs <- d.Account(fmt.Sprintf("acct-%d", i)).SetSince(day) }
	go write(0)
	<-inCommit
	go write(1)
	go write(2)
	<-behind
	close(release)
	// The two behind it are the second batch, which waits: nothing more is answered
	// until the fourth write comes.
	require.NoError(t, <-errs, "the held first commit")
	select {
	case err := <-errs:
		t.Fatalf("a write of the waiting batch was answered before the batch was full: %v", err)
	default:
	}
	go write(3)
	for range 3 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, uint64(2), d.Commits()-base, "the held write, then the three")
}
