package interop_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rangetx/rangetx/interop"
)

// These tests write Zarr v3 stores by hand, with the standard library only,
// so that the checker is exercised against a layout spelled out here rather
// than against code under test elsewhere in the module.

var itemsize = map[string]int{"uint8": 1, "int32": 4, "float32": 4, "float64": 8}

// spec describes one sharded array to write.
type spec struct {
	path       string
	dtype      string
	shape      []int
	shardShape []int
	chunkShape []int
	gzip       bool // inner codecs bytes + gzip {"level": 5}, else bytes only
	// full holds every element, raw little-endian, C order.
	full []byte
	// emptyChunks are inner chunks (by global inner-chunk coordinates) whose
	// index entries are left empty; they read as the fill value (0).
	emptyChunks [][]int
	// missingShards are shards (by shard coordinates) not written at all.
	missingShards [][]int
}

func jsonFile(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func groupMeta() map[string]any {
	return map[string]any{"zarr_format": 3, "node_type": "group", "attributes": map[string]any{}}
}

func arrayMeta(s spec) map[string]any {
	inner := []any{map[string]any{"name": "bytes", "configuration": map[string]any{"endian": "little"}}}
	if s.gzip {
		inner = append(inner, map[string]any{"name": "gzip", "configuration": map[string]any{"level": 5}})
	}
	return map[string]any{
		"zarr_format": 3,
		"node_type":   "array",
		"shape":       s.shape,
		"data_type":   s.dtype,
		"chunk_grid": map[string]any{
			"name":          "regular",
			"configuration": map[string]any{"chunk_shape": s.shardShape},
		},
		"chunk_key_encoding": map[string]any{
			"name":          "default",
			"configuration": map[string]any{"separator": "/"},
		},
		"fill_value": 0,
		"codecs": []any{map[string]any{
			"name": "sharding_indexed",
			"configuration": map[string]any{
				"chunk_shape": s.chunkShape,
				"codecs":      inner,
				"index_codecs": []any{
					map[string]any{"name": "bytes", "configuration": map[string]any{"endian": "little"}},
					map[string]any{"name": "crc32c"},
				},
				"index_location": "end",
			},
		}},
		"attributes": map[string]any{},
	}
}

func prod(xs []int) int {
	n := 1
	for _, x := range xs {
		n *= x
	}
	return n
}

// coords yields every index of shape in C order.
func coords(shape []int) [][]int {
	var all [][]int
	idx := make([]int, len(shape))
	for n := prod(shape); n > 0; n-- {
		all = append(all, append([]int(nil), idx...))
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

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func contains(list [][]int, c []int) bool {
	for _, x := range list {
		if fmt.Sprint(x) == fmt.Sprint(c) {
			return true
		}
	}
	return false
}

// writeSharded writes the array's metadata and shards under root and
// returns what a reader must see: full, with the empty inner chunks and
// missing shards reading as zeros (the fill value).
//
// Inner chunks are stored in reverse C order with junk bytes between them,
// so that a reader that does not follow the index reads the wrong data.
func writeSharded(t *testing.T, root string, s spec) []byte {
	t.Helper()
	size := itemsize[s.dtype]
	rank := len(s.shape)
	if len(s.full) != prod(s.shape)*size {
		t.Fatalf("%s: full has %d bytes, want %d", s.path, len(s.full), prod(s.shape)*size)
	}
	jsonFile(t, filepath.Join(root, filepath.FromSlash(s.path), "zarr.json"), arrayMeta(s))

	strides := make([]int, rank) // element strides of the whole array, C order
	for d, st := rank-1, 1; d >= 0; d-- {
		strides[d] = st
		st *= s.shape[d]
	}
	expected := bytes.Clone(s.full)
	// zeroRegion sets the expected elements of a box (origin, extent,
	// clipped to the array) to the fill value.
	zeroRegion := func(origin, extent []int) {
		for _, c := range coords(extent) {
			off, inside := 0, true
			for d := range rank {
				g := origin[d] + c[d]
				if g >= s.shape[d] {
					inside = false
					break
				}
				off += g * strides[d]
			}
			if inside {
				clear(expected[off*size : (off+1)*size])
			}
		}
	}

	perShard := make([]int, rank)
	grid := make([]int, rank)
	for d := range rank {
		if s.shardShape[d]%s.chunkShape[d] != 0 {
			t.Fatalf("%s: inner chunk shape %v does not divide shard shape %v", s.path, s.chunkShape, s.shardShape)
		}
		perShard[d] = s.shardShape[d] / s.chunkShape[d]
		grid[d] = ceilDiv(s.shape[d], s.shardShape[d])
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)

	for _, sc := range coords(grid) {
		origin := make([]int, rank)
		for d := range rank {
			origin[d] = sc[d] * s.shardShape[d]
		}
		if contains(s.missingShards, sc) {
			zeroRegion(origin, s.shardShape)
			continue
		}
		inners := coords(perShard)
		index := make([]byte, 16*len(inners))
		var shard []byte
		for i := len(inners) - 1; i >= 0; i-- {
			ic := inners[i]
			corigin := make([]int, rank)
			global := make([]int, rank)
			for d := range rank {
				global[d] = sc[d]*perShard[d] + ic[d]
				corigin[d] = global[d] * s.chunkShape[d]
			}
			if contains(s.emptyChunks, global) {
				binary.LittleEndian.PutUint64(index[16*i:], math.MaxUint64)
				binary.LittleEndian.PutUint64(index[16*i+8:], math.MaxUint64)
				zeroRegion(corigin, s.chunkShape)
				continue
			}
			// The inner chunk is always full size; past the array's edge
			// it holds the fill value.
			raw := make([]byte, prod(s.chunkShape)*size)
			for k, c := range coords(s.chunkShape) {
				off, inside := 0, true
				for d := range rank {
					g := corigin[d] + c[d]
					if g >= s.shape[d] {
						inside = false
						break
					}
					off += g * strides[d]
				}
				if inside {
					copy(raw[k*size:], s.full[off*size:(off+1)*size])
				}
			}
			if s.gzip {
				var buf bytes.Buffer
				zw, err := gzip.NewWriterLevel(&buf, 5)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := zw.Write(raw); err != nil {
					t.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					t.Fatal(err)
				}
				raw = buf.Bytes()
			}
			shard = append(shard, 0xde, 0xad, 0xbe) // junk no index entry covers
			binary.LittleEndian.PutUint64(index[16*i:], uint64(len(shard)))
			binary.LittleEndian.PutUint64(index[16*i+8:], uint64(len(raw)))
			shard = append(shard, raw...)
		}
		shard = append(shard, index...)
		shard = binary.LittleEndian.AppendUint32(shard, crc32.Checksum(index, castagnoli))

		key := make([]string, rank)
		for d := range rank {
			key[d] = fmt.Sprint(sc[d])
		}
		file := filepath.Join(root, filepath.FromSlash(s.path), "c", filepath.Join(key...))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, shard, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return expected
}

// Element generators: distinct, non-zero values, so that a misplaced or
// missing chunk shows up as a mismatch.

func uint8s(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251 + 1)
	}
	return b
}

func int32s(n int) []byte {
	b := make([]byte, 0, 4*n)
	for i := range n {
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(i*7919-300)))
	}
	return b
}

func float32s(n int, special map[int]uint32) []byte {
	b := make([]byte, 0, 4*n)
	for i := range n {
		bits := math.Float32bits(float32(i)*0.25 - 3.625)
		if v, ok := special[i]; ok {
			bits = v
		}
		b = binary.LittleEndian.AppendUint32(b, bits)
	}
	return b
}

func float64s(n int, special map[int]uint64) []byte {
	b := make([]byte, 0, 8*n)
	for i := range n {
		bits := math.Float64bits(math.Sqrt(float64(i)) + 0.5)
		if v, ok := special[i]; ok {
			bits = v
		}
		b = binary.LittleEndian.AppendUint64(b, bits)
	}
	return b
}

// store writes a small hierarchy and returns its root and the arrays with
// what a reader must see.
func store(t *testing.T) (string, []interop.Array) {
	t.Helper()
	root := t.TempDir()
	jsonFile(t, filepath.Join(root, "zarr.json"), groupMeta())
	jsonFile(t, filepath.Join(root, "data", "zarr.json"), groupMeta())

	specs := []spec{
		{ // The basic case: 2x2 shards of 1x2 inner chunks, no edges.
			path: "data/small", dtype: "int32", shape: []int{10, 12},
			shardShape: []int{5, 6}, chunkShape: []int{5, 3},
			full:          int32s(120),
			emptyChunks:   [][]int{{0, 3}}, // shard (0,1), its second inner chunk
			missingShards: [][]int{{1, 0}},
		},
		{
			path: "data/small_u8", dtype: "uint8", shape: []int{10, 12},
			shardShape: []int{5, 6}, chunkShape: []int{5, 3},
			full:          uint8s(120),
			emptyChunks:   [][]int{{1, 0}},
			missingShards: [][]int{{0, 1}},
		},
		{ // Partial shards and partial inner chunks at both edges, a quiet
			// NaN, a NaN with a payload, -0 and infinities.
			path: "data/float", dtype: "float32", shape: []int{7, 11},
			shardShape: []int{4, 6}, chunkShape: []int{2, 3},
			full: float32s(77, map[int]uint32{
				0: 0x7fc00000, 7: 0x7fc00001, 12: 0xffc00123, 20: 0x80000000,
				40: 0x7f800000, 66: 0xff800000,
			}),
			emptyChunks:   [][]int{{0, 1}, {3, 1}},
			missingShards: [][]int{{1, 1}},
		},
		{ // Compressed inner chunks of varying sizes.
			path: "data/gzip", dtype: "float64", shape: []int{9, 8},
			shardShape: []int{6, 4}, chunkShape: []int{3, 2}, gzip: true,
			full:          float64s(72, map[int]uint64{3: 0x7ff8000000000001, 70: 0x8000000000000000}),
			emptyChunks:   [][]int{{1, 1}},
			missingShards: [][]int{{0, 1}},
		},
		{ // Three dimensions, uint8 through gzip.
			path: "data/cube", dtype: "uint8", shape: []int{3, 4, 5},
			shardShape: []int{2, 4, 5}, chunkShape: []int{1, 2, 5}, gzip: true,
			full:        uint8s(60),
			emptyChunks: [][]int{{0, 1, 0}},
		},
	}
	var arrays []interop.Array
	for _, s := range specs {
		expected := writeSharded(t, root, s)
		arrays = append(arrays, interop.Array{Path: s.path, DType: s.dtype, Shape: s.shape, Expected: expected})
	}
	return root, arrays
}

// need skips or fails the test like interop.Check when the checker cannot run.
func need(t *testing.T) {
	t.Helper()
	if _, _, err := interop.Available(); err != nil {
		if os.Getenv(interop.EnvRequire) == "1" {
			t.Fatalf("%v; %s=1 requires the interop check", err, interop.EnvRequire)
		}
		t.Skipf("%v; skipping the interop check (set %s=1 to require it)", err, interop.EnvRequire)
	}
}

func TestSmoke(t *testing.T) {
	root, arrays := store(t)
	// The empty inner chunks and missing shards must really read as fill:
	// the generators never produce an all-zero element.
	for _, a := range arrays {
		if !bytes.Contains(a.Expected, make([]byte, 3*itemsize[a.DType])) {
			t.Fatalf("%s: expected data has no fill region", a.Path)
		}
	}
	interop.Check(t, root, arrays)
}

// exitCode returns the checker's exit status from Run's error.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("want the checker to exit non-zero, got %v", err)
	}
	return exit.ExitCode()
}

func TestDetectsWrongElement(t *testing.T) {
	need(t)
	root, arrays := store(t)
	for i := range arrays {
		arrays[i].Expected = bytes.Clone(arrays[i].Expected)
	}
	// data/small is int32; element 67 ([5, 7]) is in shard (1,1), inner chunk 0.
	const flat = 67
	arrays[0].Expected[4*flat] ^= 0x01
	out, err := interop.Run(t.Context(), root, arrays)
	t.Logf("zarrita:\n%s", out)
	if err == nil {
		t.Fatalf("checker passed corrupted expectations:\n%s", out)
	}
	if code := exitCode(t, err); code != 1 {
		t.Fatalf("exit status %d, want 1:\n%s", code, out)
	}
	want := fmt.Sprintf("FAIL data/small: first mismatch at flat index %d: got ", flat)
	if !strings.Contains(out, want) {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
	for _, a := range arrays[1:] {
		if !strings.Contains(out, "ok "+a.Path+" ") {
			t.Errorf("output lacks an ok line for %s:\n%s", a.Path, out)
		}
	}
}

func TestDetectsWrongNaNPayload(t *testing.T) {
	need(t)
	root, arrays := store(t)
	a := arrays[2] // data/float: element 7 is a NaN with payload 1
	a.Expected = bytes.Clone(a.Expected)
	binary.LittleEndian.PutUint32(a.Expected[4*7:], 0x7fc00000)
	out, err := interop.Run(t.Context(), root, []interop.Array{a})
	t.Logf("zarrita:\n%s", out)
	if err == nil || exitCode(t, err) != 1 ||
		!strings.Contains(out, "FAIL data/float: first mismatch at flat index 7: got NaN (0x7fc00001) want NaN (0x7fc00000)") {
		t.Fatalf("want a NaN payload mismatch at index 7, got %v:\n%s", err, out)
	}
}

func TestDetectsCorruptShard(t *testing.T) {
	need(t)
	root, arrays := store(t)
	// Flip the first byte of inner chunk 0 of shard (0,0) of data/small_u8,
	// element [0, 0], at the offset its index entry gives.
	file := filepath.Join(root, "data", "small_u8", "c", "0", "0")
	shard, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	start := binary.LittleEndian.Uint64(shard[len(shard)-4-32:])
	shard[start] ^= 0xff
	if err := os.WriteFile(file, shard, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := interop.Run(t.Context(), root, arrays[1:2])
	t.Logf("zarrita:\n%s", out)
	if err == nil || exitCode(t, err) != 1 ||
		!strings.Contains(out, "FAIL data/small_u8: first mismatch at flat index 0: got 254 want 1") {
		t.Fatalf("want a mismatch at index 0, got %v:\n%s", err, out)
	}
}

func TestDetectsWrongMetadata(t *testing.T) {
	need(t)
	root, arrays := store(t)
	wrongType := arrays[0]
	wrongType.DType = "uint8"
	wrongType.Expected = wrongType.Expected[:120]
	wrongShape := arrays[1]
	wrongShape.Shape = []int{12, 10}
	missing := interop.Array{Path: "data/absent", DType: "uint8", Shape: []int{1}, Expected: []byte{0}}
	out, err := interop.Run(t.Context(), root, []interop.Array{wrongType, wrongShape, missing})
	t.Logf("zarrita:\n%s", out)
	if err == nil || exitCode(t, err) != 1 {
		t.Fatalf("want exit status 1, got %v:\n%s", err, out)
	}
	for _, want := range []string{
		"FAIL data/small: dtype is int32, want uint8",
		"FAIL data/small_u8: shape is [10, 12], want [12, 10]",
		"FAIL data/absent: zarrita could not read it: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBadManifest(t *testing.T) {
	need(t)
	root, arrays := store(t)
	a := arrays[0]
	a.Expected = a.Expected[:len(a.Expected)-1]
	out, err := interop.Run(t.Context(), root, []interop.Array{a})
	t.Logf("zarrita:\n%s", out)
	if err == nil || exitCode(t, err) != 2 {
		t.Fatalf("want exit status 2 for a short expected, got %v:\n%s", err, out)
	}
}

// TestIndexCRCNotVerified records a limit of zarrita 0.7.5: it strips the
// crc32c of a shard index without checking it. A passing interop check says
// nothing about index checksums; verify them on the Go side.
func TestIndexCRCNotVerified(t *testing.T) {
	need(t)
	root, arrays := store(t)
	file := filepath.Join(root, "data", "small", "c", "0", "0")
	shard, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	shard[len(shard)-1] ^= 0xff
	if err := os.WriteFile(file, shard, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := interop.Run(t.Context(), root, arrays[:1])
	t.Logf("zarrita:\n%s", out)
	if err != nil {
		t.Fatalf("zarrita now rejects a bad index CRC (update the package doc and this test): %v\n%s", err, out)
	}
}

// TestDetectsTruncatedShard: a shard cut short (a writer killed mid-write)
// must not pass. zarrita 0.7.5 does not report it as an error: its file
// store zero-fills reads past the end of a file, so the check fails on
// the elements, not on the read.
func TestDetectsTruncatedShard(t *testing.T) {
	need(t)
	root, arrays := store(t)
	file := filepath.Join(root, "data", "small_u8", "c", "1", "1")
	shard, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, shard[:len(shard)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := interop.Run(t.Context(), root, arrays[1:2])
	t.Logf("zarrita:\n%s", out)
	if err == nil || exitCode(t, err) != 1 || !strings.Contains(out, "FAIL data/small_u8: ") {
		t.Fatalf("want a truncated shard to fail the check, got %v:\n%s", err, out)
	}
}

// TestScalar: zarrita returns a 0-d array's element as a bare number;
// the checker compares it all the same (any NaN matches a NaN, since the
// number carries no payload), and fails on a wrong one, -0 for 0 included.
func TestScalar(t *testing.T) {
	need(t)
	root := t.TempDir()
	jsonFile(t, filepath.Join(root, "zarr.json"), groupMeta())
	jsonFile(t, filepath.Join(root, "data", "zarr.json"), groupMeta())
	var arrays []interop.Array
	for _, s := range []spec{
		{path: "data/f64", dtype: "float64", shape: []int{}, shardShape: []int{}, chunkShape: []int{}, full: float64s(1, nil)},
		{path: "data/i32", dtype: "int32", shape: []int{}, shardShape: []int{}, chunkShape: []int{}, full: int32s(1), gzip: true},
		{path: "data/nan", dtype: "float32", shape: []int{}, shardShape: []int{}, chunkShape: []int{}, full: float32s(1, map[int]uint32{0: 0x7fc00001})},
		{path: "data/negzero", dtype: "float64", shape: []int{}, shardShape: []int{}, chunkShape: []int{}, full: float64s(1, map[int]uint64{0: 1 << 63})},
	} {
		arrays = append(arrays, interop.Array{Path: s.path, DType: s.dtype, Shape: s.shape, Expected: writeSharded(t, root, s)})
	}
	interop.Check(t, root, arrays)

	arrays[1].Expected = bytes.Clone(arrays[1].Expected)
	arrays[1].Expected[0] ^= 0x10
	arrays[3].Expected = make([]byte, 8) // +0 where -0 is stored
	out, err := interop.Run(t.Context(), root, arrays)
	t.Logf("zarrita:\n%s", out)
	if err == nil || exitCode(t, err) != 1 || !strings.Contains(out, "ok data/f64 1 elements") ||
		!strings.Contains(out, "FAIL data/i32: first mismatch at flat index 0: got ") ||
		!strings.Contains(out, "FAIL data/negzero: first mismatch at flat index 0: got -0 want 0 (0x0000000000000000)") {
		t.Fatalf("want data/i32 and data/negzero to fail at index 0 and data/f64 to pass, got %v:\n%s", err, out)
	}
}
