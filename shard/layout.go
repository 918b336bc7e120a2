package shard

import (
	"fmt"
	"math"
)

// MaxChunks is the most inner chunks a shard may have: its index is then
// 256 MiB (plus the CRC).
const MaxChunks = 1 << 24

// Layout describes how a shard's value is laid out: what the array's
// sharding_indexed codec configuration says about the index and the inner
// chunks. A Layout is a plain value, safe to share between goroutines.
type Layout struct {
	// Chunks is the number of inner chunks per shard along each dimension
	// (the shard shape divided by the inner chunk_shape). An empty Chunks
	// is a 0-d array: one inner chunk.
	Chunks []int
	// IndexAtStart is index_location "start"; false is "end", the default.
	IndexAtStart bool
	// IndexCRC is index_codecs [bytes (little endian), crc32c]: the index
	// is followed by its CRC-32C. False is index_codecs [bytes] alone.
	IndexCRC bool
	// ChunkBytes is the fixed encoded size of an inner chunk when the inner
	// codecs give one (prod(chunk_shape) * itemsize, +4 with an inner
	// crc32c), else 0. When set, Put refuses data of any other length.
	ChunkBytes int64
}

// Validate reports whether l is usable: every Chunks entry is at least 1,
// their product is at most MaxChunks, and ChunkBytes is not negative. The
// error wraps ErrInvalidLayout.
func (l Layout) Validate() error {
	n := 1
	for d, c := range l.Chunks {
		if c < 1 {
			return fmt.Errorf("%w: %d inner chunks along dimension %d", ErrInvalidLayout, c, d)
		}
		if n > MaxChunks/c {
			return fmt.Errorf("%w: %v inner chunks exceed the limit of %d", ErrInvalidLayout, l.Chunks, MaxChunks)
		}
		n *= c
	}
	if l.ChunkBytes < 0 {
		return fmt.Errorf("%w: negative ChunkBytes %d", ErrInvalidLayout, l.ChunkBytes)
	}
	return nil
}

// NumChunks returns the number of inner chunks per shard, the product of
// Chunks. It is meaningful only for a layout that passes Validate.
func (l Layout) NumChunks() int {
	n := 1
	for _, c := range l.Chunks {
		n *= c
	}
	return n
}

// IndexBytes returns the encoded size of the index: 16 bytes per inner
// chunk, plus 4 with IndexCRC.
func (l Layout) IndexBytes() int64 {
	n := 16 * int64(l.NumChunks())
	if l.IndexCRC {
		n += 4
	}
	return n
}

// Linear returns the C-order (row-major) position of the inner chunk at
// coords, which is also its position in the index. Coordinates of the
// wrong rank or outside [0, Chunks[d]) are ErrInvalidCoords.
func (l Layout) Linear(coords []int) (int, error) {
	if len(coords) != len(l.Chunks) {
		return 0, fmt.Errorf("%w: %v has rank %d, the shard has rank %d", ErrInvalidCoords, coords, len(coords), len(l.Chunks))
	}
	i := 0
	for d, c := range coords {
		if c < 0 || c >= l.Chunks[d] {
			return 0, fmt.Errorf("%w: %v outside the shard's %v inner chunks", ErrInvalidCoords, coords, l.Chunks)
		}
		i = i*l.Chunks[d] + c
	}
	return i, nil
}

// coords is the inverse of Linear, for messages.
func (l Layout) coords(i int) []int {
	c := make([]int, len(l.Chunks))
	for d := len(l.Chunks) - 1; d >= 0; d-- {
		c[d] = i % l.Chunks[d]
		i /= l.Chunks[d]
	}
	return c
}

// region returns where a shard of size bytes keeps its index and its data:
// the index at idx, the data in [start, end).
func (l Layout) region(size int64) (idx, start, end int64) {
	if l.IndexAtStart {
		return 0, l.IndexBytes(), size
	}
	return size - l.IndexBytes(), 0, size - l.IndexBytes()
}

// check validates l, wrapping the error with key.
func (l Layout) check(key string) error {
	if err := l.Validate(); err != nil {
		return fmt.Errorf("shard %q: %w", key, err)
	}
	return nil
}

// empty is the offset and nbytes of an empty inner chunk.
const empty = math.MaxUint64
