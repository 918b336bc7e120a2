package shard_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/rangetx/rangetx/interop"
	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

// These tests have zarrita, a reader nobody here wrote, read arrays written
// with CreateArray, WriteArray, WriteRegion, PutChunk, DeleteChunk and Compact, and
// compare every element with a Go model updated alongside. They skip when
// node or interop/node_modules are missing, unless RANGETX_INTEROP=1.
// zarrita 0.7.5 reads the index only from the end of a shard, so arrays
// with the index at the start are checked in Go only (array_test.go). For a
// 0-d array zarrita's zarr.get returns a bare number, which check.mjs holds
// in a one-element array of the dtype.

// interopCase is one array of the store zarrita reads.
type interopCase struct {
	path string
	a    shard.Array
	// ops changes the array after CreateArray, updating the model.
	ops func(t *testing.T, e *txn.Engine, path string, m *model)
	// after checks the Go side once every case is written.
	after func(t *testing.T, e *txn.Engine, path string, m *model)
}

// write runs WriteArray with the given data and records it.
func write(t *testing.T, e *txn.Engine, path string, m *model, src []byte) {
	t.Helper()
	if err := shard.WriteArray(ctx, e, path, m.a, src); err != nil {
		t.Fatal(err)
	}
	m.writeAll(src)
}

// putChunk runs PutChunk and records it.
func putChunk(t *testing.T, e *txn.Engine, path string, m *model, c []int, r []byte) {
	t.Helper()
	if err := shard.PutChunk(ctx, e, path, m.a, c, r); err != nil {
		t.Fatal(err)
	}
	m.put(c, r)
}

// delChunk runs DeleteChunk and records it.
func delChunk(t *testing.T, e *txn.Engine, path string, m *model, c []int) {
	t.Helper()
	if err := shard.DeleteChunk(ctx, e, path, m.a, c); err != nil {
		t.Fatal(err)
	}
	m.del(c)
}

// rewrite writes the whole array, then overwrites every third chunk with
// incompressible data, deletes every fourth, and puts a very compressible
// chunk where one was deleted.
func rewrite(t *testing.T, e *txn.Engine, path string, m *model) {
	t.Helper()
	n := len(m.data) / m.a.DType.Size()
	write(t, e, path, m, elems(m.a.DType, n, 1))
	per := m.a.ChunkRawBytes() / m.a.DType.Size()
	grid := allCoords(m.a.ChunkGrid())
	for k, c := range grid {
		if k%3 == 1 {
			putChunk(t, e, path, m, c, noisy(m.a.DType, per, uint64(k)))
		}
	}
	for k, c := range grid {
		if k%4 == 2 {
			delChunk(t, e, path, m, c)
		}
	}
	if len(grid) > 2 {
		putChunk(t, e, path, m, grid[2], constant(m.a.DType, per, 5))
	}
}

// totalDead returns the dead bytes of all the array's shards.
func totalDead(t *testing.T, e *txn.Engine, path string, a shard.Array) int64 {
	t.Helper()
	shards, err := shard.ArrayShards(ctx, e, path, a)
	if err != nil {
		t.Fatal(err)
	}
	var dead int64
	for _, sh := range shards {
		_, d, err := shard.DeadSpace(ctx, e, a.ShardKey(path, sh), a.Layout())
		if err != nil {
			t.Fatal(err)
		}
		dead += d
	}
	return dead
}

// shardSizes returns the sizes of the array's shards, by key.
func shardSizes(t *testing.T, e *txn.Engine, path string, a shard.Array) map[string]int64 {
	t.Helper()
	shards, err := shard.ArrayShards(ctx, e, path, a)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, sh := range shards {
		in, err := shard.Inspect(ctx, e, a.ShardKey(path, sh), a.Layout())
		if err != nil {
			t.Fatal(err)
		}
		sizes[fmt.Sprint(sh)] = in.Size
	}
	return sizes
}

func compact(t *testing.T, e *txn.Engine, path string, m *model) {
	t.Helper()
	if _, err := shard.CompactArray(ctx, e, path, m.a); err != nil {
		t.Fatal(err)
	}
	if d := totalDead(t, e, path, m.a); d != 0 {
		t.Fatalf("%s: %d dead bytes after CompactArray", path, d)
	}
}

// inPlace overwrites every stored chunk once more and checks that no shard
// changed size and no dead space appeared: fixed-size chunks are updated in
// place.
func inPlace(t *testing.T, e *txn.Engine, path string, m *model) {
	t.Helper()
	before, deadBefore := shardSizes(t, e, path, m.a), totalDead(t, e, path, m.a)
	per := m.a.ChunkRawBytes() / m.a.DType.Size()
	for k, c := range allCoords(m.a.ChunkGrid()) {
		if _, ok := m.stored[fmt.Sprint(c)]; ok {
			putChunk(t, e, path, m, c, elems(m.a.DType, per, 100+k))
		}
	}
	if after := shardSizes(t, e, path, m.a); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("%s: shard sizes %v, then %v after overwriting in place", path, before, after)
	}
	if d := totalDead(t, e, path, m.a); d != deadBefore {
		t.Fatalf("%s: %d dead bytes after in-place overwrites, %d before", path, d, deadBefore)
	}
}

var interopCases = []interopCase{
	{ // Shards that fill the array exactly; written once.
		path: "data/u8_full",
		a:    shard.Array{Shape: []int{12, 10}, DType: shard.Uint8, ShardShape: []int{6, 5}, ChunkShape: []int{3, 5}},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			write(t, e, path, m, elems(m.a.DType, 120, 1))
		},
	},
	{ // Partial shards and edge chunks; overwrites in place, deletions.
		path: "data/i32_edge",
		a:    shard.Array{Shape: []int{13, 7}, DType: shard.Int32, ShardShape: []int{4, 4}, ChunkShape: []int{2, 2}, Fill: -7},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			rewrite(t, e, path, m)
			inPlace(t, e, path, m)
		},
	},
	{ // The same, compacted after the deletions.
		path: "data/i32_edge_compacted",
		a:    shard.Array{Shape: []int{13, 7}, DType: shard.Int32, ShardShape: []int{4, 4}, ChunkShape: []int{2, 2}, Fill: -7},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			rewrite(t, e, path, m)
			if totalDead(t, e, path, m.a) == 0 {
				t.Fatal("no dead space to compact")
			}
			compact(t, e, path, m)
			inPlace(t, e, path, m)
		},
	},
	{ // Inner crc32c, NaN fill; overwrites in place.
		path: "data/f32_crc",
		a:    shard.Array{Shape: []int{9, 11}, DType: shard.Float32, ShardShape: []int{4, 6}, ChunkShape: []int{2, 3}, ChunkCRC: true, Fill: math.NaN()},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			rewrite(t, e, path, m)
			inPlace(t, e, path, m)
		},
	},
	{ // Gzip: chunks of other compressibility appended, old bytes dead.
		path: "data/f64_gzip",
		a:    shard.Array{Shape: []int{10, 9}, DType: shard.Float64, ShardShape: []int{4, 6}, ChunkShape: []int{2, 3}, Gzip: true, Fill: 1.5},
		ops:  gzipOps,
		after: func(t *testing.T, e *txn.Engine, path string, m *model) {
			if totalDead(t, e, path, m.a) == 0 {
				t.Fatalf("%s: no dead space: chunks were not appended", path)
			}
		},
	},
	{ // The same, compacted.
		path: "data/f64_gzip_compacted",
		a:    shard.Array{Shape: []int{10, 9}, DType: shard.Float64, ShardShape: []int{4, 6}, ChunkShape: []int{2, 3}, Gzip: true, Fill: 1.5},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			gzipOps(t, e, path, m)
			compact(t, e, path, m)
		},
	},
	{ // Three dimensions, uint8 through gzip, fill 255.
		path: "data/cube",
		a:    shard.Array{Shape: []int{5, 6, 7}, DType: shard.Uint8, ShardShape: []int{2, 4, 4}, ChunkShape: []int{1, 2, 2}, Gzip: true, Fill: 255},
		ops:  rewrite,
	},
	{ // One dimension, int32 with inner crc32c, compacted.
		path: "data/i32_crc_1d",
		a:    shard.Array{Shape: []int{17}, DType: shard.Int32, ShardShape: []int{8}, ChunkShape: []int{4}, ChunkCRC: true},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			rewrite(t, e, path, m)
			compact(t, e, path, m)
		},
	},
	{ // One shard larger than the whole array.
		path: "data/f64_big_shard",
		a:    shard.Array{Shape: []int{4, 5}, DType: shard.Float64, ShardShape: []int{8, 8}, ChunkShape: []int{2, 2}, Fill: math.NaN()},
		ops:  rewrite,
	},
	{ // PutChunk only: a sparse array, most shards missing. Edge chunks
		// carry data in their padding too, which readers must ignore.
		path: "sparse",
		a:    shard.Array{Shape: []int{20, 21}, DType: shard.Float32, ShardShape: []int{4, 4}, ChunkShape: []int{2, 2}},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			for k, c := range [][]int{{0, 0}, {5, 3}, {9, 10}, {3, 10}, {9, 0}} {
				putChunk(t, e, path, m, c, elems(m.a.DType, 4, k+1))
			}
			putChunk(t, e, path, m, []int{5, 3}, elems(m.a.DType, 4, 9)) // in place
		},
	},
	{ // WriteRegion: boxes of inner chunks across shards and at the edge,
		// over gzip chunks (appended) and a partly written array.
		path: "data/i32_regions",
		a:    shard.Array{Shape: []int{13, 11}, DType: shard.Int32, ShardShape: []int{4, 6}, ChunkShape: []int{2, 3}, Gzip: true, Fill: -1},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			for k, box := range [][2][]int{{{1, 1}, {3, 2}}, {{4, 2}, {3, 2}}, {{0, 0}, {7, 4}}, {{5, 1}, {2, 1}}} {
				start, count := box[0], box[1]
				src := noisy(m.a.DType, len(allCoords(boxShape(m.a, start, count))), uint64(k))
				if err := shard.WriteRegion(ctx, e, path, m.a, start, count, src); err != nil {
					t.Fatal(err)
				}
				m.writeRegion(start, count, src)
			}
		},
	},
	{ // 0-d: one element, written, then overwritten in place.
		path: "data/scalar",
		a:    shard.Array{Shape: []int{}, DType: shard.Float64, ShardShape: []int{}, ChunkShape: []int{}, Fill: -1e9},
		ops: func(t *testing.T, e *txn.Engine, path string, m *model) {
			write(t, e, path, m, elems(m.a.DType, 1, 3))
			putChunk(t, e, path, m, []int{}, elems(m.a.DType, 1, 4))
		},
	},
	{ // 0-d, never written: the fill value.
		path: "data/scalar_fill",
		a:    shard.Array{Shape: []int{}, DType: shard.Int32, ShardShape: []int{}, ChunkShape: []int{}, Fill: -7},
		ops:  func(*testing.T, *txn.Engine, string, *model) {},
	},
	{ // Created, never written: every element is the fill value.
		path: "data/unwritten",
		a:    shard.Array{Shape: []int{3, 5}, DType: shard.Int32, ShardShape: []int{2, 2}, ChunkShape: []int{1, 2}, Fill: 123456},
		ops:  func(*testing.T, *txn.Engine, string, *model) {},
	},
}

// gzipOps writes very compressible chunks, then overwrites some with
// incompressible ones and back, so chunks of new sizes are appended.
func gzipOps(t *testing.T, e *txn.Engine, path string, m *model) {
	t.Helper()
	n := len(m.data) / m.a.DType.Size()
	write(t, e, path, m, constant(m.a.DType, n, 1))
	before := shardSizes(t, e, path, m.a)
	per := m.a.ChunkRawBytes() / m.a.DType.Size()
	grid := allCoords(m.a.ChunkGrid())
	for k, c := range grid {
		if k%2 == 0 {
			putChunk(t, e, path, m, c, noisy(m.a.DType, per, uint64(k)))
		}
	}
	for k, c := range grid {
		switch k % 4 {
		case 0:
			putChunk(t, e, path, m, c, constant(m.a.DType, per, k))
		case 3:
			delChunk(t, e, path, m, c)
		}
	}
	after := shardSizes(t, e, path, m.a)
	for k, size := range after {
		if size <= before[k] {
			t.Errorf("%s: shard %s did not grow (%d -> %d bytes)", path, k, before[k], size)
		}
	}
}

func TestArrayInterop(t *testing.T) {
	root, e := openEngine(t)
	var arrays []interop.Array
	models := make([]*model, len(interopCases))
	for i, c := range interopCases {
		if err := shard.CreateArray(ctx, e, c.path, c.a); err != nil {
			t.Fatal(err)
		}
		m := newModel(c.a)
		c.ops(t, e, c.path, m)
		models[i] = m
	}
	for i, c := range interopCases {
		m := models[i]
		if c.after != nil {
			c.after(t, e, c.path, m)
		}
		checkModel(t, e, c.path, m) // Go agrees with the model first
		arrays = append(arrays, interop.Array{Path: c.path, DType: string(c.a.DType), Shape: c.a.Shape, Expected: m.data})
	}
	if err := e.Flush(ctx); err != nil { // zarrita reads the files directly
		t.Fatal(err)
	}
	interop.Check(t, root, arrays)
}
