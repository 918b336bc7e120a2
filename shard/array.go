package shard

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file is the array layer: a minimal Zarr v3 array whose chunks are
// shards, enough for independent readers (zarrita, zarr-python) to read
// what this package writes. Metadata is in meta.go, the inner codecs in
// codec.go and the engine operations in array_store.go.

// DType is a Zarr v3 data type the array writer supports: "uint8", "int32",
// "float32", "float64". Elements are stored little-endian.
type DType string

// The supported data types.
const (
	Uint8   DType = "uint8"
	Int32   DType = "int32"
	Float32 DType = "float32"
	Float64 DType = "float64"
)

// ParseDType returns the DType named s; any other name is ErrInvalidArray.
func ParseDType(s string) (DType, error) {
	switch d := DType(s); d {
	case Uint8, Int32, Float32, Float64:
		return d, nil
	}
	return "", fmt.Errorf("%w: data type %q (supported: uint8, int32, float32, float64)", ErrInvalidArray, s)
}

// Size returns the item size in bytes, or 0 for an unsupported type.
func (d DType) Size() int {
	switch d {
	case Uint8:
		return 1
	case Int32, Float32:
		return 4
	case Float64:
		return 8
	}
	return 0
}

func (d DType) isFloat() bool { return d == Float32 || d == Float64 }

// MaxChunkBytes is the largest raw inner chunk (prod(ChunkShape) * item
// size) an Array may have.
const MaxChunkBytes = 1 << 30

// Array describes a Zarr v3 array whose chunks are shards: the chunk grid's
// regular chunk_shape is ShardShape, and each shard is split by the
// sharding_indexed codec into inner chunks of ChunkShape. The index codecs
// are always [bytes (little endian), crc32c]. An Array is a plain value,
// safe to share between goroutines; the slices must not change while in
// use.
type Array struct {
	Shape        []int
	DType        DType
	ShardShape   []int   // chunk_grid regular chunk_shape
	ChunkShape   []int   // inner chunks (must divide ShardShape evenly)
	IndexAtStart bool    // sharding index_location "start" (default "end")
	ChunkCRC     bool    // inner codecs: bytes + crc32c (fixed size, updated in place)
	Gzip         bool    // inner codecs: bytes + gzip level 5 (variable size, appended); not with ChunkCRC
	Fill         float64 // fill_value
}

// Validate reports whether a is usable, wrapping ErrInvalidArray if not:
// DType is supported; Shape, ShardShape and ChunkShape have the same rank
// (0 is a 0-d array); Shape entries are at least 0, ShardShape and
// ChunkShape entries at least 1, and each ChunkShape entry divides the
// ShardShape entry; a shard has at most MaxChunks inner chunks; an inner
// chunk is at most MaxChunkBytes raw; the whole array's byte count fits an
// int64; ChunkCRC and Gzip are not both set; and Fill is a value of DType
// (an integer in range for the integer types, not NaN or infinite for
// them; a float32 Fill must not overflow float32).
func (a Array) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidArray, fmt.Sprintf(format, args...))
	}
	size := a.DType.Size()
	if size == 0 {
		return bad("data type %q (supported: uint8, int32, float32, float64)", string(a.DType))
	}
	r := len(a.Shape)
	if len(a.ShardShape) != r || len(a.ChunkShape) != r {
		return bad("shape %v, shard shape %v and chunk shape %v differ in rank", a.Shape, a.ShardShape, a.ChunkShape)
	}
	total := int64(size)
	chunk := int64(size)
	for d := range r {
		s, sh, c := a.Shape[d], a.ShardShape[d], a.ChunkShape[d]
		switch {
		case s < 0:
			return bad("shape %v has a negative dimension", a.Shape)
		case sh < 1:
			return bad("shard shape %v has a dimension below 1", a.ShardShape)
		case c < 1:
			return bad("chunk shape %v has a dimension below 1", a.ChunkShape)
		case sh%c != 0:
			return bad("chunk shape %v does not divide shard shape %v", a.ChunkShape, a.ShardShape)
		}
		if s > 0 && total > math.MaxInt64/int64(s) {
			return bad("shape %v holds more than 2^63 bytes", a.Shape)
		}
		total *= int64(s)
		if chunk > MaxChunkBytes/int64(c) {
			return bad("chunk shape %v is more than %d bytes", a.ChunkShape, MaxChunkBytes)
		}
		chunk *= int64(c)
	}
	if err := a.Layout().Validate(); err != nil {
		return bad("shard shape %v over chunk shape %v: %v", a.ShardShape, a.ChunkShape, err)
	}
	if a.ChunkCRC && a.Gzip {
		return bad("ChunkCRC and Gzip are exclusive")
	}
	f := a.Fill
	switch a.DType {
	case Uint8, Int32:
		lo, hi := 0.0, 255.0
		if a.DType == Int32 {
			lo, hi = math.MinInt32, math.MaxInt32
		}
		if math.IsNaN(f) || f != math.Trunc(f) || f < lo || f > hi {
			return bad("fill value %v is not a %s", f, a.DType)
		}
	case Float32:
		if !math.IsInf(f, 0) && math.IsInf(float64(float32(f)), 0) {
			return bad("fill value %v overflows float32", f)
		}
	}
	return nil
}

// perShard returns the inner chunks per shard along each dimension.
func (a Array) perShard() []int {
	n := make([]int, len(a.ShardShape))
	for d := range n {
		if a.ChunkShape[d] > 0 {
			n[d] = a.ShardShape[d] / a.ChunkShape[d]
		}
	}
	return n
}

// Layout returns the shard layout of the array: ShardShape/ChunkShape inner
// chunks, the index location, IndexCRC always true, and ChunkBytes fixed
// (ChunkRawBytes, +4 with ChunkCRC) unless Gzip makes sizes vary.
func (a Array) Layout() Layout {
	l := Layout{Chunks: a.perShard(), IndexAtStart: a.IndexAtStart, IndexCRC: true}
	if !a.Gzip {
		l.ChunkBytes = int64(a.ChunkRawBytes())
		if a.ChunkCRC {
			l.ChunkBytes += 4
		}
	}
	return l
}

// ChunkGrid returns the number of inner chunks per dimension across the
// whole array: ceil(Shape / ChunkShape). Inner chunk coordinates, as
// PutChunk and friends take them, range over this grid.
func (a Array) ChunkGrid() []int {
	g := make([]int, len(a.Shape))
	for d := range g {
		g[d] = ceilDiv(a.Shape[d], a.ChunkShape[d])
	}
	return g
}

// ShardGrid returns the number of shards per dimension: ceil(Shape /
// ShardShape).
func (a Array) ShardGrid() []int {
	g := make([]int, len(a.Shape))
	for d := range g {
		g[d] = ceilDiv(a.Shape[d], a.ShardShape[d])
	}
	return g
}

func ceilDiv(n, d int) int {
	if d <= 0 {
		return 0
	}
	return (n + d - 1) / d
}

// ChunkRawBytes returns the decoded size of an inner chunk:
// prod(ChunkShape) * item size. Edge chunks have this size too.
func (a Array) ChunkRawBytes() int {
	n := a.DType.Size()
	for _, c := range a.ChunkShape {
		n *= c
	}
	return n
}

// ShardOf returns the shard holding the inner chunk at chunk (coordinates
// in ChunkGrid) and the chunk's coordinates inside that shard. Coordinates
// of the wrong rank or outside the grid are ErrInvalidCoords; an invalid
// array is ErrInvalidArray.
func (a Array) ShardOf(chunk []int) (shard []int, local []int, err error) {
	if err := a.Validate(); err != nil {
		return nil, nil, err
	}
	if len(chunk) != len(a.Shape) {
		return nil, nil, fmt.Errorf("%w: chunk %v has rank %d, the array has rank %d", ErrInvalidCoords, chunk, len(chunk), len(a.Shape))
	}
	grid, per := a.ChunkGrid(), a.perShard()
	shard, local = make([]int, len(chunk)), make([]int, len(chunk))
	for d, c := range chunk {
		if c < 0 || c >= grid[d] {
			return nil, nil, fmt.Errorf("%w: chunk %v outside the array's %v inner chunks", ErrInvalidCoords, chunk, grid)
		}
		shard[d], local[d] = c/per[d], c%per[d]
	}
	return shard, local, nil
}

// ShardKey returns the store key of a shard of the array at path, with the
// default chunk key encoding and separator "/": path + "/c/" + the shard
// coordinates joined by "/" (path + "/c" for a 0-d array). An empty path
// gives "c/...".
func (a Array) ShardKey(path string, shard []int) string {
	var b strings.Builder
	if path != "" {
		b.WriteString(path)
		b.WriteByte('/')
	}
	b.WriteByte('c')
	for _, s := range shard {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(s))
	}
	return b.String()
}

// FillChunk returns an inner chunk of fill values: ChunkRawBytes bytes of
// raw little-endian elements. A NaN fill is the canonical quiet NaN
// (0x7fc00000 for float32, 0x7ff8000000000000 for float64), as JavaScript
// and most readers produce for fill_value "NaN".
func (a Array) FillChunk() []byte {
	el := a.fillElement()
	b := make([]byte, a.ChunkRawBytes())
	if len(el) == 0 {
		return b
	}
	for i := 0; i < len(b); i += len(el) {
		copy(b[i:], el)
	}
	return b
}

// fillElement is one fill value, raw little-endian.
func (a Array) fillElement() []byte {
	b := make([]byte, a.DType.Size())
	f := a.Fill
	switch a.DType {
	case Uint8:
		b[0] = byte(f)
	case Int32:
		binary.LittleEndian.PutUint32(b, uint32(int32(f)))
	case Float32:
		bits := math.Float32bits(float32(f))
		if math.IsNaN(f) {
			bits = 0x7fc00000
		}
		binary.LittleEndian.PutUint32(b, bits)
	case Float64:
		bits := math.Float64bits(f)
		if math.IsNaN(f) {
			bits = 0x7ff8000000000000
		}
		binary.LittleEndian.PutUint64(b, bits)
	}
	return b
}

// elements returns prod(Shape); Validate keeps it from overflowing.
func (a Array) elements() int {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return n
}

// chunkRows calls fn for each run of elements that the inner chunk at
// chunk (ChunkGrid coordinates) shares with the array, along the last
// dimension: arrOff and chunkOff are element offsets in the whole array and
// in the chunk (both C order), n the run's length. Parts of an edge chunk
// past the array are skipped.
func (a Array) chunkRows(chunk []int, fn func(arrOff, chunkOff, n int)) {
	a.chunkRowsIn(make([]int, len(a.Shape)), a.Shape, chunk, fn)
}

// chunkRowsIn is chunkRows for a box of the array, its first element at
// origin and its shape shape, which must begin on inner-chunk boundaries
// and end on one or at the array's edge: boxOff is the element offset in
// the box (C order). Parts of the chunk outside the box are skipped.
func (a Array) chunkRowsIn(origin, shape, chunk []int, fn func(boxOff, chunkOff, n int)) {
	r := len(a.Shape)
	if r == 0 {
		fn(0, 0, 1)
		return
	}
	first, valid := make([]int, r), make([]int, r)
	for d := range r {
		first[d] = chunk[d]*a.ChunkShape[d] - origin[d]
		valid[d] = min(a.ChunkShape[d], shape[d]-first[d])
		if first[d] < 0 || valid[d] <= 0 {
			return
		}
	}
	boxStride, chunkStride := make([]int, r), make([]int, r)
	bs, cs := 1, 1
	for d := r - 1; d >= 0; d-- {
		boxStride[d], chunkStride[d] = bs, cs
		bs *= shape[d]
		cs *= a.ChunkShape[d]
	}
	idx := make([]int, r-1) // position among the rows: all but the last dimension
	for {
		bo, co := first[r-1], 0
		for d := range r - 1 {
			bo += (first[d] + idx[d]) * boxStride[d]
			co += idx[d] * chunkStride[d]
		}
		fn(bo, co, valid[r-1])
		d := r - 2
		for ; d >= 0; d-- {
			if idx[d]++; idx[d] < valid[d] {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// forEach calls fn with every index of grid in C order (once with an
// empty index for rank 0; never if a dimension is 0). fn's slice is reused.
func forEach(grid []int, fn func(idx []int) error) error {
	for _, g := range grid {
		if g <= 0 {
			return nil
		}
	}
	idx := make([]int, len(grid))
	for {
		if err := fn(idx); err != nil {
			return err
		}
		d := len(grid) - 1
		for ; d >= 0; d-- {
			if idx[d]++; idx[d] < grid[d] {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			return nil
		}
	}
}
