package shard_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/rangetx/rangetx/shard"
)

// This file holds a model of an array, kept independently of the package's
// own chunk arithmetic: element by element, through coordinates.

// allCoords returns every index of shape in C order ([[]] for rank 0).
func allCoords(shape []int) [][]int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	all := make([][]int, 0, n)
	idx := make([]int, len(shape))
	for range n {
		all = append(all, append([]int{}, idx...))
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return all
}

// fillBits returns one fill element, raw little-endian, with the canonical
// quiet NaN for a NaN fill.
func fillBits(a shard.Array) []byte {
	f := a.Fill
	switch a.DType {
	case shard.Uint8:
		return []byte{byte(f)}
	case shard.Int32:
		return binary.LittleEndian.AppendUint32(nil, uint32(int32(f)))
	case shard.Float32:
		if math.IsNaN(f) {
			return binary.LittleEndian.AppendUint32(nil, 0x7fc00000)
		}
		return binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(f)))
	default:
		if math.IsNaN(f) {
			return binary.LittleEndian.AppendUint64(nil, 0x7ff8000000000000)
		}
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f))
	}
}

// model is what a reader must see of an array: data holds every element,
// stored the raw chunks as last put (padding included), by coordinates.
type model struct {
	a      shard.Array
	data   []byte
	stored map[string][]byte
}

func newModel(a shard.Array) *model {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return &model{a: a, data: bytes.Repeat(fillBits(a), n), stored: map[string][]byte{}}
}

// offset returns the element offset of the chunk's element c in the whole
// array, or false if it lies past the edge.
func (m *model) offset(chunk, c []int) (int, bool) {
	off := 0
	for d := range c {
		g := chunk[d]*m.a.ChunkShape[d] + c[d]
		if g >= m.a.Shape[d] {
			return 0, false
		}
		off = off*m.a.Shape[d] + g
	}
	return off, true
}

// put records raw as the chunk's contents.
func (m *model) put(chunk []int, raw []byte) {
	size := m.a.DType.Size()
	m.stored[fmt.Sprint(chunk)] = bytes.Clone(raw)
	for k, c := range allCoords(m.a.ChunkShape) {
		if off, ok := m.offset(chunk, c); ok {
			copy(m.data[off*size:(off+1)*size], raw[k*size:(k+1)*size])
		}
	}
}

// del records the chunk's deletion: its elements read as fill.
func (m *model) del(chunk []int) {
	size := m.a.DType.Size()
	delete(m.stored, fmt.Sprint(chunk))
	for _, c := range allCoords(m.a.ChunkShape) {
		if off, ok := m.offset(chunk, c); ok {
			copy(m.data[off*size:(off+1)*size], fillBits(m.a))
		}
	}
}

// chunkOfArray returns the chunk's elements as cut from a whole array
// (src), padded with fill past the edge.
func (m *model) chunkOfArray(src []byte, chunk []int) []byte {
	size := m.a.DType.Size()
	out := bytes.Repeat(fillBits(m.a), len(allCoords(m.a.ChunkShape)))
	for k, c := range allCoords(m.a.ChunkShape) {
		if off, ok := m.offset(chunk, c); ok {
			copy(out[k*size:(k+1)*size], src[off*size:(off+1)*size])
		}
	}
	return out
}

// writeAll records a WriteArray of src.
func (m *model) writeAll(src []byte) {
	for _, c := range allCoords(m.a.ChunkGrid()) {
		m.put(c, m.chunkOfArray(src, c))
	}
}

// writeRegion records a WriteRegion of src over the inner chunks from
// start, count along each dimension: src holds the box of elements those
// chunks cover, cut at the array's edge, in C order.
func (m *model) writeRegion(start, count []int, src []byte) {
	size, r := m.a.DType.Size(), len(m.a.Shape)
	origin, shape := make([]int, r), make([]int, r)
	for d := range r {
		origin[d] = start[d] * m.a.ChunkShape[d]
		shape[d] = min((start[d]+count[d])*m.a.ChunkShape[d], m.a.Shape[d]) - origin[d]
	}
	for _, rel := range allCoords(count) {
		chunk := make([]int, r)
		for d := range r {
			chunk[d] = start[d] + rel[d]
		}
		raw := bytes.Repeat(fillBits(m.a), len(allCoords(m.a.ChunkShape)))
		for k, c := range allCoords(m.a.ChunkShape) {
			off, inside := 0, true
			for d := range r {
				g := chunk[d]*m.a.ChunkShape[d] + c[d] - origin[d]
				inside = inside && g < shape[d]
				off = off*shape[d] + g
			}
			if inside {
				copy(raw[k*size:(k+1)*size], src[off*size:(off+1)*size])
			}
		}
		m.put(chunk, raw)
	}
}

// want returns what GetChunk must return for the chunk.
func (m *model) want(chunk []int) []byte {
	if b, ok := m.stored[fmt.Sprint(chunk)]; ok {
		return b
	}
	return bytes.Repeat(fillBits(m.a), len(allCoords(m.a.ChunkShape)))
}

// elems returns n elements of dtype, raw little-endian: distinct-ish,
// never the fill values the tests use (0, 255, -7, NaN, 1.5, -1e9), and
// different for different seeds.
func elems(d shard.DType, n int, seed int) []byte {
	b := make([]byte, 0, n*d.Size())
	for i := range n {
		switch d {
		case shard.Uint8:
			b = append(b, byte((i*7+seed*31)%250+1))
		case shard.Int32:
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(i*7919+seed*100003+1)))
		case shard.Float32:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i)*0.25+float32(seed)+0.125))
		case shard.Float64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(math.Sqrt(float64(i))+float64(seed)+0.0625))
		}
	}
	return b
}

// constant returns n copies of one element (very compressible).
func constant(d shard.DType, n int, seed int) []byte {
	return bytes.Repeat(elems(d, 1, seed), n)
}

// noisy returns n elements that gzip cannot shrink much: random, and for
// floats finite (no NaN payload surprises).
func noisy(d shard.DType, n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, 0, n*d.Size())
	for range n {
		switch d {
		case shard.Uint8:
			b = append(b, byte(r.IntN(250)+1))
		case shard.Int32:
			b = binary.LittleEndian.AppendUint32(b, r.Uint32())
		case shard.Float32:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(r.Float32()*1e6))
		case shard.Float64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.NormFloat64()*1e9))
		}
	}
	return b
}
