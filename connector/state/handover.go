package state

import (
	"errors"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Handing accounts over between processes (--import-state). When the shard layout
// changes, an account moves to a process whose state file does not know it, and without
// its state the new owner cannot make the event ids of its rows again (a revision is the
// time of the pull that first found a content): it could only take the account over from
// the next day on (see accounts.TakeOver). Given the old owner's state file, the new owner
// takes the account's state from it when it opens its own: every account of this process
// (named by the Opener) that this file does not know yet (no bucket, or an empty one) and
// that the other file has is copied, all in one transaction per file, and the account
// then runs as if it had always been here, its ids and revisions those its old owner
// made. An account this file knows is left as it is, so that a start with the same flag
// again imports nothing. The other file is read as a dry run reads state_path (a
// consistent copy, no lock): its process may still run, but should no longer run the
// accounts that move (import after every process runs the new layout, before the next
// pull), or the days it delivers after the copy are not in it.

// takeStates imports the accounts from the files of --import-state.
func (d *DB) takeStates() error {
	for _, from := range d.handover {
		if err := d.takeState(from); err != nil {
			return err
		}
	}
	return nil
}

// takeState imports the accounts this file does not know from the state file at from.
func (d *DB) takeState(from string) error {
	if err := d.notItself(from); err != nil {
		return err
	}
	od, err := OpenDB(from, true, nil)
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			se.Problem = "--import-state " + from + ": " + se.Problem
			se.Path = d.path
		}
		return err
	}
	if od == nil {
		return &Error{Path: d.path, Problem: "--import-state " + from + ": no state file there (or an empty one)",
			Hint: "name the state file of the process that ran the accounts before"}
	}
	defer od.Close()
	var took, known []string
	err = d.write(func(tx *bolt.Tx) error {
		return od.view(func(otx *bolt.Tx) error {
			var err error
			took, known, err = d.takeAccounts(tx, otx)
			return err
		})
	})
	if err != nil {
		return err
	}
	d.logInfo("state: took the state of accounts from another process's state file", "from", from, "into", d.path,
		"accounts", took, "known_here", known, "dry_run", d.readOnly)
	return nil
}

// takeAccounts copies, from otx into tx, each account of this process that tx does not
// know and otx does; known are those tx knows already.
func (d *DB) takeAccounts(tx, otx *bolt.Tx) (took, known []string, err error) {
	seen := make(map[string]bool, len(d.names))
	for _, name := range d.names {
		if seen[name] {
			continue
		}
		seen[name] = true
		key := accountKey(name)
		src, dst := otx.Bucket(key), tx.Bucket(key)
		switch {
		case src == nil || empty(src):
			continue
		case dst != nil && !empty(dst):
			known = append(known, name)
			continue
		case dst != nil:
			if err := tx.DeleteBucket(key); err != nil {
				return nil, nil, err
			}
		}
		root, err := tx.CreateBucket(key)
		if err == nil {
			err = copyBucket(root, src)
		}
		if err != nil {
			return nil, nil, err
		}
		took = append(took, name)
	}
	return took, known, nil
}

// notItself refuses a file of --import-state that is this state file.
func (d *DB) notItself(from string) error {
	a, err := os.Stat(from)
	if errors.Is(err, fs.ErrNotExist) {
		return &Error{Path: d.path, Problem: "--import-state " + from + ": no such file",
			Hint: "name the state file of the process that ran the accounts before", Err: err}
	}
	if b, berr := os.Stat(d.path); err == nil && berr == nil && os.SameFile(a, b) {
		return &Error{Path: d.path, Problem: "--import-state " + from + " is this state file itself",
			Hint: "name the state file of another connector process"}
	}
	return nil
}

// empty: the bucket holds no value, in it or in a bucket of it.
func empty(b *bolt.Bucket) bool {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil || !empty(b.Bucket(k)) {
			return false
		}
	}
	return true
}
