package journal

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"
)

// A journal's bbolt file may be damaged in ways its records' checksums
// cannot catch: cut short, or with a page of its tree overwritten. bbolt
// maps the file into memory and trusts the page ids it finds there, so on
// such a file it would kill the process with SIGBUS (a page past the end of
// the file) or panic (a page that is not what its parent says). Every
// caller would crash instead of reporting the journal. The journal refuses
// such files as ErrCorrupt instead, in two steps:
//
//   - OpenDead checks the file with checkFile before bbolt reads it (under
//     bbolt's file lock, see openLocked). bbolt reads the meta pages and
//     the freelist while it opens the file, where a panic leaves a DB
//     nobody can close (guard, only the fallback there, can release its
//     file lock but not its mapping of the file) and some damage is fatal
//     outright: a freelist count that makes bbolt allocate terabytes.
//   - Every transaction runs under guard (see Journal.transact), which
//     turns a memory fault or a panic inside bbolt into an error wrapping
//     ErrCorrupt.

// checkFile refuses, as ErrCorrupt, a journal file that bbolt would read
// past its end, or whose damage bbolt would meet while it opens the file:
//
//   - no valid meta page (bbolt refuses the file itself, but not always as
//     a damaged file);
//   - a meta page whose root bucket or freelist page lies outside the pages
//     it says are in use;
//   - a file shorter than the meta page's high-water mark (it was cut
//     short: pages in use are missing);
//   - a freelist page whose header is not that of a freelist page, or whose
//     count of page ids runs past the pages it spans (bbolt would read, and
//     allocate memory for, that many);
//   - no freelist page at all: journals always write theirs, and without
//     one bbolt rebuilds it by walking the whole tree on a goroutine of its
//     own, out of any guard's reach.
//
// An empty file passes: it is what an interrupted Create leaves, before
// bbolt wrote anything, so nothing was ever committed to it. A file cut
// short only in its unused tail (bbolt grows files ahead of need) passes
// too: it loses nothing.
//
// The caller must hold bbolt's lock on f, so that no commit changes the
// file meanwhile.
func checkFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	pageSize, m, ok := metaInUse(f, size)
	if !ok {
		return fmt.Errorf("%w: no valid bbolt meta page in the file's %d bytes", ErrCorrupt, size)
	}
	switch {
	case m.freelist == boltNoFreelist:
		return fmt.Errorf("%w: bbolt transaction %d wrote no freelist", ErrCorrupt, m.txid)
	case m.root < 2 || m.root >= m.pgid || m.freelist < 2 || m.freelist >= m.pgid:
		return fmt.Errorf("%w: bbolt transaction %d names root page %d and freelist page %d of %d pages in use",
			ErrCorrupt, m.txid, m.root, m.freelist, m.pgid)
	}
	if pages := uint64(size) / uint64(pageSize); pages < m.pgid {
		return fmt.Errorf("%w: the file is %d bytes but bbolt transaction %d uses %d pages of %d bytes (truncated)",
			ErrCorrupt, size, m.txid, m.pgid, pageSize)
	}
	if !freelistFits(f, pageSize, m) {
		return fmt.Errorf("%w: bbolt freelist page %d is damaged", ErrCorrupt, m.freelist)
	}
	return nil
}

// freelistFits reports whether m's freelist page starts with the header of
// a freelist page and its page ids fit in the pages it spans, all in use.
func freelistFits(f *os.File, pageSize uint32, m boltMeta) bool {
	off := int64(m.freelist) * int64(pageSize)
	var h [boltPageHeader + 8]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return false
	}
	ne := binary.NativeEndian
	id, flags, count, overflow := ne.Uint64(h[0:]), ne.Uint16(h[8:]), uint64(ne.Uint16(h[10:])), uint64(ne.Uint32(h[12:]))
	if id != m.freelist || flags != boltFreelistPage || overflow >= m.pgid-m.freelist {
		return false
	}
	// The pages spanned are in the file (checkFile checked its size), so
	// this does not overflow.
	room := ((overflow+1)*uint64(pageSize) - boltPageHeader) / 8
	if count == 0xFFFF { // the real count is the first element
		first := ne.Uint64(h[boltPageHeader:])
		if first >= room {
			return false
		}
		count = first + 1
	}
	return count <= room
}

// boltMeta is what checkFile needs of a bbolt meta page.
type boltMeta struct {
	pageSize uint32
	root     uint64 // root page of the root bucket
	freelist uint64 // page of the freelist
	pgid     uint64 // high-water mark: pages [0, pgid) may be in use
	txid     uint64
}

// bbolt's file format (version 2): pages start with a 16-byte header (page
// id, 8 bytes; flags, 2; count, 2; overflow, 4). A meta page's header is
// followed by magic, version, page size, flags (4 bytes each), the root
// bucket (its root page and sequence, 8 bytes each), the freelist page, the
// high-water mark and the transaction id (8 each), and an FNV-64a checksum
// of those 56 bytes. A freelist page's header is followed by count page ids
// of 8 bytes; a count of 0xFFFF means the first id is the real count.
// Integers are in the machine's byte order.
const (
	boltPageHeader   = 16
	boltMetaSum      = 56
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltFreelistPage = 0x10
	boltNoFreelist   = ^uint64(0)
	boltMinPageSize  = 512 // smaller is no page size of bbolt's
)

// metaInUse finds the file's page size and the meta page bbolt will use,
// as bbolt does: the page size is that of meta page 0 if it is valid, else
// that of the first valid meta page 1 found at any page size bbolt
// supports; of the meta pages at 0 and at that page size, bbolt uses the
// valid one with the higher transaction id.
func metaInUse(f *os.File, size int64) (pageSize uint32, m boltMeta, ok bool) {
	if m0, ok := readMeta(f, 0); ok {
		pageSize = m0.pageSize
	} else {
		for i := range 15 {
			pos := int64(1024) << i
			if pos >= size-1024 {
				break
			}
			if m1, ok := readMeta(f, pos); ok {
				pageSize = m1.pageSize
				break
			}
		}
	}
	if pageSize == 0 {
		return 0, boltMeta{}, false
	}
	for _, off := range []int64{0, int64(pageSize)} {
		if mi, valid := readMeta(f, off); valid && (!ok || mi.txid > m.txid) {
			m, ok = mi, true
		}
	}
	return pageSize, m, ok
}

// readMeta reads and verifies the meta page at off.
func readMeta(f *os.File, off int64) (boltMeta, bool) {
	var buf [boltPageHeader + boltMetaSum + 8]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return boltMeta{}, false
	}
	b := buf[boltPageHeader:]
	ne := binary.NativeEndian
	h := fnv.New64a()
	h.Write(b[:boltMetaSum])
	m := boltMeta{
		pageSize: ne.Uint32(b[8:]),
		root:     ne.Uint64(b[16:]),
		freelist: ne.Uint64(b[32:]),
		pgid:     ne.Uint64(b[40:]),
		txid:     ne.Uint64(b[48:]),
	}
	ok := ne.Uint32(b[0:]) == boltMagic && ne.Uint32(b[4:]) == boltVersion &&
		ne.Uint64(b[boltMetaSum:]) == h.Sum64() && m.pageSize >= boltMinPageSize
	return m, ok
}

// faultError is a panic, or a memory fault made one, that guard caught
// while bbolt read the file: the file is damaged. It wraps ErrCorrupt.
type faultError struct {
	val   any    // what was recovered
	stack []byte // where, for the log
}

func (e *faultError) Error() string {
	return fmt.Sprintf("%v: damaged bbolt file: %v", ErrCorrupt, e.val)
}

func (e *faultError) Unwrap() error { return ErrCorrupt }

// guard runs fn with memory faults turned into panics (debug.SetPanicOnFault
// on the calling goroutine, restored afterwards) and returns a panic from
// fn as a *faultError instead of letting it unwind further. fn must do all
// its work on the calling goroutine: SetPanicOnFault and recover reach no
// other.
//
// Every panic counts as damage: bbolt panics on pages that are not what
// their parent says, and the code guarded does nothing else that panics.
// Whatever fn holds is released only by its own deferred calls, such as
// those of bolt.DB.View and Update.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &faultError{val: r, stack: debug.Stack()}
		}
	}()
	return fn()
}
