package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

// realDB writes a small real state file with every kind of page: metas, a freelist, free
// pages, branch and leaf pages, inline buckets (small days) and overflow pages (a row
// kept under the hash of an 8 KB identity).
func realDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "real.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	require.NoError(t, s.SetSince(day))
	for n := 1; n <= 3; n++ {
		d := calendar.Day{Year: 2026, Month: 10, Day: n}
		rows := map[string]Row{"a": {Hash: "h", ID: "a1", Revision: 1}, "b": {Hash: "h", ID: "b1", Revision: 1}}
		p, err := s.Pull("account", d)
		require.NoError(t, err)
		require.NoError(t, p.Plan(rows))
		require.NoError(t, p.Ack(ackedAs(rows, "a", "b")))
		require.NoError(t, p.Finish(2, now))
	}
	rows := map[string]Row{strings.Repeat("x", 8000): {Hash: "long", ID: "long-id", Revision: 2}}
	for i := range 100 {
		rows[fmt.Sprintf(`["2026-11-03","1234567890","ecs","row-%03d"]`, i)] = Row{Hash: fmt.Sprintf("%032x", i), ID: fmt.Sprintf("id-%d", i), Revision: 1}
	}
	p, err := s.Pull("account", day)
	require.NoError(t, err)
	require.NoError(t, p.Plan(rows))
	require.NoError(t, p.Ack(ackedAs(rows, sortedKeys(rows)[:50]...)))
	require.NoError(t, p.Fail(errors.New("receiver down"), true, 101, now))
	require.NoError(t, s.Close())
	return path
}

// pagesOf reads the layout of a sound file: page size, high-water mark, pages in use, and
// the type of each page that starts there (not an overflow page).
func pagesOf(t *testing.T, path string) (ps int64, hwm uint64, used map[uint64]bool, starts map[uint64]uint16) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	ps, m, st, err := metas(f, fi.Size(), path)
	require.NoError(t, err)
	cur, ok := current(m, st)
	require.True(t, ok)
	w := &walker{r: f, path: path, ps: ps, hwm: cur.pgid, used: map[uint64]bool{0: true, 1: true}, free: map[uint64]bool{}}
	require.NoError(t, w.freelist(cur.freelist))
	require.NoError(t, w.page(cur.root, 0))
	starts = map[uint64]uint16{}
	for id := range cur.pgid {
		if w.used[id] {
			hdr := make([]byte, pageHeaderSize)
			_, err := f.ReadAt(hdr, int64(id)*ps)
			require.NoError(t, err)
			if flags := order.Uint16(hdr[8:]); order.Uint64(hdr) == id && knownType(flags) {
				starts[id] = flags
			}
		}
	}
	return ps, cur.pgid, w.used, starts
}

func TestRealDB_HasEveryKindOfPage(t *testing.T) {
	path := realDB(t)
	_, hwm, used, starts := pagesOf(t, path)
	kinds := map[uint16]int{}
	for _, flags := range starts {
		kinds[flags]++
	}
	assert.Equal(t, 2, kinds[metaPage], "meta pages")
	assert.Equal(t, 1, kinds[freelistPage], "a freelist")
	assert.Positive(t, kinds[branchPage], "branch pages")
	assert.Positive(t, kinds[leafPage], "leaf pages")
	assert.Less(t, len(starts), len(used), "overflow pages")
	assert.Less(t, len(used), int(hwm), "free pages")
	s, err := Open(path, true)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Check())
	rows, err := s.Rows(day)
	require.NoError(t, err)
	assert.Len(t, rows, 101)
	assert.Equal(t, "long-id", rows[strings.Repeat("x", 8000)].ID)
}

func TestOpen_TruncatedFileIsAnErrorAtEverySize(t *testing.T) {
	src := realDB(t)
	ps, hwm, _, _ := pagesOf(t, src)
	need := int64(hwm) * ps
	dir := t.TempDir()
	var cases []probeCase
	for _, size := range []int64{1, 15, 19, 20, 79, 80, 100, 1000, 4095, 4096, 4097, 8191, 8192, 3 * ps, need / 2, need - ps, need - 1} {
		cases = append(cases, probeCase{Name: fmt.Sprintf("truncated to %d of %d bytes", size, need), Src: src, Work: filepath.Join(dir, fmt.Sprintf("cut-%d", size), "state.db"), Truncate: size, Expect: true})
	}
	cases = append(cases, probeCase{Name: "cut at the high-water mark", Src: src, Work: filepath.Join(dir, "hwm", "state.db"), Truncate: need})
	assertProbes(t, cases)

	// The line says what happened and what to do.
	work := filepath.Join(dir, "line.db")
	require.NoError(t, probeCase{Src: src, Work: work, Truncate: need - 1}.build())
	_, err := Open(work, false)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, ErrCorrupt)
	assert.Equal(t, fmt.Sprintf("truncated: %d bytes, but its %d pages of %d bytes need %d", need-1, hwm, ps, need), se.Problem)
	assert.Contains(t, err.Error(), "mv "+work+" "+work+".corrupt")
	assert.Contains(t, err.Error(), "every row of the days it still pulls is sent again, with new ids and higher (time-based) revisions")
	assert.NotContains(t, err.Error(), "same event ids", "a new state cannot know the ids it gave before")
	assert.NotContains(t, err.Error(), "\n", "one line")
}

func TestOpen_NotABboltFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	files := map[string][]byte{
		"random bytes":   random,
		"a text file":    []byte("state_path = /var/lib/alicloud-billing-source/state.db\n"),
		"a json file":    []byte(`{"days":{"2026-11-03":{"complete":true}}}`),
		"zeros":          make([]byte, 32<<10),
		"one byte":       {0},
		"random, 4 KiB":  random[:4096],
		"random, 9 KiB":  random[:9<<10],
		"a page of 0xff": []byte(strings.Repeat("\xff", 4096)),
	}
	var cases []probeCase
	for name, b := range files {
		src := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".src")
		require.NoError(t, os.WriteFile(src, b, 0o600))
		cases = append(cases, probeCase{Name: name, Src: src, Work: filepath.Join(src+".d", "state.db"), Truncate: -1, Expect: true})
	}
	assertProbes(t, cases)

	path := filepath.Join(dir, "text.db")
	require.NoError(t, os.WriteFile(path, files["a text file"], 0o600))
	_, err := Open(path, false)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "not a state file (55 bytes that are not a bbolt database)", se.Problem)
	assert.True(t, strings.HasPrefix(err.Error(), "state_path "+path+": not a state file"), err.Error())
	b, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.Equal(t, files["a text file"], b, "the file is left as it was")
}

func TestOpen_ZeroedPagesAreErrorsNeverCrashes(t *testing.T) {
	src := realDB(t)
	ps, hwm, used, _ := pagesOf(t, src)
	dir := t.TempDir()
	var cases []probeCase
	for id := range hwm {
		cases = append(cases, probeCase{
			Name: fmt.Sprintf("page %d zeroed (in use: %t)", id, used[id]),
			Src:  src, Work: filepath.Join(dir, fmt.Sprintf("zero-%d", id), "state.db"), Truncate: -1,
			Patches: []patch{{Off: int64(id) * ps, Zero: ps}},
			Expect:  used[id],
		})
	}
	cases = append(cases, probeCase{
		Name: "both metas zeroed", Src: src, Work: filepath.Join(dir, "zero-metas", "state.db"), Truncate: -1,
		Patches: []patch{{Off: 0, Zero: 2 * ps}}, Expect: true,
	})
	assertProbes(t, cases)
}

func TestOpen_FlippedBytesInEveryPageNeverCrash(t *testing.T) {
	src := realDB(t)
	ps, hwm, used, starts := pagesOf(t, src)
	dir := t.TempDir()
	var cases []probeCase
	type flip struct {
		off int64
		xor byte
	}
	var (
		// A meta page: its header, then each field of the meta and its checksum.
		inMeta = []flip{{0, 0xff}, {8, 0xff}, {12, 0xff}, {16, 0xff}, {20, 0xff}, {24, 0xff}, {32, 0xff}, {48, 0xff}, {56, 0xff}, {64, 0xff}, {72, 0xff}}
		// A page that starts at its id: the header (id, type, count, overflow), the first
		// element (a branch's pos, ksize, child; a leaf's flags, pos, ksize, vsize), and
		// the middle of the page.
		inPage = []flip{{0, 0xff}, {8, 0xff}, {10, 0x01}, {10, 0xff}, {12, 0x01}, {16, 0x01}, {20, 0xff}, {24, 0x01}, {28, 0xff}, {ps / 2, 0xff}}
		// An overflow or free page.
		inOther = []flip{{0, 0xff}, {8, 0xff}, {ps / 2, 0xff}}
	)
	for id := range hwm {
		flips, isStart := inOther, false
		if _, isStart = starts[id]; isStart {
			flips = inPage
		}
		if id < 2 {
			flips = inMeta
		}
		for _, f := range flips {
			cases = append(cases, probeCase{
				Name: fmt.Sprintf("page %d (in use: %t) byte %d ^ %#x", id, used[id], f.off, f.xor),
				Src:  src, Work: filepath.Join(dir, fmt.Sprint(len(cases)), "state.db"), Truncate: -1,
				Patches: []patch{{Off: int64(id)*ps + f.off, Xor: f.xor}},
				// A damaged id or type of a page in use is always found, and so is a
				// damaged overflow count of a page bbolt reads as a page.
				Expect: isStart && (f.off < 8 || f.off == 8 || (f.off == 12 && id >= 2)) || id < 2 && f.off < 12,
			})
		}
	}
	assertProbes(t, cases)
}

func TestOpen_DirectoryAtThePathIsAnError(t *testing.T) {
	path := t.TempDir()
	for _, readOnly := range []bool{false, true} {
		_, err := Open(path, readOnly)
		var se *Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "state_path "+path+": is a directory; state_path names the state file itself, e.g. "+filepath.Join(path, "state.db"), err.Error())
	}
}

func TestOpen_NewerSchemaIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	require.NoError(t, s.d.write(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, []byte("3")) }))
	require.NoError(t, s.Close())
	for _, readOnly := range []bool{false, true} {
		_, err = Open(path, readOnly)
		var se *Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, `schema "3", this connector reads schema "2" (and converts "1")`, se.Problem)
	}
	// The file is untouched and the lock released: the error can be acted on.
	_, err = Open(path, false)
	assert.False(t, errors.Is(err, ErrLocked), "%v", err)
}

func TestError_IsOneLineNamingStatePath(t *testing.T) {
	e := &Error{Path: "/x/state.db", Problem: "bad\nthing", Hint: "do this\r\nthen that", Err: ErrCorrupt}
	assert.Equal(t, "state_path /x/state.db: bad thing; do this then that", e.Error())
	assert.ErrorIs(t, fmt.Errorf("wrapped: %w", e), ErrCorrupt)
	assert.Equal(t, "state_path /x: no hint", (&Error{Path: "/x", Problem: "no hint"}).Error())
	assert.Equal(t, "'/a b/state.db'", shellQuote("/a b/state.db"))
	assert.Equal(t, "/a/state.db", shellQuote("/a/state.db"))
}
