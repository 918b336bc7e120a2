package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Large after-images do not go into bbolt: bbolt prepares every page of a
// value in memory and writes it twice as slowly as a plain file takes it.
// A group whose after-images exceed Options.InlineBytes writes them first
// into an append-only segment file beside the .db file, syncs that, and
// only then commits small reference records that say where the bytes lie
// and what their CRC32C is (value separation, as in WiscKey). The bbolt
// commit stays the commit point: a reference record can only become
// durable after the bytes it points at are.
//
// A journal has two segment files, <id>.seg0 and <id>.seg1, created with
// it. Writes append to one until it passes Options.SegmentBytes and the
// other holds no live references any more; then they start over at the
// beginning of the other. Overwriting a segment in place (rather than
// growing a new file) keeps fdatasync from having to journal a new size.
// Bytes are overwritten only after the bbolt commit that deleted every
// record pointing at them is durable.
//
// Reference record encoding (version 2), little endian:
//
//	"RTXJ" | 2 | txid [16] | lsn u64 | baseSize, minSize, size i64 |
//	keyLen u32 | key | count u32 | count × (off i64 | len u64) |
//	segment u32 | segment offset u64 | data crc32c u32 | crc32c u32
const (
	refVersion  = 2
	refTail     = 16      // segment, offset, data crc
	segments    = 2       // segment files per journal
	maxRefBytes = 1 << 40 // sanity bound on decoded lengths
	segSuffix   = ".seg"
)

// segRef says where a reference record's after-images lie: the Data of its
// ranges, concatenated in order, n bytes at off in segment seg.
type segRef struct {
	seg  uint32
	off  int64
	n    int64
	crc  uint32
	lens []int64 // per range
}

func segPath(dir, id string, n uint32) string {
	return filepath.Join(dir, id+segSuffix+strconv.Itoa(int(n)))
}

// appendRef encodes r as a reference record to ref's bytes. r is checked.
func appendRef(b []byte, r *Record, ref *segRef) []byte {
	start := len(b)
	le := binary.LittleEndian
	b = r.appendHead(b, refVersion)
	for _, rg := range r.Ranges {
		b = le.AppendUint64(b, uint64(rg.Off))
		b = le.AppendUint64(b, uint64(len(rg.Data)))
	}
	b = le.AppendUint32(b, ref.seg)
	b = le.AppendUint64(b, uint64(ref.off))
	b = le.AppendUint32(b, ref.crc)
	return le.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// segWriter appends after-images to a live journal's segment files. Its
// fields are guarded by Journal.wmu.
type segWriter struct {
	files [segments]*os.File
	cur   uint32            // segment being appended to
	head  int64             // next offset in it
	live  [segments]int     // stored reference records pointing into each
	limit int64             // Options.SegmentBytes
	iov   [][]byte          // scratch for pwritev
	refs  map[uint64]uint32 // segment of each live reference record, by LSN
}

// createSegments creates a new journal's empty segment files. The caller
// syncs the directory.
func createSegments(dir, id string, limit int64) (*segWriter, error) {
	w := &segWriter{limit: limit, refs: make(map[uint64]uint32)}
	for n := range uint32(segments) {
		f, err := os.OpenFile(segPath(dir, id, n), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			w.close()
			return nil, err
		}
		w.files[n] = f
	}
	return w, nil
}

func (w *segWriter) close() error {
	var err error
	for i, f := range w.files {
		if f != nil {
			err = errors.Join(err, f.Close())
			w.files[i] = nil
		}
	}
	return err
}

// place chooses where n bytes go: on at the head of the current segment,
// or at the start of the other one once the current one is past the
// limit, the other holds nothing live and no reader is open (whose
// snapshot may predate the deletions that freed it).
func (w *segWriter) place(n int64, reading bool) (uint32, int64) {
	other := (w.cur + 1) % segments
	if w.head > 0 && w.head+n > w.limit && w.live[other] == 0 && !reading {
		w.cur, w.head = other, 0
	}
	return w.cur, w.head
}

// write stores the after-images of recs contiguously at the head of the
// segment chosen by place, with as few pwritev calls as the kernel allows,
// syncs the segment and returns one reference per record. It does not
// advance the head; commit does, once the references are stored.
func (w *segWriter) write(recs []*Record, reading bool) ([]segRef, error) {
	var total int64
	for _, r := range recs {
		total += r.Bytes()
	}
	seg, off := w.place(total, reading)
	refs := make([]segRef, len(recs))
	w.iov = w.iov[:0]
	pos := off
	for i, r := range recs {
		ref := &refs[i]
		ref.seg, ref.off, ref.n = seg, pos, r.Bytes()
		for _, rg := range r.Ranges {
			ref.crc = crc32.Update(ref.crc, castagnoli, rg.Data)
			if len(rg.Data) > 0 {
				w.iov = append(w.iov, rg.Data)
			}
		}
		pos += ref.n
	}
	f := w.files[seg]
	if err := pwritev(f, w.iov, off); err != nil {
		clear(w.iov)
		return nil, fmt.Errorf("segment %d: write: %w", seg, err)
	}
	clear(w.iov) // drop references to the callers' buffers
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return nil, &syncError{fmt.Errorf("segment %d: sync: %w", seg, err)}
	}
	return refs, nil
}

// commit records that refs are stored (their records have the given
// LSNs) and that the records with LSNs in dropped are deleted, both
// durably.
func (w *segWriter) commit(refs []segRef, lsns []uint64, gone []dropped) {
	for i, ref := range refs {
		w.live[ref.seg]++
		w.refs[lsns[i]] = ref.seg
		w.head = max(w.head, ref.off+ref.n)
	}
	for _, d := range gone {
		if seg, ok := w.refs[d.lsn]; ok {
			w.live[seg]--
			delete(w.refs, d.lsn)
		}
	}
}

// syncError marks a failed fdatasync: the kernel may have dropped the
// pages, so the journal takes no more writes.
type syncError struct{ err error }

func (e *syncError) Error() string { return e.err.Error() }
func (e *syncError) Unwrap() error { return e.err }

// iovMax bounds the buffers of one pwritev call (IOV_MAX on Linux).
const iovMax = 1024

// pwritev writes bufs one after another at off, retrying short writes.
func pwritev(f *os.File, bufs [][]byte, off int64) error {
	for len(bufs) > 0 {
		batch := bufs[:min(len(bufs), iovMax)]
		n, err := unix.Pwritev(int(f.Fd()), batch, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		off += int64(n)
		for n > 0 && len(bufs) > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs = bufs[1:]
			} else {
				bufs[0] = bufs[0][n:]
				n = 0
			}
		}
	}
	return nil
}

// loadData reads a reference record's after-images from its segment file
// into one new buffer, verifies their CRC32C and points r's ranges at them.
// A missing or short segment, or a bad CRC, is ErrCorrupt.
func (j *Journal) loadData(r *Record, ref *segRef) error {
	f, err := j.segment(ref.seg)
	if err != nil {
		return fmt.Errorf("lsn %d: %w", r.LSN, err)
	}
	buf := make([]byte, ref.n)
	if _, err := f.ReadAt(buf, ref.off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: lsn %d: segment %d ends before [%d, +%d)", ErrCorrupt, r.LSN, ref.seg, ref.off, ref.n)
		}
		return fmt.Errorf("lsn %d: segment %d: %w", r.LSN, ref.seg, err)
	}
	if sum := crc32.Checksum(buf, castagnoli); sum != ref.crc {
		return fmt.Errorf("%w: lsn %d: after-images in segment %d checksum %08x, want %08x", ErrCorrupt, r.LSN, ref.seg, sum, ref.crc)
	}
	for i := range r.Ranges {
		n := ref.lens[i]
		r.Ranges[i].Data = buf[:n:n]
		buf = buf[n:]
	}
	return nil
}

// holdSegments keeps a live journal's writer from reusing segment space
// until the returned function is called, so a reader that saw a reference
// in bbolt finds its bytes still there; writes go on meanwhile, appending.
// Call it before starting the bbolt read transaction. A dead journal's
// segments are never written.
func (j *Journal) holdSegments() (release func()) {
	j.readers.Add(1)
	return func() { j.readers.Add(-1) }
}

// segment returns segment n open for reading: the live journal's own file,
// or for a dead journal one opened on first use and kept until Close.
func (j *Journal) segment(n uint32) (*os.File, error) {
	j.segMu.Lock()
	defer j.segMu.Unlock()
	if j.segs != nil {
		return j.segs.files[n], nil
	}
	if f := j.readSegs[n]; f != nil {
		return f, nil
	}
	f, err := os.Open(segPath(j.dir, j.id, n))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: segment %d is missing", ErrCorrupt, n)
	}
	if err != nil {
		return nil, err
	}
	j.readSegs[n] = f
	return f, nil
}

// closeSegments closes every segment file the journal has open.
func (j *Journal) closeSegments() error {
	j.segMu.Lock()
	defer j.segMu.Unlock()
	var err error
	if j.segs != nil {
		err = j.segs.close()
	}
	for i, f := range j.readSegs {
		if f != nil {
			err = errors.Join(err, f.Close())
			j.readSegs[i] = nil
		}
	}
	return err
}

// removeSegments deletes the journal's segment files; missing ones are fine.
func removeSegments(dir, id string) error {
	var err error
	for n := range uint32(segments) {
		if e := os.Remove(segPath(dir, id, n)); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = errors.Join(err, e)
		}
	}
	return err
}
