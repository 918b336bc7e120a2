package recovery

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/rangetx/rangetx/journal"
)

// A dead journal's bbolt file may be damaged in ways its records' checksums
// cannot catch: cut short, or with a page of its tree overwritten. bbolt
// maps the file into memory and trusts the page numbers it finds there, so
// it would kill the process with SIGBUS on a page past the end of the file,
// or panic on a page that is not what its parent says — and every Open of
// the store and every `rangetx recover` would crash instead of reporting
// the journal. openPending refuses such files as journal.ErrCorrupt, like
// any other corrupt journal: checkJournalFile looks at what bbolt reads
// while it opens the file, and a guard turns panics and faults during the
// reads that follow into errors.

// openPending opens the dead journal id in dir and reads key's pending
// entries (every key's if key is ""). On success the caller must close or
// release the journal; on error it is closed.
func openPending(ctx context.Context, dir, id, key string) (j *journal.Journal, recs []journal.Record, err error) {
	if err := checkJournalFile(dir, id); err != nil {
		return nil, nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if j != nil {
				j.Close()
			}
			j, recs = nil, nil
			err = fmt.Errorf("journal %s: %w: damaged bbolt file: %v", id, journal.ErrCorrupt, r)
		}
	}()
	j, err = journal.OpenDead(ctx, dir, id, nil)
	if err != nil {
		return nil, nil, err
	}
	recs, err = j.Pending(ctx, key)
	if err != nil {
		j.Close()
		return nil, nil, err
	}
	return j, recs, nil
}

// checkJournalFile refuses a journal file whose bbolt metadata names pages
// the file does not have (it was cut short) or a freelist page that is not
// one: bbolt reads both while it opens the file, before any guard could
// release what it holds.
//
// A missing file passes (journal.OpenDead reports it gone), and so does an
// empty one: that is a journal whose creation was interrupted before bbolt
// wrote anything, so nothing was ever committed to it. A file with no
// valid meta page passes too; bbolt refuses it itself (journal.ErrCorrupt).
//
// The meta pages are read before the file's size: bbolt grows a file
// before it writes a meta page that needs the room, and never shrinks it,
// so a recoverer committing to the journal meanwhile cannot make a sound
// file look short.
func checkJournalFile(dir, id string) error {
	f, err := os.Open(filepath.Join(dir, id+".db")) // journal.List's naming
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal %s: %w", id, err)
	}
	defer f.Close()
	m, ok := boltMetaInUse(f)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journal %s: %w", id, err)
	}
	size := uint64(fi.Size())
	if m.pgid > size/uint64(m.pageSize) {
		return fmt.Errorf("journal %s: %w: the file is %d bytes but its bbolt transaction %d uses %d pages of %d bytes (truncated)",
			id, journal.ErrCorrupt, size, m.txid, m.pgid, m.pageSize)
	}
	if m.freelist != boltNoFreelist {
		var h [boltPageHeader]byte
		_, err := f.ReadAt(h[:], int64(m.freelist)*int64(m.pageSize))
		le := binary.NativeEndian
		if m.freelist >= m.pgid || err != nil || le.Uint64(h[0:]) != m.freelist || le.Uint16(h[8:]) != boltFreelistPage {
			return fmt.Errorf("journal %s: %w: bbolt freelist page %d is damaged", id, journal.ErrCorrupt, m.freelist)
		}
	}
	return nil
}

// boltMeta is what checkJournalFile needs of a bbolt meta page.
type boltMeta struct {
	pageSize uint32
	freelist uint64 // page of the freelist
	pgid     uint64 // high-water mark: pages [0, pgid) may be in use
	txid     uint64
}

// bbolt's file format (version 2): pages start with a 16-byte header (page
// id, 8 bytes; flags, 2; count, 2; overflow, 4). A meta page's header is
// followed by magic, version, page size, flags (4 bytes each), the root
// bucket (16), the freelist page, the high-water mark and the transaction
// id (8 each), and an FNV-64a checksum of those 56 bytes. Integers are in
// the machine's byte order.
const (
	boltPageHeader   = 16
	boltMetaSum      = 56
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltFreelistPage = 0x10
	boltNoFreelist   = ^uint64(0)
)

// boltMetaInUse returns the meta page bbolt will use: of the two valid
// ones, the one with the higher transaction id.
func boltMetaInUse(f *os.File) (boltMeta, bool) {
	var metas []boltMeta
	if m0, ok := readBoltMeta(f, 0); ok {
		metas = append(metas, m0)
		if m1, ok := readBoltMeta(f, int64(m0.pageSize)); ok && m1.pageSize == m0.pageSize {
			metas = append(metas, m1)
		}
	} else {
		// Meta page 0 is damaged; bbolt looks for meta page 1 at every
		// page size it supports, and so do we.
		for i := range 15 {
			pos := int64(1024) << i
			if m1, ok := readBoltMeta(f, pos); ok && int64(m1.pageSize) == pos {
				metas = append(metas, m1)
				break
			}
		}
	}
	if len(metas) == 0 {
		return boltMeta{}, false
	}
	best := metas[0]
	for _, m := range metas[1:] {
		if m.txid > best.txid {
			best = m
		}
	}
	return best, true
}

// readBoltMeta reads and verifies the meta page at off.
func readBoltMeta(f *os.File, off int64) (boltMeta, bool) {
	var buf [boltPageHeader + boltMetaSum + 8]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return boltMeta{}, false
	}
	b := buf[boltPageHeader:]
	le := binary.NativeEndian
	h := fnv.New64a()
	h.Write(b[:boltMetaSum])
	m := boltMeta{pageSize: le.Uint32(b[8:]), freelist: le.Uint64(b[32:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	ok := le.Uint32(b[0:]) == boltMagic && le.Uint32(b[4:]) == boltVersion &&
		le.Uint64(b[boltMetaSum:]) == h.Sum64() && m.pageSize >= 512
	return m, ok
}
