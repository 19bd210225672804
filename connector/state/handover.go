package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Handing accounts over between processes (--import-state). When the shard layout
// changes, an account moves to a process whose state file does not know it, and without
// its state the new owner cannot make the event ids of its rows again (a revision is the
// time of the pull that first found a content): it could only take the account over from
// the next day on (see accounts.TakeOver). Given the old owner's state file, the new owner
// takes the account's state from it when it opens its own: every account of this process
// (named by the Opener) that this file has not run yet (nothing sent from it: no bucket,
// or only its since and its days' meta, which a start with the new layout without the
// flag writes; see ranHere) and that the other file has is copied, all in one transaction
// per file, and the account then runs as if it had always been here, its ids and
// revisions those its old owner made. An account this file ran is left as it is, so that
// a start with the same flag again imports nothing. A file of an earlier release (one
// account's, without its name) or of a newer schema is refused. The other file is read
// as a dry run reads state_path (a consistent copy, no lock): its process may still run,
// but should no longer run the accounts that move (import after every process runs the
// new layout, before the next pull), or the days it delivers after the copy are not in
// it.

// takeStates imports the accounts from the files of --import-state.
func (d *DB) takeStates() error {
	for _, from := range d.handover {
		if err := d.takeState(from); err != nil {
			return err
		}
	}
	return nil
}

// takeState imports the accounts this file has not run from the state file at from.
func (d *DB) takeState(from string) error {
	if err := d.notItself(from); err != nil {
		return err
	}
	od, err := openOther(from)
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			se.Problem = "--import-state " + from + ": " + se.Problem
			se.Path = d.path
		}
		return err
	}
	defer od.Close()
	var t taken
	err = d.write(func(tx *bolt.Tx) error {
		return od.view(func(otx *bolt.Tx) error {
			t = d.takeAccounts(tx, otx)
			return t.err
		})
	})
	if err != nil {
		return err
	}
	d.logInfo("state: took the state of accounts from another process's state file", "from", from, "into", d.path,
		"took", len(t.took), "accounts", listed(t.took), "replaced_takeover", listed(t.replaced),
		"kept_ran_here", listed(t.known), "not_in_file", listed(t.absent), "dry_run", d.readOnly)
	return nil
}

// openOther opens the state file of another process at from as a dry run opens state_path
// (a consistent copy, no lock), checked, and refuses one that is not of this schema: a
// file of an earlier release is one account's (its name is not in it), a newer one is
// not read.
func openOther(from string) (*DB, error) {
	od := &DB{path: from, readOnly: true}
	if err := od.openSnapshot(); err != nil {
		return nil, err
	}
	if od.db == nil {
		return nil, &Error{Path: from, Problem: "no state file there (or an empty one)",
			Hint: "name the state file of the process that ran the accounts before"}
	}
	err := od.check()
	var v string
	var legacy bool
	if err == nil {
		v, legacy, err = od.fileSchema()
	}
	switch {
	case err != nil:
	case legacy:
		err = &Error{Path: from, Problem: fmt.Sprintf("a state file of an earlier release (schema %q, one account's, without its name)", schemaLegacy),
			Hint: "start this release on it first (it converts and imports such files), then name the state file it wrote"}
	case v != schema && v != "":
		err = &Error{Path: from, Problem: fmt.Sprintf("schema %q, this connector reads schema %q", shorten(v), schema),
			Hint: "run the connector version that wrote it"}
	}
	if err != nil {
		od.Close()
		return nil, err
	}
	return od, nil
}

// taken is what takeAccounts did, by account: took from the other file (replaced: of
// those, the ones this file knew only the first day of, see ranHere); known, this file
// ran them already, kept; absent, the other file has none.
type taken struct {
	took, replaced, known, absent []string
	err                           error
}

// takeAccounts copies, from otx into tx, each account of this process that tx did not
// run (see ranHere) and otx has.
func (d *DB) takeAccounts(tx, otx *bolt.Tx) (t taken) {
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
			t.absent = append(t.absent, name)
			continue
		case dst != nil && ranHere(dst):
			t.known = append(t.known, name)
			continue
		case dst != nil:
			if !empty(dst) {
				t.replaced = append(t.replaced, name)
			}
			if t.err = tx.DeleteBucket(key); t.err != nil {
				return t
			}
		}
		var root *bolt.Bucket
		if root, t.err = tx.CreateBucket(key); t.err == nil {
			t.err = copyBucket(root, src)
		}
		if t.err != nil {
			return t
		}
		t.took = append(t.took, name)
	}
	return t
}

// ranHere says whether the account's bucket records what a process did for it: a row
// planned or delivered, a month, a purchase. Its since (which accounts.TakeOver writes at
// the first start that runs it, before any pull) and the meta of its days (a pull started,
// its error) are not: an account that has only those sent nothing from this file, and the
// other file's state replaces them (a start with the new layout before --import-state).
func ranHere(root *bolt.Bucket) bool {
	c := root.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		switch {
		case v != nil:
			return true
		case string(k) == string(bucketMeta):
		case strings.HasPrefix(string(k), string(bucketDays)):
			if daysRan(root.Bucket(k)) {
				return true
			}
		case !empty(root.Bucket(k)):
			return true
		}
	}
	return false
}

// daysRan: a day of days has a row (or anything but its meta).
func daysRan(days *bolt.Bucket) bool {
	c := days.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			return true
		}
		day := days.Bucket(k)
		dc := day.Cursor()
		for dk, dv := dc.First(); dk != nil; dk, dv = dc.Next() {
			if dv == nil && !empty(day.Bucket(dk)) || dv != nil && string(dk) != string(keyDayMeta) {
				return true
			}
		}
	}
	return false
}

// maxListed bounds the accounts a log line names in each list (10,000 accounts move when
// a fleet's layout changes): the first ones, then how many more.
const maxListed = 20

func listed(names []string) []string {
	if len(names) <= maxListed {
		return names
	}
	return append(slices.Clone(names[:maxListed]), fmt.Sprintf("and %d more", len(names)-maxListed))
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
