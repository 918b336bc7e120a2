package shard

import (
	"fmt"
)

// EncodeShard returns a whole shard holding chunks, the encoded bytes of
// every inner chunk in C order (position Layout.Linear(coords)), nil for an
// empty one: the chunks packed in C order after the index (IndexAtStart) or
// followed by it. It is what a writer without rangetx stores when it
// rewrites a shard from scratch; it touches no store. It panics if
// len(chunks) is not l.NumChunks(); with ChunkBytes set, a chunk of any
// other length is ErrChunkSize.
func EncodeShard(l Layout, chunks [][]byte) ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if len(chunks) != l.NumChunks() {
		panic(fmt.Sprintf("shard: EncodeShard: %d chunks for %d inner chunks", len(chunks), l.NumChunks()))
	}
	size := l.IndexBytes()
	for i, c := range chunks {
		if c == nil {
			continue
		}
		if l.ChunkBytes > 0 && int64(len(c)) != l.ChunkBytes {
			return nil, fmt.Errorf("inner chunk %v: %d bytes, want %d: %w", l.coords(i), len(c), l.ChunkBytes, ErrChunkSize)
		}
		size += int64(len(c))
	}
	_, off, _ := l.region(l.IndexBytes())
	out := make([]byte, size)
	entries := make([]Entry, len(chunks))
	for i, c := range chunks {
		if c == nil {
			entries[i] = EmptyEntry
			continue
		}
		entries[i] = Entry{Offset: uint64(off), NBytes: uint64(len(c))}
		off += int64(copy(out[off:], c))
	}
	idx, _, _ := l.region(size)
	copy(out[idx:], EncodeIndex(l, entries))
	return out, nil
}

// DecodeShard returns the encoded bytes of every inner chunk of the whole
// shard b, in C order, nil for an empty chunk (the slices alias b). The
// index is checked as DecodeIndex does, so b shorter than the index (empty
// included) or an index that points outside b is ErrCorruptIndex, and with
// IndexCRC so is any change to the index bytes: a torn or truncated shard
// is then ErrCorruptIndex. Without IndexCRC a damaged index that still
// points inside b goes unnoticed.
func DecodeShard(l Layout, b []byte) ([][]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	size, ib := int64(len(b)), l.IndexBytes()
	if size < ib {
		return nil, fmt.Errorf("%w: shard of %d bytes is shorter than its %d-byte index", ErrCorruptIndex, size, ib)
	}
	idx, _, _ := l.region(size)
	entries, err := DecodeIndex(l, b[idx:idx+ib], size)
	if err != nil {
		return nil, err
	}
	chunks := make([][]byte, len(entries))
	for i, e := range entries {
		if !e.Empty() {
			chunks[i] = b[e.Offset:e.end():e.end()]
		}
	}
	return chunks, nil
}
