package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The migration from schema 1, one file per account (releases before the shared file):
//
//   - A file of schema 1 at state_path itself (the one account of a config without
//     accounts, or the account "default") is converted in place, in one transaction: its
//     buckets move into the bucket of the account "default" and its schema becomes "2".
//   - The file of any other account, state.<name>.db beside state_path (Legacy), is
//     imported when the DB opens: copied into the account's bucket in one transaction that
//     also records it imported (importedPrefix + the account: the file's last transaction
//     id), then renamed aside to state.<name>.db.imported, which an older release opens
//     again when renamed back by hand. A crash before the rename leaves the file, recorded
//     as imported with the same transaction id: the next start only renames it.
//
// A file of schema 2 names its schema in the top-level meta, which releases that read
// schema 1 refuse ("schema "2", this connector reads schema "1"").

// importedPrefix starts the keys, in the top-level meta, of the accounts imported.
const importedPrefix = "imported:"

// importedSuffix is added to the name of a legacy file once imported.
const importedSuffix = ".imported"

// migrated runs at each step of a migration: "convert" and "import" inside the
// transaction before its commit, "imported" after the commit before the rename. Tests
// kill the process there.
var migrated = func(step string) {}

// fileSchema reads the schema of the file: its top-level meta's, "" for a new file;
// legacy says the file has the top-level buckets of schema 1.
func (d *DB) fileSchema() (v string, legacy bool, err error) {
	err = d.view(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			v = string(m.Get(keyVersion))
		}
		legacy = v == schemaLegacy || v == "" && len(legacyBuckets(tx)) > 0
		return nil
	})
	return v, legacy, err
}

// convert checks the file's schema and converts a file of schema 1 in place.
func (d *DB) convert() error {
	v, legacy, err := d.fileSchema()
	switch {
	case err != nil:
		return err
	case v == schema:
		return nil
	case v != "" && v != schemaLegacy:
		return &Error{
			Path:    d.path,
			Problem: fmt.Sprintf("schema %q, this connector reads schema %q (and converts %q)", shorten(v), schema, schemaLegacy),
			Hint:    "run the connector version that wrote it, or " + moveAside(d.path),
		}
	}
	if err := d.write(func(tx *bolt.Tx) error {
		if legacy {
			if err := moveLegacy(tx); err != nil {
				return err
			}
			migrated("convert")
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keyVersion, []byte(schema))
	}); err != nil {
		return err
	}
	switch {
	case legacy && d.readOnly:
		d.logInfo("state: read a state file of an earlier release (a dry run converts nothing)", "path", d.path, "account", DefaultAccount)
	case legacy:
		d.logInfo("state: converted a state file of an earlier release to one store for every account",
			"path", d.path, "account", DefaultAccount)
	}
	return nil
}

// legacyBuckets names the top-level buckets of an account in a file of schema 1.
func legacyBuckets(tx *bolt.Tx) [][]byte {
	var names [][]byte
	tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		n := string(name)
		if b != nil && (n == "days" || n == "months" || strings.HasPrefix(n, "days.")) {
			names = append(names, []byte(n))
		}
		return nil
	})
	return names
}

// moveLegacy moves the buckets of a file of schema 1 into the account "default"'s.
func moveLegacy(tx *bolt.Tx) error {
	root, err := tx.CreateBucket(accountKey(DefaultAccount))
	if err != nil {
		return err
	}
	am, err := root.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if m := tx.Bucket(bucketMeta); m != nil {
		if v := m.Get(keySince); v != nil {
			if err := am.Put(keySince, append([]byte(nil), v...)); err != nil {
				return err
			}
			if err := m.Delete(keySince); err != nil {
				return err
			}
		}
	}
	for _, name := range legacyBuckets(tx) {
		if err := tx.MoveBucket(name, nil, root); err != nil {
			return err
		}
	}
	_, err = root.CreateBucketIfNotExists(bucketDays)
	return err
}

// importable says whether l names a legacy file of this DB that is there: not state_path
// itself nor its lock file (an account named "lock" of a state_path without extension).
func (d *DB) importable(l Legacy) (bool, error) {
	if l.Path == "" || l.Path == d.path || l.Path == lockName(d.path) {
		return false, nil
	}
	_, err := os.Stat(l.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, errOS(l.Path, "check it for an import", err)
	}
	return true, nil
}

// anyLegacy says whether a legacy file is there to import.
func (d *DB) anyLegacy() bool {
	for _, l := range d.legacy {
		if ok, err := d.importable(l); ok || err != nil {
			return true
		}
	}
	return false
}

// importAll imports the legacy files that are there.
func (d *DB) importAll() error {
	for _, l := range d.legacy {
		ok, err := d.importable(l)
		if err == nil && ok {
			err = d.importOne(l)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// importOne imports the legacy file of one account (see the comment at the top).
func (d *DB) importOne(l Legacy) error {
	ld, err := openLegacy(l.Path, d.readOnly)
	if err != nil {
		return err
	}
	imported := false
	if ld != nil {
		imported, err = d.copyLegacy(l, ld)
		ld.Close()
		if err != nil {
			return err
		}
	}
	migrated("imported")
	if d.readOnly {
		d.logInfo("state: read an earlier release's state file of an account (a dry run imports nothing)",
			"account", l.Account, "from", l.Path)
		return nil
	}
	if err := renameAside(l.Path); err != nil {
		return err
	}
	msg := "state: imported an earlier release's state file of an account"
	if !imported {
		msg = "state: renamed an earlier release's state file imported before"
	}
	d.logInfo(msg, "account", l.Account, "from", l.Path, "into", d.path, "renamed_to", l.Path+importedSuffix)
	return nil
}

// openLegacy opens a legacy file as Open does (its lock, its checks); nil when it is
// empty. Its schema must be 1.
func openLegacy(path string, readOnly bool) (*DB, error) {
	ld := &DB{path: path, readOnly: readOnly}
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		return nil, nil // created and never written: nothing to import
	}
	var err error
	if readOnly {
		err = ld.openSnapshot()
	} else {
		err = ld.openWritable()
	}
	if err != nil || ld.db == nil {
		return nil, err
	}
	err = ld.check()
	if err == nil {
		var v string
		if v, _, err = ld.fileSchema(); err == nil && v != schemaLegacy {
			err = &Error{Path: path, Problem: fmt.Sprintf("schema %q where an account's state file of an earlier release has schema %q", shorten(v), schemaLegacy),
				Hint: "move it aside (" + moveAside(path) + ")"}
		}
	}
	if err != nil {
		ld.Close()
		return nil, err
	}
	return ld, nil
}

// copyLegacy copies the account's buckets from ld into the account's bucket, in one
// transaction that records the import; imported is false when it was recorded before.
func (d *DB) copyLegacy(l Legacy, ld *DB) (imported bool, err error) {
	key := accountKey(l.Account)
	marker := []byte(importedPrefix + l.Account)
	err = d.write(func(tx *bolt.Tx) error {
		return ld.view(func(ltx *bolt.Tx) error {
			txid := []byte(strconv.Itoa(ltx.ID()))
			meta := tx.Bucket(bucketMeta)
			if prev := meta.Get(marker); prev != nil && string(prev) == string(txid) {
				return nil // imported, not renamed yet
			}
			if tx.Bucket(key) != nil {
				return errImportConflict(d.path, l)
			}
			root, err := tx.CreateBucket(key)
			if err != nil {
				return err
			}
			if err := copyAccount(root, ltx); err != nil {
				return err
			}
			migrated("import")
			imported = true
			return meta.Put(marker, txid)
		})
	})
	return imported, err
}

func errImportConflict(path string, l Legacy) *Error {
	return &Error{
		Path:    path,
		Problem: fmt.Sprintf("it has state of account %q, and that account's state file of an earlier release, %s, is there too", l.Account, l.Path),
		Hint:    fmt.Sprintf("rename %s to %s to keep the state that state_path has (the connector imports such a file once, on the first start of this release)", l.Path, filepath.Base(l.Path)+importedSuffix),
	}
}

// copyAccount copies what a file of schema 1 holds (its top-level buckets; its meta
// without the schema) into root.
func copyAccount(root *bolt.Bucket, ltx *bolt.Tx) error {
	err := ltx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if b == nil {
			return nil
		}
		dst, err := root.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		if string(name) == string(bucketMeta) {
			if v := b.Get(keySince); v != nil {
				return dst.Put(keySince, v)
			}
			return nil
		}
		return copyBucket(dst, b)
	})
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketMeta, bucketDays} {
		if _, err := root.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// copyBucket copies src, with its buckets, into dst. The values stay those of src's
// file: the copy commits while src's transaction is open.
func copyBucket(dst, src *bolt.Bucket) error {
	return src.ForEach(func(k, v []byte) error {
		if v != nil {
			return dst.Put(k, v)
		}
		sub, err := dst.CreateBucket(k)
		if err != nil {
			return err
		}
		return copyBucket(sub, src.Bucket(k))
	})
}

// renameAside renames an imported legacy file to its name + importedSuffix, durably.
func renameAside(path string) error {
	if err := os.Rename(path, path+importedSuffix); err != nil {
		return errOS(path, "rename it aside after its import", err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// info2 logs what the migration did.
func (d *DB) logInfo(msg string, args ...any) {
	if d.log != nil {
		d.log.Info(msg, args...)
	}
}
