package shard_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// zarritaMeta is the zarr.json the interop package's own test writes by
// hand and zarrita accepts (interop/interop_test.go, arrayMeta), extended
// with the inner crc32c codec, the index location and the fill value.
func zarritaMeta(a shard.Array, fill any) []byte {
	inner := []any{map[string]any{"name": "bytes", "configuration": map[string]any{"endian": "little"}}}
	if a.Gzip {
		inner = append(inner, map[string]any{"name": "gzip", "configuration": map[string]any{"level": 5}})
	}
	if a.ChunkCRC {
		inner = append(inner, map[string]any{"name": "crc32c"})
	}
	loc := "end"
	if a.IndexAtStart {
		loc = "start"
	}
	m := map[string]any{
		"zarr_format": 3,
		"node_type":   "array",
		"shape":       a.Shape,
		"data_type":   string(a.DType),
		"chunk_grid": map[string]any{
			"name":          "regular",
			"configuration": map[string]any{"chunk_shape": a.ShardShape},
		},
		"chunk_key_encoding": map[string]any{
			"name":          "default",
			"configuration": map[string]any{"separator": "/"},
		},
		"fill_value": fill,
		"codecs": []any{map[string]any{
			"name": "sharding_indexed",
			"configuration": map[string]any{
				"chunk_shape": a.ChunkShape,
				"codecs":      inner,
				"index_codecs": []any{
					map[string]any{"name": "bytes", "configuration": map[string]any{"endian": "little"}},
					map[string]any{"name": "crc32c"},
				},
				"index_location": loc,
			},
		}},
		"attributes": map[string]any{},
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(data, '\n')
}

// sameArray compares arrays, NaN fills equal.
func sameArray(a, b shard.Array) bool {
	if math.IsNaN(a.Fill) && math.IsNaN(b.Fill) {
		a.Fill, b.Fill = 0, 0
	}
	return reflect.DeepEqual(a, b)
}

const smallJSON = `{
  "attributes": {},
  "chunk_grid": {
    "configuration": {
      "chunk_shape": [
        5,
        6
      ]
    },
    "name": "regular"
  },
  "chunk_key_encoding": {
    "configuration": {
      "separator": "/"
    },
    "name": "default"
  },
  "codecs": [
    {
      "configuration": {
        "chunk_shape": [
          5,
          3
        ],
        "codecs": [
          {
            "configuration": {
              "endian": "little"
            },
            "name": "bytes"
          }
        ],
        "index_codecs": [
          {
            "configuration": {
              "endian": "little"
            },
            "name": "bytes"
          },
          {
            "name": "crc32c"
          }
        ],
        "index_location": "end"
      },
      "name": "sharding_indexed"
    }
  ],
  "data_type": "int32",
  "fill_value": 0,
  "node_type": "array",
  "shape": [
    10,
    12
  ],
  "zarr_format": 3
}
`

func TestArrayMetadataExact(t *testing.T) {
	a := shard.Array{Shape: []int{10, 12}, DType: shard.Int32, ShardShape: []int{5, 6}, ChunkShape: []int{5, 3}}
	got, err := a.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != smallJSON {
		t.Fatalf("zarr.json:\n%s\nwant:\n%s", got, smallJSON)
	}
	cases := []struct {
		a    shard.Array
		fill any
	}{
		{a, 0},
		{shard.Array{Shape: []int{7, 11}, DType: shard.Float32, ShardShape: []int{4, 6}, ChunkShape: []int{2, 3}, ChunkCRC: true, Fill: math.NaN()}, "NaN"},
		{shard.Array{Shape: []int{9, 8}, DType: shard.Float64, ShardShape: []int{6, 4}, ChunkShape: []int{3, 2}, Gzip: true, Fill: 1.5}, 1.5},
		{shard.Array{Shape: []int{9}, DType: shard.Float64, ShardShape: []int{4}, ChunkShape: []int{2}, IndexAtStart: true, Fill: math.Inf(-1)}, "-Infinity"},
		{shard.Array{Shape: []int{9}, DType: shard.Float32, ShardShape: []int{4}, ChunkShape: []int{2}, Fill: math.Inf(1)}, "Infinity"},
		{shard.Array{Shape: []int{3, 4, 5}, DType: shard.Uint8, ShardShape: []int{2, 4, 5}, ChunkShape: []int{1, 2, 5}, Gzip: true, Fill: 255}, 255},
		{shard.Array{Shape: []int{3}, DType: shard.Int32, ShardShape: []int{3}, ChunkShape: []int{1}, Fill: -2147483648}, -2147483648},
		{shard.Array{Shape: []int{}, DType: shard.Float64, ShardShape: []int{}, ChunkShape: []int{}, Fill: 0.1}, 0.1},
	}
	for _, c := range cases {
		got, err := c.a.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if want := zarritaMeta(c.a, c.fill); !bytes.Equal(got, want) {
			t.Errorf("%+v: zarr.json:\n%s\nwant:\n%s", c.a, got, want)
		}
		back, err := shard.ParseMetadata(got)
		if err != nil {
			t.Fatalf("%+v: %v", c.a, err)
		}
		if !sameArray(back, c.a) {
			t.Errorf("round trip: %+v, want %+v", back, c.a)
		}
	}
	// A nil shape (0-d) is written as [], not null.
	got, err = shard.Array{DType: shard.Uint8}.Metadata()
	if err != nil || !strings.Contains(string(got), `"shape": []`) {
		t.Errorf("0-d zarr.json %s, %v", got, err)
	}
}

func TestArrayValidate(t *testing.T) {
	ok := shard.Array{Shape: []int{10, 12}, DType: shard.Int32, ShardShape: []int{5, 6}, ChunkShape: []int{5, 3}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(a *shard.Array)) shard.Array {
		a := ok
		a.Shape, a.ShardShape, a.ChunkShape = []int{10, 12}, []int{5, 6}, []int{5, 3}
		f(&a)
		return a
	}
	bad := map[string]shard.Array{
		"dtype":            mod(func(a *shard.Array) { a.DType = "int64" }),
		"no dtype":         mod(func(a *shard.Array) { a.DType = "" }),
		"rank shard":       mod(func(a *shard.Array) { a.ShardShape = []int{5} }),
		"rank chunk":       mod(func(a *shard.Array) { a.ChunkShape = []int{5, 3, 1} }),
		"negative shape":   mod(func(a *shard.Array) { a.Shape[0] = -1 }),
		"zero shard":       mod(func(a *shard.Array) { a.ShardShape[1] = 0 }),
		"zero chunk":       mod(func(a *shard.Array) { a.ChunkShape[1] = 0 }),
		"not dividing":     mod(func(a *shard.Array) { a.ChunkShape[1] = 4 }),
		"crc and gzip":     mod(func(a *shard.Array) { a.ChunkCRC, a.Gzip = true, true }),
		"fill fraction":    mod(func(a *shard.Array) { a.Fill = 0.5 }),
		"fill NaN int":     mod(func(a *shard.Array) { a.Fill = math.NaN() }),
		"fill inf int":     mod(func(a *shard.Array) { a.Fill = math.Inf(1) }),
		"fill int32 range": mod(func(a *shard.Array) { a.Fill = 1 << 31 }),
		"fill uint8 range": mod(func(a *shard.Array) { a.DType, a.Fill = shard.Uint8, 256 }),
		"fill uint8 neg":   mod(func(a *shard.Array) { a.DType, a.Fill = shard.Uint8, -1 }),
		"fill float32":     mod(func(a *shard.Array) { a.DType, a.Fill = shard.Float32, 1e39 }),
		"too many chunks":  mod(func(a *shard.Array) { a.ShardShape, a.ChunkShape = []int{1 << 13, 1 << 12}, []int{1, 1} }),
		"chunk too big":    mod(func(a *shard.Array) { a.ShardShape, a.ChunkShape = []int{1 << 16, 1 << 14}, []int{1 << 16, 1 << 14} }),
		"array too big":    mod(func(a *shard.Array) { a.Shape = []int{1 << 40, 1 << 40} }),
	}
	for name, a := range bad {
		if err := a.Validate(); !errors.Is(err, shard.ErrInvalidArray) {
			t.Errorf("%s: Validate = %v, want ErrInvalidArray", name, err)
		}
	}
	good := []shard.Array{
		mod(func(a *shard.Array) { a.Shape = []int{0, 0} }),
		mod(func(a *shard.Array) { a.DType, a.Fill = shard.Float32, math.NaN() }),
		mod(func(a *shard.Array) { a.DType, a.Fill = shard.Float32, math.Inf(-1) }),
		mod(func(a *shard.Array) { a.DType, a.Fill = shard.Uint8, 255 }),
		{DType: shard.Float64},
	}
	for _, a := range good {
		if err := a.Validate(); err != nil {
			t.Errorf("%+v: %v", a, err)
		}
	}
	for _, s := range []string{"uint8", "int32", "float32", "float64"} {
		d, err := shard.ParseDType(s)
		if err != nil || string(d) != s {
			t.Errorf("ParseDType(%q) = %q, %v", s, d, err)
		}
	}
	for _, s := range []string{"", "int8", "UINT8", "float16", "bool"} {
		if _, err := shard.ParseDType(s); !errors.Is(err, shard.ErrInvalidArray) {
			t.Errorf("ParseDType(%q) = %v", s, err)
		}
	}
	if shard.Uint8.Size() != 1 || shard.Int32.Size() != 4 || shard.Float32.Size() != 4 || shard.Float64.Size() != 8 || shard.DType("x").Size() != 0 {
		t.Error("Size")
	}
}

func TestParseMetadata(t *testing.T) {
	base := string(zarritaMeta(shard.Array{Shape: []int{10, 12}, DType: shard.Int32, ShardShape: []int{5, 6}, ChunkShape: []int{5, 3}}, 0))
	repl := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("base lacks %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	bytesLE := "{\n            \"configuration\": {\n              \"endian\": \"little\"\n            },\n            \"name\": \"bytes\"\n          }\n        ],\n        \"index_codecs\""
	notOurs := map[string]string{
		"not JSON":      "{",
		"group":         string(mustGroup()),
		"zarr v2":       repl(`"zarr_format": 3`, `"zarr_format": 2`),
		"dtype":         repl(`"data_type": "int32"`, `"data_type": "int64"`),
		"grid":          repl(`"name": "regular"`, `"name": "rectilinear"`),
		"key encoding":  repl(`"name": "default"`, `"name": "v2"`),
		"separator":     repl(`"separator": "/"`, `"separator": "."`),
		"fill string":   repl(`"fill_value": 0`, `"fill_value": "NaN"`),
		"fill null":     repl(`"fill_value": 0`, `"fill_value": null`),
		"fill fraction": repl(`"fill_value": 0`, `"fill_value": 0.5`),
		"no fill":       repl(`"fill_value": 0,`, ``),
		"endian":        repl(`"endian": "little"`, `"endian": "big"`),
		"location":      repl(`"index_location": "end"`, `"index_location": "middle"`),
		"index codecs": repl(`},
          {
            "name": "crc32c"
          }`, `}`),
		"inner blosc":    repl(bytesLE, strings.Replace(bytesLE, "\n        ],", ", {\"name\": \"blosc\"}],", 1)),
		"not dividing":   repl("          5,\n          3\n", "          5,\n          4\n"),
		"transformers":   repl(`"zarr_format": 3`, `"zarr_format": 3, "storage_transformers": [{"name": "x"}]`),
		"no shape":       repl("\"shape\": [\n    10,\n    12\n  ],", ""),
		"negative shape": repl("\"shape\": [\n    10,", "\"shape\": [\n    -10,"),
		"no codecs":      `{"zarr_format": 3, "node_type": "array", "shape": [1], "data_type": "uint8", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1]}}, "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": [{"name": "bytes"}]}`,
	}
	for name, doc := range notOurs {
		if _, err := shard.ParseMetadata([]byte(doc)); !errors.Is(err, shard.ErrNotArray) {
			t.Errorf("%s: ParseMetadata = %v, want ErrNotArray", name, err)
		}
	}
	lenient := map[string]string{
		"bytes without configuration": `{"zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "uint8",
			"chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4]}},
			"chunk_key_encoding": {"name": "default"}, "fill_value": 0, "dimension_names": ["x"],
			"codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2], "codecs": [{"name": "bytes"}],
			"index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c", "configuration": {}}]}}]}`,
	}
	for name, doc := range lenient {
		a, err := shard.ParseMetadata([]byte(doc))
		want := shard.Array{Shape: []int{4}, DType: shard.Uint8, ShardShape: []int{4}, ChunkShape: []int{2}}
		if err != nil || !sameArray(a, want) {
			t.Errorf("%s: %+v, %v", name, a, err)
		}
	}
}

func mustGroup() []byte {
	b, _ := json.MarshalIndent(map[string]any{"zarr_format": 3, "node_type": "group", "attributes": map[string]any{}}, "", "  ")
	return append(b, '\n')
}

func TestShardOfAndKey(t *testing.T) {
	a := shard.Array{Shape: []int{7, 11}, DType: shard.Float32, ShardShape: []int{4, 6}, ChunkShape: []int{2, 3}}
	if g := a.ChunkGrid(); !reflect.DeepEqual(g, []int{4, 4}) {
		t.Errorf("ChunkGrid %v", g)
	}
	if g := a.ShardGrid(); !reflect.DeepEqual(g, []int{2, 2}) {
		t.Errorf("ShardGrid %v", g)
	}
	if n := a.ChunkRawBytes(); n != 24 {
		t.Errorf("ChunkRawBytes %d", n)
	}
	if l := a.Layout(); !reflect.DeepEqual(l, shard.Layout{Chunks: []int{2, 2}, IndexCRC: true, ChunkBytes: 24}) {
		t.Errorf("Layout %+v", l)
	}
	a.ChunkCRC = true
	if l := a.Layout(); l.ChunkBytes != 28 {
		t.Errorf("Layout with CRC %+v", l)
	}
	a.ChunkCRC, a.Gzip, a.IndexAtStart = false, true, true
	if l := a.Layout(); !reflect.DeepEqual(l, shard.Layout{Chunks: []int{2, 2}, IndexAtStart: true, IndexCRC: true}) {
		t.Errorf("Layout with gzip %+v", l)
	}
	for _, c := range []struct{ chunk, shard, local []int }{
		{[]int{0, 0}, []int{0, 0}, []int{0, 0}},
		{[]int{1, 1}, []int{0, 0}, []int{1, 1}},
		{[]int{2, 1}, []int{1, 0}, []int{0, 1}},
		{[]int{3, 3}, []int{1, 1}, []int{1, 1}},
		{[]int{3, 2}, []int{1, 1}, []int{1, 0}},
	} {
		sh, local, err := a.ShardOf(c.chunk)
		if err != nil || !reflect.DeepEqual(sh, c.shard) || !reflect.DeepEqual(local, c.local) {
			t.Errorf("ShardOf(%v) = %v, %v, %v; want %v, %v", c.chunk, sh, local, err, c.shard, c.local)
		}
	}
	for _, c := range [][]int{{4, 0}, {0, 4}, {-1, 0}, {0}, {0, 0, 0}, nil} {
		if _, _, err := a.ShardOf(c); !errors.Is(err, shard.ErrInvalidCoords) {
			t.Errorf("ShardOf(%v) = %v, want ErrInvalidCoords", c, err)
		}
	}
	if k := a.ShardKey("data/float", []int{1, 0}); k != "data/float/c/1/0" {
		t.Errorf("ShardKey %q", k)
	}
	if k := a.ShardKey("x", []int{12, 345}); k != "x/c/12/345" {
		t.Errorf("ShardKey %q", k)
	}
	scalar := shard.Array{DType: shard.Uint8}
	if k := scalar.ShardKey("s", nil); k != "s/c" {
		t.Errorf("0-d ShardKey %q", k)
	}
	if sh, local, err := scalar.ShardOf(nil); err != nil || len(sh) != 0 || len(local) != 0 {
		t.Errorf("0-d ShardOf = %v, %v, %v", sh, local, err)
	}
	if _, _, err := (shard.Array{}).ShardOf(nil); !errors.Is(err, shard.ErrInvalidArray) {
		t.Errorf("ShardOf of an invalid array = %v", err)
	}
}

func TestChunkCodecs(t *testing.T) {
	base := shard.Array{Shape: []int{6, 6}, DType: shard.Float64, ShardShape: []int{6, 6}, ChunkShape: []int{3, 2}}
	raw := elems(shard.Float64, 6, 1)
	for _, name := range []string{"bytes", "crc32c", "gzip"} {
		t.Run(name, func(t *testing.T) {
			a := base
			a.ChunkCRC, a.Gzip = name == "crc32c", name == "gzip"
			enc, err := a.EncodeChunk(raw)
			if err != nil {
				t.Fatal(err)
			}
			switch name {
			case "bytes":
				if !bytes.Equal(enc, raw) {
					t.Fatalf("encoded %x", enc)
				}
			case "crc32c":
				want := binary.LittleEndian.AppendUint32(bytes.Clone(raw), crc32.Checksum(raw, crc32.MakeTable(crc32.Castagnoli)))
				if !bytes.Equal(enc, want) {
					t.Fatalf("encoded %x, want %x", enc, want)
				}
			case "gzip":
				zr, err := gzip.NewReader(bytes.NewReader(enc))
				if err != nil {
					t.Fatal(err)
				}
				if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, raw) {
					t.Fatalf("gunzip: %x, %v", got, err)
				}
			}
			dec, err := a.DecodeChunk(enc)
			if err != nil || !bytes.Equal(dec, raw) {
				t.Fatalf("DecodeChunk = %x, %v", dec, err)
			}
			if _, err := a.EncodeChunk(raw[:len(raw)-1]); !errors.Is(err, shard.ErrChunkSize) {
				t.Errorf("short raw: %v", err)
			}
			if _, err := a.DecodeChunk(enc[:len(enc)-1]); !errors.Is(err, shard.ErrCorruptChunk) {
				t.Errorf("short encoded: %v", err)
			}
			if _, err := a.DecodeChunk(append(bytes.Clone(enc), 0)); !errors.Is(err, shard.ErrCorruptChunk) && name != "gzip" {
				t.Errorf("long encoded: %v", err)
			}
			flipped := bytes.Clone(enc)
			flipped[len(flipped)/2] ^= 0x10
			if _, err := a.DecodeChunk(flipped); name != "bytes" && !errors.Is(err, shard.ErrCorruptChunk) {
				t.Errorf("flipped byte: %v, want ErrCorruptChunk", err)
			}
		})
	}
	// gzip of the wrong length, decoded as this array's chunk.
	a := base
	a.Gzip = true
	for _, n := range []int{len(raw) - 8, len(raw) + 8} {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(make([]byte, n))
		zw.Close()
		if _, err := a.DecodeChunk(buf.Bytes()); !errors.Is(err, shard.ErrCorruptChunk) {
			t.Errorf("gzip of %d bytes: %v, want ErrCorruptChunk", n, err)
		}
	}
	if _, err := a.DecodeChunk([]byte("not gzip")); !errors.Is(err, shard.ErrCorruptChunk) {
		t.Errorf("not gzip: %v", err)
	}
}

func TestFillChunk(t *testing.T) {
	for _, c := range []struct {
		d    shard.DType
		fill float64
		el   string
	}{
		{shard.Uint8, 255, "ff"},
		{shard.Int32, -7, "f9ffffff"},
		{shard.Float32, math.NaN(), "0000c07f"},
		{shard.Float64, math.NaN(), "000000000000f87f"},
		{shard.Float64, 1.5, "000000000000f83f"},
		{shard.Float32, math.Copysign(0, -1), "00000080"},
	} {
		a := shard.Array{Shape: []int{5}, DType: c.d, ShardShape: []int{4}, ChunkShape: []int{2}, Fill: c.fill}
		got := fmt.Sprintf("%x", a.FillChunk())
		if got != c.el+c.el {
			t.Errorf("%s fill %v: %s, want %s twice", c.d, c.fill, got, c.el)
		}
	}
}

// shardFile returns the shard's stored bytes after Flush.
func shardFile(t *testing.T, root string, e *txn.Engine, a shard.Array, path string, sh []int) []byte {
	t.Helper()
	return raw(t, root, e, a.ShardKey(path, sh))
}

func TestPutChunkInPlace(t *testing.T) {
	for _, crc := range []bool{false, true} {
		for _, start := range []bool{false, true} {
			t.Run(fmt.Sprintf("crc=%v/start=%v", crc, start), func(t *testing.T) {
				root, e := openEngine(t)
				a := shard.Array{Shape: []int{5, 7}, DType: shard.Int32, ShardShape: []int{4, 4}, ChunkShape: []int{2, 2},
					ChunkCRC: crc, IndexAtStart: start, Fill: -7}
				if err := shard.CreateArray(ctx, e, "arr", a); err != nil {
					t.Fatal(err)
				}
				m := newModel(a)
				n := a.ChunkRawBytes() / 4
				for i, c := range [][]int{{0, 0}, {1, 1}, {2, 3}} { // {2, 3} is a corner edge chunk
					r := elems(a.DType, n, i+1)
					if err := shard.PutChunk(ctx, e, "arr", a, c, r); err != nil {
						t.Fatal(err)
					}
					m.put(c, r)
				}
				before := shardFile(t, root, e, a, "arr", []int{0, 0})
				edgeBefore := shardFile(t, root, e, a, "arr", []int{1, 1})
				for i, c := range [][]int{{1, 1}, {2, 3}, {1, 1}} {
					r := elems(a.DType, n, 10+i)
					if err := shard.PutChunk(ctx, e, "arr", a, c, r); err != nil {
						t.Fatal(err)
					}
					m.put(c, r)
				}
				after := shardFile(t, root, e, a, "arr", []int{0, 0})
				if len(after) != len(before) {
					t.Errorf("shard (0,0): %d bytes, then %d after overwriting in place", len(before), len(after))
				}
				if edge := shardFile(t, root, e, a, "arr", []int{1, 1}); len(edge) != len(edgeBefore) {
					t.Errorf("shard (1,1): %d bytes, then %d", len(edgeBefore), len(edge))
				}
				l := a.Layout()
				wantSize := l.IndexBytes() + 2*l.ChunkBytes
				if int64(len(after)) != wantSize {
					t.Errorf("shard (0,0) is %d bytes, want %d", len(after), wantSize)
				}
				if _, dead, err := shard.DeadSpace(ctx, e, a.ShardKey("arr", []int{0, 0}), l); dead != 0 || err != nil {
					t.Errorf("dead space %d, %v", dead, err)
				}
				checkModel(t, e, "arr", m)
			})
		}
	}
}

// checkModel compares every chunk and the whole array with the model.
func checkModel(t *testing.T, e *txn.Engine, path string, m *model) {
	t.Helper()
	for _, c := range allCoords(m.a.ChunkGrid()) {
		got, err := shard.GetChunk(ctx, e, path, m.a, c)
		if err != nil {
			t.Fatalf("GetChunk(%v): %v", c, err)
		}
		if want := m.want(c); !bytes.Equal(got, want) {
			t.Fatalf("GetChunk(%v) = %x, want %x", c, got, want)
		}
	}
	got, err := shard.ReadArray(ctx, e, path, m.a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, m.data) {
		t.Fatalf("ReadArray differs from the model:\n got %x\nwant %x", got, m.data)
	}
}

func TestPutChunkGzipAppends(t *testing.T) {
	for _, start := range []bool{false, true} {
		t.Run(fmt.Sprint("start=", start), func(t *testing.T) {
			root, e := openEngine(t)
			a := shard.Array{Shape: []int{8, 8}, DType: shard.Float64, ShardShape: []int{8, 8}, ChunkShape: []int{4, 4},
				Gzip: true, IndexAtStart: start, Fill: 1.5}
			if err := shard.CreateArray(ctx, e, "g", a); err != nil {
				t.Fatal(err)
			}
			m := newModel(a)
			src := constant(a.DType, 64, 3)
			if err := shard.WriteArray(ctx, e, "g", a, src); err != nil {
				t.Fatal(err)
			}
			m.writeAll(src)
			key := a.ShardKey("g", []int{0, 0})
			before := shardFile(t, root, e, a, "g", []int{0, 0})
			live0, dead0, err := shard.DeadSpace(ctx, e, key, a.Layout())
			if err != nil || dead0 != 0 || live0 != int64(len(before))-a.Layout().IndexBytes() {
				t.Fatalf("DeadSpace = %d, %d, %v", live0, dead0, err)
			}
			in, _ := shard.Inspect(ctx, e, key, a.Layout())
			old := in.Entries[1].NBytes
			r := noisy(a.DType, 16, 7)
			if err := shard.PutChunk(ctx, e, "g", a, []int{0, 1}, r); err != nil {
				t.Fatal(err)
			}
			m.put([]int{0, 1}, r)
			after := shardFile(t, root, e, a, "g", []int{0, 0})
			if len(after) <= len(before) {
				t.Errorf("shard did not grow: %d -> %d bytes", len(before), len(after))
			}
			if _, dead, err := shard.DeadSpace(ctx, e, key, a.Layout()); dead != int64(old) || err != nil {
				t.Errorf("dead space %d, %v; want the old chunk's %d bytes", dead, err, old)
			}
			checkModel(t, e, "g", m)
			// Back to a compressible chunk: appended again, more dead space.
			r = constant(a.DType, 16, 9)
			if err := shard.PutChunk(ctx, e, "g", a, []int{0, 1}, r); err != nil {
				t.Fatal(err)
			}
			m.put([]int{0, 1}, r)
			if err := shard.DeleteChunk(ctx, e, "g", a, []int{1, 0}); err != nil {
				t.Fatal(err)
			}
			m.del([]int{1, 0})
			checkModel(t, e, "g", m)
			n, err := shard.CompactArray(ctx, e, "g", a)
			if err != nil || n <= 0 {
				t.Fatalf("CompactArray = %d, %v", n, err)
			}
			if _, dead, err := shard.DeadSpace(ctx, e, key, a.Layout()); dead != 0 || err != nil {
				t.Errorf("dead space after compaction %d, %v", dead, err)
			}
			checkModel(t, e, "g", m)
		})
	}
}

func TestGetChunkEmpty(t *testing.T) {
	_, e := openEngine(t)
	a := shard.Array{Shape: []int{5, 5}, DType: shard.Float32, ShardShape: []int{4, 4}, ChunkShape: []int{2, 2}, Fill: math.NaN()}
	if err := shard.CreateArray(ctx, e, "a", a); err != nil {
		t.Fatal(err)
	}
	m := newModel(a)
	checkModel(t, e, "a", m) // no shard at all
	r := elems(a.DType, 4, 1)
	if err := shard.PutChunk(ctx, e, "a", a, []int{0, 1}, r); err != nil {
		t.Fatal(err)
	}
	m.put([]int{0, 1}, r)
	checkModel(t, e, "a", m) // other chunks of the shard are empty
	if err := shard.DeleteChunk(ctx, e, "a", a, []int{0, 1}); err != nil {
		t.Fatal(err)
	}
	m.del([]int{0, 1})
	checkModel(t, e, "a", m)
	if shards, err := shard.ArrayShards(ctx, e, "a", a); err != nil || len(shards) != 0 {
		t.Errorf("a shard whose last chunk is deleted must be gone: %v, %v", shards, err)
	}
	// Deleting an empty chunk of a missing shard changes nothing.
	if err := shard.DeleteChunk(ctx, e, "a", a, []int{2, 2}); err != nil {
		t.Fatal(err)
	}
	got, err := shard.GetChunk(ctx, e, "a", a, []int{2, 2})
	if err != nil || fmt.Sprintf("%x", got) != strings.Repeat("0000c07f", 4) {
		t.Errorf("fill chunk %x, %v", got, err)
	}
}

func TestChunkErrors(t *testing.T) {
	_, e := openEngine(t)
	a := shard.Array{Shape: []int{5}, DType: shard.Int32, ShardShape: []int{4}, ChunkShape: []int{2}}
	if err := shard.CreateArray(ctx, e, "a", a); err != nil {
		t.Fatal(err)
	}
	if err := shard.PutChunk(ctx, e, "a", a, []int{0}, make([]byte, 7)); !errors.Is(err, shard.ErrChunkSize) {
		t.Errorf("short chunk: %v", err)
	}
	if err := shard.PutChunk(ctx, e, "a", a, []int{3}, make([]byte, 8)); !errors.Is(err, shard.ErrInvalidCoords) {
		t.Errorf("chunk past the grid: %v", err)
	}
	if _, err := shard.GetChunk(ctx, e, "a", a, []int{0, 0}); !errors.Is(err, shard.ErrInvalidCoords) {
		t.Errorf("wrong rank: %v", err)
	}
	if err := shard.DeleteChunk(ctx, e, "a", a, []int{-1}); !errors.Is(err, shard.ErrInvalidCoords) {
		t.Errorf("negative: %v", err)
	}
	if err := shard.WriteArray(ctx, e, "a", a, make([]byte, 16)); !errors.Is(err, shard.ErrArraySize) {
		t.Errorf("WriteArray of the wrong size: %v", err)
	}
	if err := shard.PutChunk(ctx, e, "a", shard.Array{}, nil, nil); !errors.Is(err, shard.ErrInvalidArray) {
		t.Errorf("invalid array: %v", err)
	}
	if err := shard.PutChunk(ctx, e, "/a", a, []int{0}, make([]byte, 8)); !errors.Is(err, shard.ErrInvalidArray) {
		t.Errorf("invalid path: %v", err)
	}
	// A chunk whose CRC does not match reads as ErrCorruptChunk.
	c := a
	c.ChunkCRC = true
	if err := shard.CreateArray(ctx, e, "crc", c); err != nil {
		t.Fatal(err)
	}
	bad := make([]byte, c.Layout().ChunkBytes) // zero data, zero CRC: wrong
	bad[0] = 1
	if err := shard.Update(ctx, e, c.ShardKey("crc", []int{0}), c.Layout(), func(w *shard.Writer) error {
		return w.Put([]int{1}, bad)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := shard.GetChunk(ctx, e, "crc", c, []int{1}); !errors.Is(err, shard.ErrCorruptChunk) {
		t.Errorf("bad chunk CRC: %v", err)
	}
	if _, err := shard.ReadArray(ctx, e, "crc", c); !errors.Is(err, shard.ErrCorruptChunk) {
		t.Errorf("ReadArray with a bad chunk CRC: %v", err)
	}
}

// arrayCases are arrays of every dtype and codec chain, with shards that do
// and do not fill the array's edge.
var arrayCases = []shard.Array{
	{Shape: []int{12, 10}, DType: shard.Uint8, ShardShape: []int{6, 5}, ChunkShape: []int{3, 5}},
	{Shape: []int{13, 7}, DType: shard.Int32, ShardShape: []int{4, 4}, ChunkShape: []int{2, 2}, Fill: -7},
	{Shape: []int{9, 11}, DType: shard.Float32, ShardShape: []int{4, 6}, ChunkShape: []int{2, 3}, ChunkCRC: true, Fill: math.NaN()},
	{Shape: []int{10, 9}, DType: shard.Float64, ShardShape: []int{4, 6}, ChunkShape: []int{2, 3}, Gzip: true, Fill: 1.5},
	{Shape: []int{5, 6, 7}, DType: shard.Uint8, ShardShape: []int{2, 4, 4}, ChunkShape: []int{1, 2, 2}, Gzip: true, Fill: 255},
	{Shape: []int{17}, DType: shard.Int32, ShardShape: []int{8}, ChunkShape: []int{4}, ChunkCRC: true},
	{Shape: []int{4, 4}, DType: shard.Float64, ShardShape: []int{8, 8}, ChunkShape: []int{2, 2}}, // one shard, bigger than the array
	{Shape: []int{}, DType: shard.Float64, ShardShape: []int{}, ChunkShape: []int{}, Fill: -1e9},
	{Shape: []int{3, 0}, DType: shard.Int32, ShardShape: []int{2, 2}, ChunkShape: []int{1, 1}},
}

func TestWriteArrayRoundTrip(t *testing.T) {
	for i, a0 := range arrayCases {
		for _, start := range []bool{false, true} {
			a := a0
			a.IndexAtStart = start
			t.Run(fmt.Sprintf("%d/%s/start=%v", i, a.DType, start), func(t *testing.T) {
				_, e := openEngine(t)
				path := fmt.Sprintf("data/a%d", i)
				if err := shard.CreateArray(ctx, e, path, a); err != nil {
					t.Fatal(err)
				}
				got, err := shard.OpenArray(ctx, e, path)
				if err != nil || !sameArray(got, a) {
					t.Fatalf("OpenArray = %+v, %v", got, err)
				}
				m := newModel(a)
				n := len(m.data) / a.DType.Size()
				src := elems(a.DType, n, 1)
				if err := shard.WriteArray(ctx, e, path, a, src); err != nil {
					t.Fatal(err)
				}
				m.writeAll(src)
				if !bytes.Equal(m.data, src) {
					t.Fatal("model disagrees with its source")
				}
				checkModel(t, e, path, m)
				// Again, with other data: every chunk rewritten.
				src = elems(a.DType, n, 2)
				if err := shard.WriteArray(ctx, e, path, a, src); err != nil {
					t.Fatal(err)
				}
				m.writeAll(src)
				checkModel(t, e, path, m)
				if n == 0 {
					return
				}
				// Some chunks deleted and overwritten.
				grid := allCoords(a.ChunkGrid())
				for k, c := range grid {
					switch k % 3 {
					case 0:
						if err := shard.DeleteChunk(ctx, e, path, a, c); err != nil {
							t.Fatal(err)
						}
						m.del(c)
					case 1:
						r := noisy(a.DType, a.ChunkRawBytes()/a.DType.Size(), uint64(k))
						if err := shard.PutChunk(ctx, e, path, a, c, r); err != nil {
							t.Fatal(err)
						}
						m.put(c, r)
					}
				}
				checkModel(t, e, path, m)
				if _, err := shard.CompactArray(ctx, e, path, a); err != nil {
					t.Fatal(err)
				}
				checkModel(t, e, path, m)
			})
		}
	}
}

func TestCreateOpenArray(t *testing.T) {
	root, e := openEngine(t)
	a := shard.Array{Shape: []int{10, 12}, DType: shard.Int32, ShardShape: []int{5, 6}, ChunkShape: []int{5, 3}}
	// A root group with attributes is kept as it is.
	rootGroup := []byte(`{"zarr_format": 3, "node_type": "group", "attributes": {"title": "kept"}}`)
	if err := os.WriteFile(filepath.Join(root, "zarr.json"), rootGroup, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := shard.CreateArray(ctx, e, "data/deep/small", a); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := read("zarr.json"); !bytes.Equal(got, rootGroup) {
		t.Errorf("root zarr.json changed: %s", got)
	}
	for _, p := range []string{"data/zarr.json", "data/deep/zarr.json"} {
		if got := read(p); !bytes.Equal(got, mustGroup()) {
			t.Errorf("%s:\n%s", p, got)
		}
	}
	if got := read("data/deep/small/zarr.json"); string(got) != smallJSON {
		t.Errorf("array zarr.json:\n%s", got)
	}
	got, err := shard.OpenArray(ctx, e, "data/deep/small")
	if err != nil || !sameArray(got, a) {
		t.Errorf("OpenArray = %+v, %v", got, err)
	}

	if err := shard.CreateArray(ctx, e, "data/deep/small", a); !errors.Is(err, shard.ErrArrayExists) {
		t.Errorf("second CreateArray: %v", err)
	}
	if err := shard.CreateArray(ctx, e, "data", a); !errors.Is(err, shard.ErrArrayExists) {
		t.Errorf("CreateArray over a group: %v", err)
	}
	if err := shard.CreateArray(ctx, e, "data/deep/small/inner", a); !errors.Is(err, shard.ErrInvalidArray) {
		t.Errorf("CreateArray inside an array: %v", err)
	}
	// Stale shards without a zarr.json.
	if err := e.Put(ctx, "stale/c/0/0", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := shard.CreateArray(ctx, e, "stale", a); !errors.Is(err, shard.ErrArrayExists) {
		t.Errorf("CreateArray over stale shards: %v", err)
	}
	for _, p := range []string{"", "/x", "a//b", "a/zarr.json/b", ".rangetx/x", "a/../b"} {
		if err := shard.CreateArray(ctx, e, p, a); !errors.Is(err, shard.ErrInvalidArray) {
			t.Errorf("CreateArray(%q): %v", p, err)
		}
	}
	if err := shard.CreateArray(ctx, e, "x", shard.Array{}); !errors.Is(err, shard.ErrInvalidArray) {
		t.Errorf("CreateArray of an invalid array: %v", err)
	}

	if _, err := shard.OpenArray(ctx, e, "nothing"); !errors.Is(err, shard.ErrNotArray) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenArray of nothing: %v", err)
	}
	if _, err := shard.OpenArray(ctx, e, "data"); !errors.Is(err, shard.ErrNotArray) {
		t.Errorf("OpenArray of a group: %v", err)
	}
	// Concurrent creators: exactly one wins.
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- shard.CreateArray(ctx, e, "race/a", a) }()
	}
	won := 0
	for range 8 {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, shard.ErrArrayExists):
			t.Errorf("concurrent CreateArray: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent CreateArray calls succeeded, want 1", won)
	}
}

func TestArrayShards(t *testing.T) {
	_, e := openEngine(t)
	a := shard.Array{Shape: []int{30, 5}, DType: shard.Uint8, ShardShape: []int{2, 5}, ChunkShape: []int{1, 5}}
	if err := shard.CreateArray(ctx, e, "a", a); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]int{{21, 0}, {0, 0}, {4, 0}, {5, 0}} {
		if err := shard.PutChunk(ctx, e, "a", a, c, make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
	}
	// Not shard keys of this array: ignored.
	for _, k := range []string{"a/c/99/0", "a/c/1", "a/c/01/0", "a/c/3/0/0", "a/cx"} {
		if err := e.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	shards, err := shard.ArrayShards(ctx, e, "a", a)
	if want := [][]int{{0, 0}, {2, 0}, {10, 0}}; err != nil || !reflect.DeepEqual(shards, want) {
		t.Errorf("ArrayShards = %v, %v; want %v", shards, err, want)
	}
}
