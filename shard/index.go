package shard

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is one inner chunk's index entry: where its encoded bytes lie in the
// shard's value, counted from the start of the value.
type Entry struct {
	Offset, NBytes uint64
}

// EmptyEntry marks an inner chunk that is not stored (it reads as the
// array's fill value).
var EmptyEntry = Entry{Offset: empty, NBytes: empty}

// Empty reports whether e is EmptyEntry.
func (e Entry) Empty() bool { return e == EmptyEntry }

// end returns the offset just past e's bytes.
func (e Entry) end() int64 { return int64(e.Offset + e.NBytes) }

// EncodeIndex returns the encoded index of entries, which are in C order
// (position Layout.Linear(coords)): for each, Offset then NBytes as
// little-endian uint64s, followed with IndexCRC by the CRC-32C of those
// 16*n bytes as a little-endian uint32. It panics if len(entries) is not
// l.NumChunks().
func EncodeIndex(l Layout, entries []Entry) []byte {
	if len(entries) != l.NumChunks() {
		panic(fmt.Sprintf("shard: EncodeIndex: %d entries for %d inner chunks", len(entries), l.NumChunks()))
	}
	b := make([]byte, 16*len(entries), l.IndexBytes())
	for i, e := range entries {
		binary.LittleEndian.PutUint64(b[16*i:], e.Offset)
		binary.LittleEndian.PutUint64(b[16*i+8:], e.NBytes)
	}
	if l.IndexCRC {
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	}
	return b
}

// DecodeIndex decodes the index b of a shard whose value is size bytes long
// and checks it against that size, so every entry it returns is either
// empty or lies wholly inside the shard's data region: after the index when
// the index is at the start, before it when it is at the end. It returns an
// error wrapping ErrCorruptIndex when size is smaller than the index, b is
// not l.IndexBytes() long, the CRC-32C does not match (with IndexCRC; a bad
// CRC is never ignored), or an entry is neither EmptyEntry nor inside the
// data region (a half-empty entry, an offset+nbytes overflow, bytes
// overlapping the index or past the end).
//
// Entries may overlap each other: readers trust the index, and the writer in
// this package never overwrites shared bytes in place.
func DecodeIndex(l Layout, b []byte, size int64) ([]Entry, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	n, ib := l.NumChunks(), l.IndexBytes()
	if int64(len(b)) != ib {
		return nil, fmt.Errorf("%w: index is %d bytes, want %d", ErrCorruptIndex, len(b), ib)
	}
	if size < ib {
		return nil, fmt.Errorf("%w: shard of %d bytes is shorter than its %d-byte index", ErrCorruptIndex, size, ib)
	}
	if l.IndexCRC {
		want := binary.LittleEndian.Uint32(b[16*n:])
		if got := crc32.Checksum(b[:16*n], castagnoli); got != want {
			return nil, fmt.Errorf("%w: CRC-32C %#08x, stored %#08x", ErrCorruptIndex, got, want)
		}
	}
	_, start, end := l.region(size)
	entries := make([]Entry, n)
	for i := range entries {
		e := Entry{binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])}
		entries[i] = e
		if e.Empty() {
			continue
		}
		if e.Offset > math.MaxInt64 || e.NBytes > math.MaxInt64-e.Offset ||
			int64(e.Offset) < start || e.end() > end {
			return nil, fmt.Errorf("%w: inner chunk %v: offset %d, nbytes %d outside the data region [%d, %d) of a %d-byte shard",
				ErrCorruptIndex, l.coords(i), e.Offset, e.NBytes, start, end, size)
		}
	}
	return entries, nil
}

// readIndex reads and decodes the index of a shard of size bytes from r.
func readIndex(r io.ReaderAt, l Layout, size int64) ([]Entry, error) {
	ib := l.IndexBytes()
	if size < ib {
		return nil, fmt.Errorf("%w: shard of %d bytes is shorter than its %d-byte index", ErrCorruptIndex, size, ib)
	}
	idx, _, _ := l.region(size)
	b := make([]byte, ib)
	if err := readFull(r, b, idx); err != nil {
		return nil, err
	}
	return DecodeIndex(l, b, size)
}

// readFull reads len(p) bytes at off; a short read is an error.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes at %d: %w", len(p), off, err)
}

// span is a byte range [off, end).
type span struct{ off, end int64 }

// liveSpans returns the byte ranges of the non-empty entries, sorted and
// merged, and whether any two entries share bytes.
func liveSpans(entries []Entry) (merged []span, shared bool) {
	var s []span
	for _, e := range entries {
		if !e.Empty() && e.NBytes > 0 {
			s = append(s, span{int64(e.Offset), e.end()})
		}
	}
	slices.SortFunc(s, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.off, b.off), cmp.Compare(a.end, b.end))
	})
	for _, x := range s {
		if k := len(merged) - 1; k >= 0 && x.off < merged[k].end {
			shared = true
			merged[k].end = max(merged[k].end, x.end)
			continue
		}
		merged = append(merged, x)
	}
	return merged, shared
}

// liveBytes returns how many bytes of the shard the entries use, counting
// shared bytes once.
func liveBytes(entries []Entry) int64 {
	merged, _ := liveSpans(entries)
	var n int64
	for _, s := range merged {
		n += s.end - s.off
	}
	return n
}
