package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// The on-disk layout of a bbolt file, as go.etcd.io/bbolt v1.4 writes it
// (internal/common: page.go, meta.go, bucket.go), in the machine's byte order. bbolt
// reads the file through a memory map and trusts it: a page id past the end of the file is
// a SIGBUS, a wrong page type an assertion panic, some of them in goroutines of bbolt's own
// that no recover reaches. So before bbolt maps a file, inspect reads it with plain reads
// and checks everything bbolt follows: both metas, the file size against the high-water
// mark, the freelist, and every page reachable from the root, with its type and bounds.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderSize = 16 // root pgid u64, sequence u64
	metaSize         = 64 // magic, version, pageSize, flags u32; root bucket; freelist, pgid, txid, checksum u64

	boltMagic   = 0xED0CDAED
	boltVersion = 2

	branchPage   = 0x01
	leafPage     = 0x02
	metaPage     = 0x04
	freelistPage = 0x10
	bucketLeaf   = 0x01 // a leaf element whose value is a bucket

	noFreelist = ^uint64(0)
	maxDepth   = 64 // deeper than any real tree: a deeper one loops
)

var order = binary.NativeEndian

// meta is one of the two meta pages.
type meta struct {
	pageSize uint32
	root     uint64 // the root bucket's root page
	freelist uint64
	pgid     uint64 // high-water mark: pages below it are in use or free
	txid     uint64
}

// metaState says whether a meta page is usable, as bbolt's Meta.Validate does.
type metaState int

const (
	metaValid    metaState = iota
	metaShort              // the file ends before it
	metaNoMagic            // not bbolt's
	metaVersion            // another format version
	metaChecksum           // damaged
)

// layout is what inspect learned of a sound file.
type layout struct {
	pageSize int64
	txid     uint64 // of the meta bbolt uses
	pages    uint64 // high-water mark
}

// parseMeta reads the meta of the page that starts at b[0].
func parseMeta(b []byte) (meta, metaState, uint32) {
	if len(b) < pageHeaderSize+metaSize {
		return meta{}, metaShort, 0
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	if order.Uint32(m[0:]) != boltMagic {
		return meta{}, metaNoMagic, 0
	}
	if v := order.Uint32(m[4:]); v != boltVersion {
		return meta{}, metaVersion, v
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != order.Uint64(m[56:]) {
		return meta{}, metaChecksum, 0
	}
	return meta{
		pageSize: order.Uint32(m[8:]),
		root:     order.Uint64(m[16:]),
		freelist: order.Uint64(m[32:]),
		pgid:     order.Uint64(m[40:]),
		txid:     order.Uint64(m[48:]),
	}, metaValid, 0
}

// fileReader is what inspect reads: the open state file or a copy of it.
type fileReader interface {
	io.ReaderAt
}

// readFull reads len(b) bytes at off; the file ending before is io.ErrUnexpectedEOF.
func readFull(r fileReader, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// metas finds the page size and reads both metas the way bbolt.Open does: the page size
// from meta 0, or, when meta 0 is damaged, from meta 1 looked for at every page size.
func metas(r fileReader, size int64, path string) (ps int64, m [2]meta, st [2]metaState, err error) {
	head := make([]byte, min(size, 4096))
	if err := readFull(r, head, 0); err != nil {
		return 0, m, st, readError(path, size, err)
	}
	var version uint32
	m[0], st[0], version = parseMeta(head)
	if st[0] == metaValid {
		ps = int64(m[0].pageSize)
	} else if ps, err = searchPageSize(r, size, path, st[0], version); err != nil {
		return 0, m, st, err
	}
	if ps < 1024 || ps > 1<<26 || ps&(ps-1) != 0 {
		return 0, m, st, errCorrupt(path, fmt.Sprintf("corrupted: page size %d", ps), nil)
	}
	// Both meta pages, with their page headers: bbolt asserts on them while it checks.
	for i := range 2 {
		b := make([]byte, pageHeaderSize+metaSize)
		if err := readFull(r, b, int64(i)*ps); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, m, st, errCorrupt(path, fmt.Sprintf("truncated: %d bytes, too short for its two meta pages of %d bytes", size, ps), err)
			}
			return 0, m, st, readError(path, size, err)
		}
		m[i], st[i], _ = parseMeta(b)
		if id, flags := order.Uint64(b[0:]), order.Uint16(b[8:]); id != uint64(i) || !knownType(flags) {
			return 0, m, st, errCorrupt(path, fmt.Sprintf("corrupted: meta page %d has a damaged header", i), nil)
		}
	}
	return ps, m, st, nil
}

// searchPageSize finds the page size when meta 0 is damaged (its state st0, the format
// version it named): meta 1 looked for at every page size bbolt allows, as bbolt.Open does.
func searchPageSize(r fileReader, size int64, path string, st0 metaState, version uint32) (int64, error) {
	sawMagic := st0 != metaNoMagic && st0 != metaShort
	for i := 0; i <= 14; i++ {
		pos := int64(1024) << i
		if pos >= size-1024 {
			break
		}
		buf := make([]byte, min(4096, size-pos))
		if err := readFull(r, buf, pos); err != nil {
			return 0, readError(path, size, err)
		}
		mm, s, v := parseMeta(buf)
		if s == metaValid {
			return int64(mm.pageSize), nil
		}
		if s == metaVersion {
			version = v
		}
		sawMagic = sawMagic || (s != metaNoMagic && s != metaShort)
	}
	switch {
	case version != 0:
		return 0, errCorrupt(path, fmt.Sprintf("written in bbolt file format %d, this connector reads format %d", version, boltVersion), nil)
	case sawMagic && size < 2*4096:
		return 0, errCorrupt(path, fmt.Sprintf("truncated: %d bytes, too short for its two meta pages", size), nil)
	case sawMagic:
		return 0, errCorrupt(path, "corrupted: both meta pages are damaged", nil)
	}
	return 0, errNotState(path, fmt.Sprintf("not a state file (%d bytes that are not a bbolt database)", size))
}

// current is the meta bbolt uses: the valid one with the higher transaction id.
func current(m [2]meta, st [2]metaState) (meta, bool) {
	a, b := 0, 1
	if m[1].txid > m[0].txid {
		a, b = 1, 0
	}
	if st[a] == metaValid {
		return m[a], true
	}
	if st[b] == metaValid {
		return m[b], true
	}
	return meta{}, false
}

// lastTxid is the highest transaction id in the valid metas of r (0 if none): a writer's
// commit changes it.
func lastTxid(r fileReader, size int64) uint64 {
	ps, m, st, err := metas(r, size, "")
	if err != nil || ps == 0 {
		return 0
	}
	var t uint64
	for i := range 2 {
		if st[i] == metaValid && m[i].txid > t {
			t = m[i].txid
		}
	}
	return t
}

// inspect checks, with plain reads, that bbolt can map and walk the file of size bytes
// without reading past its end, following a page of the wrong type, or looping. Its
// errors are *Error.
func inspect(r fileReader, size int64, path string) (layout, error) {
	if size < pageHeaderSize+metaSize {
		b := make([]byte, size)
		if err := readFull(r, b, 0); err != nil {
			return layout{}, readError(path, size, err)
		}
		if size >= pageHeaderSize+4 && order.Uint32(b[pageHeaderSize:]) == boltMagic {
			return layout{}, errCorrupt(path, fmt.Sprintf("truncated: %d bytes", size), nil)
		}
		return layout{}, errNotState(path, fmt.Sprintf("not a state file (%d bytes that are not a bbolt database)", size))
	}
	ps, m, st, err := metas(r, size, path)
	if err != nil {
		return layout{}, err
	}
	cur, ok := current(m, st)
	if !ok {
		return layout{}, errCorrupt(path, "corrupted: both meta pages are damaged", nil)
	}
	w := &walker{r: r, path: path, ps: ps, hwm: cur.pgid, used: map[uint64]bool{0: true, 1: true}, free: map[uint64]bool{}}
	if cur.pgid < 3 {
		return layout{}, w.corrupt("a high-water mark of %d pages", cur.pgid)
	}
	if cur.pgid > uint64(size)/uint64(ps) {
		return layout{}, errCorrupt(path, fmt.Sprintf("truncated: %d bytes, but its %d pages of %d bytes need %d", size, cur.pgid, ps, cur.pgid*uint64(ps)), nil)
	}
	if cur.root < 2 || cur.root >= cur.pgid {
		return layout{}, w.corrupt("its root page %d is outside its %d pages", cur.root, cur.pgid)
	}
	if cur.freelist != noFreelist {
		if err := w.freelist(cur.freelist); err != nil {
			return layout{}, err
		}
	}
	if err := w.page(cur.root, 0); err != nil {
		return layout{}, err
	}
	for id := uint64(2); id < cur.pgid; id++ {
		switch {
		case w.used[id] && w.free[id]:
			return layout{}, w.corrupt("page %d is both free and in use", id)
		case !w.used[id] && !w.free[id] && cur.freelist != noFreelist:
			return layout{}, w.corrupt("page %d is neither free nor in use", id)
		}
	}
	return layout{pageSize: ps, txid: cur.txid, pages: cur.pgid}, nil
}

// walker follows the pages of one file.
type walker struct {
	r    fileReader
	path string
	ps   int64
	hwm  uint64
	used map[uint64]bool
	free map[uint64]bool
}

func (w *walker) corrupt(format string, a ...any) *Error {
	return errCorrupt(w.path, "corrupted: "+fmt.Sprintf(format, a...), nil)
}

// read returns page id with its overflow pages, after checking its header.
func (w *walker) read(id uint64, want ...uint16) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, w.corrupt("a reference to page %d, outside its %d pages", id, w.hwm)
	}
	hdr := make([]byte, pageHeaderSize)
	if err := readFull(w.r, hdr, int64(id)*w.ps); err != nil {
		return nil, readError(w.path, -1, err)
	}
	self, flags, overflow := order.Uint64(hdr[0:]), order.Uint16(hdr[8:]), uint64(order.Uint32(hdr[12:]))
	if self != id {
		return nil, w.corrupt("page %d has the header of page %d", id, self)
	}
	typeOK := false
	for _, t := range want {
		typeOK = typeOK || flags == t
	}
	if !typeOK {
		return nil, w.corrupt("page %d has type %#x where a %s page belongs", id, flags, typeName(want[0]))
	}
	if id+overflow >= w.hwm {
		return nil, w.corrupt("page %d overflows past its %d pages", id, w.hwm)
	}
	for p := id; p <= id+overflow; p++ {
		if w.used[p] {
			return nil, w.corrupt("page %d is used twice", p)
		}
		w.used[p] = true
	}
	b := make([]byte, int64(1+overflow)*w.ps)
	if err := readFull(w.r, b, int64(id)*w.ps); err != nil {
		return nil, readError(w.path, -1, err)
	}
	return b, nil
}

func (w *walker) freelist(id uint64) error {
	b, err := w.read(id, freelistPage)
	if err != nil {
		return err
	}
	start, count := uint64(pageHeaderSize), uint64(order.Uint16(b[10:]))
	if count == 0xFFFF {
		count = order.Uint64(b[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(b))-start)/8 {
		return w.corrupt("the freelist (page %d) claims %d pages", id, count)
	}
	for i := range count {
		p := order.Uint64(b[start+8*i:])
		if p < 2 || p >= w.hwm || w.free[p] {
			return w.corrupt("the freelist (page %d) lists page %d", id, p)
		}
		w.free[p] = true
	}
	return nil
}

// page walks the subtree rooted at page id.
func (w *walker) page(id uint64, depth int) error {
	if depth > maxDepth {
		return w.corrupt("its pages nest deeper than %d", maxDepth)
	}
	b, err := w.read(id, leafPage, branchPage)
	if err != nil {
		return err
	}
	return w.elements(b, id, depth)
}

// elements checks the elements of page b (a page of the file, or a bucket inlined in a
// value of page id) and walks what they refer to.
func (w *walker) elements(b []byte, id uint64, depth int) error {
	flags, count := order.Uint16(b[8:]), uint64(order.Uint16(b[10:]))
	if pageHeaderSize+count*elementSize > uint64(len(b)) {
		return w.corrupt("page %d: %d elements do not fit in it", id, count)
	}
	for i := range count {
		off := pageHeaderSize + i*elementSize
		e := b[off : off+elementSize]
		switch flags {
		case branchPage:
			pos, ksize := uint64(order.Uint32(e[0:])), uint64(order.Uint32(e[4:]))
			if off+pos+ksize > uint64(len(b)) {
				return w.corrupt("page %d: element %d is outside the page", id, i)
			}
			if err := w.page(order.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case leafPage:
			fl, pos, ksize, vsize := order.Uint32(e[0:]), uint64(order.Uint32(e[4:])), uint64(order.Uint32(e[8:])), uint64(order.Uint32(e[12:]))
			end := off + pos + ksize + vsize
			if end > uint64(len(b)) {
				return w.corrupt("page %d: element %d is outside the page", id, i)
			}
			if fl&bucketLeaf == 0 {
				continue
			}
			v := b[off+pos+ksize : end]
			if len(v) < bucketHeaderSize {
				return w.corrupt("page %d: element %d is a bucket of %d bytes", id, i, len(v))
			}
			if root := order.Uint64(v); root != 0 {
				if err := w.page(root, depth+1); err != nil {
					return err
				}
				continue
			}
			// An inline bucket: a leaf page inside the value.
			in := v[bucketHeaderSize:]
			if len(in) < pageHeaderSize || order.Uint16(in[8:]) != leafPage {
				return w.corrupt("page %d: element %d is a damaged inline bucket", id, i)
			}
			if depth+1 > maxDepth {
				return w.corrupt("its pages nest deeper than %d", maxDepth)
			}
			if err := w.elements(in, id, depth+1); err != nil {
				return err
			}
		}
	}
	if flags == branchPage && count == 0 {
		return w.corrupt("page %d is an empty branch", id)
	}
	return nil
}

// readError: a read that failed, or that found the file shorter than it said.
func readError(path string, size int64, err error) *Error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		if size >= 0 {
			return errCorrupt(path, fmt.Sprintf("truncated: %d bytes", size), err)
		}
		return errCorrupt(path, "truncated while being read", err)
	}
	return errOS(path, "read it", err)
}

func knownType(flags uint16) bool {
	return flags == branchPage || flags == leafPage || flags == metaPage || flags == freelistPage
}

func typeName(flags uint16) string {
	switch flags {
	case branchPage:
		return "branch"
	case leafPage:
		return "leaf or branch"
	case freelistPage:
		return "freelist"
	}
	return "meta"
}
