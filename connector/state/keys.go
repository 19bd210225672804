package state

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// MaxKeyLen is the longest row identity stored as its own key. bbolt refuses keys over
// 32 KiB; a longer identity (or an empty one, or one that starts with hashedKeyPrefix) is
// stored under hashedKeyPrefix + the hex SHA-256 of the identity, with the identity itself
// in the value: Rows returns it as it was given, whatever its length.
const MaxKeyLen = 512

// hashedKeyPrefix starts the key of a row stored under the hash of its identity.
const hashedKeyPrefix = "sha256:"

// stored is a row as the file keeps it.
type stored struct {
	Row
	Identity *string `json:"k,omitempty"` // the identity of a row kept under its hash (maybe "")
}

// rowKey is the key of a row identity in a day's rows bucket.
func rowKey(identity string) (key []byte, hashed bool) {
	if len(identity) == 0 || len(identity) > MaxKeyLen || strings.HasPrefix(identity, hashedKeyPrefix) {
		sum := sha256.Sum256([]byte(identity))
		return []byte(hashedKeyPrefix + hex.EncodeToString(sum[:])), true
	}
	return []byte(identity), false
}

// identityOf is the row identity of key k, whose stored value is s.
func identityOf(k []byte, s stored) string {
	if s.Identity != nil && strings.HasPrefix(string(k), hashedKeyPrefix) {
		return *s.Identity
	}
	return string(k)
}

// getRow reads the row of an identity; ok is false when there is none.
func (s *Store) getRow(rb *bolt.Bucket, day fmt.Stringer, identity string) (Row, bool, error) {
	k, _ := rowKey(identity)
	v := rb.Get(k)
	if v == nil {
		return Row{}, false, nil
	}
	r, err := s.decodeRow(day, identity, v)
	return r.Row, true, err
}

// putRow writes the row of an identity.
func putRow(rb *bolt.Bucket, identity string, r Row) error {
	k, v, err := encodeRow(identity, r)
	if err != nil {
		return err
	}
	return rb.Put(k, v)
}

// encodeRow is the key and the value of a row.
func encodeRow(identity string, r Row) (key, value []byte, err error) {
	k, hashed := rowKey(identity)
	st := stored{Row: r}
	if hashed {
		st.Identity = &identity
	}
	v, err := marshalStored(st)
	return k, v, err
}

// planned reads what Plan needs of the row at key (of identity): its pull and whether it
// was delivered.
func (s *Store) planned(rb *bolt.Bucket, day fmt.Stringer, identity string, key []byte) (pull int, delivered, found bool, err error) {
	v := rb.Get(key)
	if v == nil {
		return 0, false, false, nil
	}
	r, err := s.decodeRow(day, identity, v)
	if err != nil {
		return 0, false, true, err
	}
	return r.Pull, r.Delivered, true, nil
}

// quoteID quotes a row identity for a message, cut short when it is long.
func quoteID(id string) string {
	const keep = 64
	if len(id) <= keep {
		return fmt.Sprintf("%q", id)
	}
	return fmt.Sprintf("%q... (%d bytes)", id[:keep], len(id))
}
