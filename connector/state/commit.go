package state

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The bounds of one group commit: the writes queued while the previous commit was being
// written to disk, at most this many of them, holding at most about this many records.
// A lone writer (one account, one bill) commits at once, as before: its batch waits for
// no timer, only for the commit before it. A batch that finds other writes queued (many
// accounts and bills writing) waits up to gatherWait for more: each commit rewrites every
// page it touches and syncs twice, so fuller batches cost less per record (100 accounts ×
// 3,000 rows, tools/bench: 26.3 s and 287 commits a second without the wait, 23.5 s and
// 188 with 5 ms; 10 and 20 ms gained nothing more).
const (
	maxBatchCalls = 256
	maxBatchRows  = 16384
)

// gatherWait bounds how long a batch of several writes waits for more; batchCalls is
// maxBatchCalls (tests stretch the window and lower batchCalls, so that a batch closes
// on an event, not on time).
var (
	gatherWait = 5 * time.Millisecond
	batchCalls = maxBatchCalls
)

// totalCommits counts the commits of every DB of the process (ops: state_commits_total).
var totalCommits atomic.Uint64

// Commits is how many write transactions the state files of the process committed since
// it started (each one an fsync of the data and one of the meta page).
func Commits() uint64 { return totalCommits.Load() }

// Tests hold a commit (committing runs before each) and count the writes queued (queued
// runs after each is).
var (
	committing = func() {}
	queued     = func() {}
)

// request is one write waiting for its batch.
type request struct {
	rows int
	fn   func(*bolt.Tx) error
	done chan error
}

// committer is the group commit of a DB: one goroutine runs the writes of every account
// and bill, queued meanwhile, in one transaction, so that fsyncs do not grow with the
// writers. A caller returns once its batch is on disk (or failed). A write whose fn fails
// is taken out and the rest of its batch runs again without it: the file is then as if
// the writes had run one by one in the batch's order, the failed one at its place.
type committer struct {
	d       *DB
	reqs    chan *request
	mu      sync.RWMutex // held to send on reqs; stop takes it to close reqs
	stopped bool
	done    chan struct{}
	commits atomic.Uint64
}

func newCommitter(d *DB) *committer {
	c := &committer{d: d, reqs: make(chan *request, maxBatchCalls), done: make(chan struct{})}
	go c.run()
	return c
}

// do queues fn and waits for its batch.
func (c *committer) do(rows int, fn func(*bolt.Tx) error) error {
	r := &request{rows: rows, fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.stopped {
		c.mu.RUnlock()
		return fmt.Errorf("state: %w", bolt.ErrDatabaseNotOpen)
	}
	c.reqs <- r
	c.mu.RUnlock()
	queued()
	return <-r.done
}

// stop commits what is queued and ends the goroutine.
func (c *committer) stop() {
	if c == nil {
		return
	}
	c.mu.Lock()
	if !c.stopped {
		c.stopped = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	for first := range c.reqs {
		c.commit(c.gather(first))
	}
}

// gather is the batch that starts with first: what else is queued, within the bounds, and
// when that is something, what comes within gatherWait.
func (c *committer) gather(first *request) []*request {
	batch, rows := []*request{first}, first.rows
	var window <-chan time.Time
	for len(batch) < batchCalls && rows < maxBatchRows {
		var r *request
		ok := true
		select {
		case r, ok = <-c.reqs:
		default: // nothing queued now
			if len(batch) == 1 {
				return batch // a lone writer
			}
			if window == nil {
				t := time.NewTimer(gatherWait)
				defer t.Stop()
				window = t.C
			}
			select {
			case r, ok = <-c.reqs:
			case <-window:
				return batch
			}
		}
		if !ok {
			return batch
		}
		batch, rows = append(batch, r), rows+r.rows
	}
	return batch
}

// commit runs the batch in one transaction and answers each of its writes. A file found
// broken (a fault reading its map, see guarded) takes no more writes, not even those
// queued before it was found so.
func (c *committer) commit(batch []*request) {
	committing()
	if e := c.d.broken.Load(); e != nil {
		answer(batch, e)
		return
	}
	if err := c.d.Verify(); err != nil {
		answer(batch, err)
		return
	}
	for len(batch) > 0 {
		failed := -1
		err := c.d.write(func(tx *bolt.Tx) error {
			for i, r := range batch {
				if err := r.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			if err == nil {
				c.commits.Add(1)
				totalCommits.Add(1)
			}
			answer(batch, err)
			return
		}
		batch[failed].done <- err
		batch = append(batch[:failed], batch[failed+1:]...)
	}
}

func answer(batch []*request, err error) {
	for _, r := range batch {
		r.done <- err
	}
}
