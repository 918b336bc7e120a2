package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// statJSON is what "shard stat --json" prints.
type statJSON struct {
	Key     string  `json:"key"`
	Exists  bool    `json:"exists"`
	Size    int64   `json:"size"`
	Live    int64   `json:"live"`
	Dead    int64   `json:"dead"`
	Ratio   float64 `json:"dead_ratio"`
	Entries []struct {
		Chunk  []int  `json:"chunk"`
		Offset uint64 `json:"offset"`
		NBytes uint64 `json:"nbytes"`
	} `json:"entries"`
}

func shardStatJSON(t *testing.T, root, array, coords string) statJSON {
	t.Helper()
	r := ok(t, rangetx(t, nil, nil, "shard", "stat", "--root", root, array, coords, "--json"))
	var st statJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("stat --json printed %q: %v", r.stdout, err)
	}
	if st.Entries == nil {
		t.Fatalf("stat --json has no entries array: %q", r.stdout)
	}
	return st
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// fillBytes returns n elements of dtype holding v, little-endian.
func fillBytes(dtype string, v float64, n int) []byte {
	var one []byte
	switch dtype {
	case "uint8":
		one = []byte{uint8(v)}
	case "int32":
		one = binary.LittleEndian.AppendUint32(nil, uint32(int32(v)))
	case "float32":
		one = binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(v)))
	case "float64":
		one = binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))
	}
	return bytes.Repeat(one, n)
}

var dtypeSize = map[string]int{"uint8": 1, "int32": 4, "float32": 4, "float64": 8}

// An array of 22x31 elements in shards of 10x15 and chunks of 5x5: a 5x7
// chunk grid (the last row and column of chunks cross the edge), a 3x3
// shard grid, 2x3 chunks per shard.
var gridArgs = []string{"--shape", "22,31", "--shards", "10,15", "--chunks", "5,5"}

func createArray(t *testing.T, root, array, dtype string, extra ...string) {
	t.Helper()
	args := append([]string{"shard", "create", "--root", root, array, "--dtype", dtype}, gridArgs...)
	ok(t, rangetx(t, nil, nil, append(args, extra...)...))
}

func TestShardRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		dtype  string
		layout []string
	}{
		{"uint8", nil},
		{"int32", []string{"--chunk-crc"}},
		{"float32", []string{"--gzip", "--index-location", "start"}},
		{"float64", []string{"--chunk-crc", "--index-location", "start"}},
	} {
		dtype, layout := c.dtype, c.layout
		t.Run(dtype+strings.Join(layout, ""), func(t *testing.T) {
			t.Parallel()
			root, tmp := t.TempDir(), t.TempDir()
			createArray(t, root, "data/temperature", dtype, layout...)
			if _, err := os.Stat(filepath.Join(root, "data", "temperature", "zarr.json")); err != nil {
				t.Fatalf("create wrote no zarr.json: %v", err)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(dtype))))
			n := 25 * dtypeSize[dtype]
			chunks := map[string][]byte{"0,0": randBytes(rng, n), "1,2": randBytes(rng, n), "4,6": randBytes(rng, n)}
			for c, raw := range chunks {
				ok(t, rangetx(t, nil, nil, "shard", "put", "--root", root, "data/temperature", c, writeFile(t, tmp, c, raw)))
			}
			// from standard input, and with the root from the environment
			chunks["3,3"] = randBytes(rng, n)
			ok(t, rangetx(t, chunks["3,3"], []string{"RANGETX_ROOT=" + root}, "shard", "put", "data/temperature", "3,3", "-"))
			for c, raw := range chunks {
				r := ok(t, rangetx(t, nil, nil, "shard", "get", "--root", root, "data/temperature", c))
				if r.stdout != string(raw) {
					t.Fatalf("chunk %s: get returned %d bytes that differ from the %d put", c, len(r.stdout), len(raw))
				}
			}
			// A chunk never written reads as the (default 0) fill value.
			r := ok(t, rangetx(t, nil, nil, "shard", "get", "data/temperature", "2,0", "--root", root))
			if r.stdout != string(make([]byte, n)) {
				t.Fatalf("empty chunk: get = %x", r.stdout)
			}
			// Chunks 1,2 and 0,0 share shard 0,0; 4,6 is alone in 2,2.
			st := shardStatJSON(t, root, "data/temperature", "0,0")
			if st.Key != "data/temperature/c/0/0" || !st.Exists || len(st.Entries) != 2 {
				t.Fatalf("stat 0,0 = %+v", st)
			}
			if fi, err := os.Stat(filepath.Join(root, "data", "temperature", "c", "0", "0")); err != nil || fi.Size() != st.Size {
				t.Fatalf("shard file: %v, stat size %d", err, st.Size)
			}
			st = shardStatJSON(t, root, "data/temperature", "2,2")
			if len(st.Entries) != 1 || fmt.Sprint(st.Entries[0].Chunk) != "[4 6]" {
				t.Fatalf("stat 2,2 entries = %+v", st.Entries)
			}
			if slices.Contains(layout, "start") && st.Entries[0].Offset < 6*16+4 {
				t.Fatalf("index at the start, but chunk data at offset %d", st.Entries[0].Offset)
			}
		})
	}
}

func TestShardFill(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, c := range []struct {
		dtype, fill string
		v           float64
	}{{"uint8", "7", 7}, {"int32", "-3", -3}, {"float32", "7", 7}, {"float64", "-2.5", -2.5}} {
		array := "fill/" + c.dtype
		createArray(t, root, array, c.dtype, "--fill", c.fill)
		for _, chunk := range []string{"0,0", "4,6"} {
			r := ok(t, rangetx(t, nil, nil, "shard", "get", "--root", root, array, chunk))
			if want := fillBytes(c.dtype, c.v, 25); r.stdout != string(want) {
				t.Fatalf("%s --fill %s, chunk %s: get = %x, want %x", c.dtype, c.fill, chunk, r.stdout, want)
			}
		}
	}
	// float32 7 is 0x40e00000.
	r := ok(t, rangetx(t, nil, nil, "shard", "get", "--root", root, "fill/float32", "1,1"))
	if !strings.HasPrefix(r.stdout, "\x00\x00\xe0\x40") {
		t.Fatalf("float32 fill 7 = %x", r.stdout[:4])
	}
}

func TestShardStatCompactGzip(t *testing.T) {
	t.Parallel()
	root, tmp := t.TempDir(), t.TempDir()
	ok(t, rangetx(t, nil, nil, "shard", "create", "--root", root, "g", "--dtype", "uint8",
		"--shape", "20,20", "--shards", "10,10", "--chunks", "5,5", "--gzip"))
	// Before anything is written: not stored.
	st := shardStatJSON(t, root, "g", "0,0")
	if st.Exists || st.Size != 0 || len(st.Entries) != 0 {
		t.Fatalf("stat of an unwritten shard = %+v", st)
	}
	if r := ok(t, rangetx(t, nil, nil, "shard", "stat", "--root", root, "g", "0,0")); !strings.Contains(r.stdout, "not stored") {
		t.Fatalf("stat text of an unwritten shard:\n%s", r.stdout)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	first := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 5)
	ok(t, rangetx(t, nil, nil, "shard", "put", "--root", root, "g", "0,0", writeFile(t, tmp, "a", first)))
	ok(t, rangetx(t, nil, nil, "shard", "put", "--root", root, "g", "1,1", writeFile(t, tmp, "b", first)))
	const index = 4*16 + 4
	st = shardStatJSON(t, root, "g", "0,0")
	if !st.Exists || st.Dead != 0 || len(st.Entries) != 2 || st.Size != index+st.Live {
		t.Fatalf("stat after two puts = %+v", st)
	}
	if fmt.Sprint(st.Entries[0].Chunk, st.Entries[1].Chunk) != "[0 0] [1 1]" {
		t.Fatalf("entries = %+v", st.Entries)
	}
	old := st.Entries[0]

	// Incompressible data gzips to another length: appended, the old bytes dead.
	second := randBytes(rng, 25)
	ok(t, rangetx(t, nil, nil, "shard", "put", "--root", root, "g", "0,0", writeFile(t, tmp, "c", second)))
	st = shardStatJSON(t, root, "g", "0,0")
	if st.Dead != int64(old.NBytes) || st.Entries[0].Offset == old.Offset || st.Size != index+st.Live+st.Dead ||
		st.Ratio != float64(st.Dead)/float64(st.Live+st.Dead) {
		t.Fatalf("stat after an overwrite (old entry %+v) = %+v", old, st)
	}
	text := ok(t, rangetx(t, nil, nil, "shard", "stat", "--root", root, "g", "0,0")).stdout
	for _, want := range []string{
		"shard g/c/0/0\n",
		fmt.Sprintf("size %d\n", st.Size),
		fmt.Sprintf("live %d\n", st.Live),
		fmt.Sprintf("dead %d\n", st.Dead),
		fmt.Sprintf("dead ratio %.3f\n", st.Ratio),
		fmt.Sprintf("  0,0 %d %d\n", st.Entries[0].Offset, st.Entries[0].NBytes),
		fmt.Sprintf("  1,1 %d %d\n", st.Entries[1].Offset, st.Entries[1].NBytes),
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("stat text lacks %q:\n%s", want, text)
		}
	}

	r := ok(t, rangetx(t, nil, nil, "shard", "compact", "--root", root, "g", "0,0"))
	if want := fmt.Sprintf("reclaimed %d bytes", st.Dead); !strings.Contains(r.stdout, want) {
		t.Fatalf("compact printed %q, want %q", r.stdout, want)
	}
	after := shardStatJSON(t, root, "g", "0,0")
	if after.Dead != 0 || after.Ratio != 0 || after.Live != st.Live || after.Size != st.Size-st.Dead || len(after.Entries) != 2 {
		t.Fatalf("stat after compact = %+v (before %+v)", after, st)
	}
	if !strings.Contains(ok(t, rangetx(t, nil, nil, "shard", "stat", "--root", root, "g", "0,0")).stdout, "dead 0\n") {
		t.Fatal("stat text after compact does not say dead 0")
	}
	for c, want := range map[string][]byte{"0,0": second, "1,1": first, "0,1": make([]byte, 25)} {
		if r := ok(t, rangetx(t, nil, nil, "shard", "get", "--root", root, "g", c)); r.stdout != string(want) {
			t.Fatalf("after compact, chunk %s = %x, want %x", c, r.stdout, want)
		}
	}
	// Nothing left to reclaim; a shard never written has nothing either.
	for _, s := range []string{"0,0", "1,1"} {
		if r := ok(t, rangetx(t, nil, nil, "shard", "compact", "--root", root, "g", s)); !strings.Contains(r.stdout, "reclaimed 0 bytes") {
			t.Fatalf("second compact of %s printed %q", s, r.stdout)
		}
	}
}

func TestShardPutInPlace(t *testing.T) {
	t.Parallel()
	for _, layout := range [][]string{nil, {"--chunk-crc"}, {"--index-location", "start"}, {"--chunk-crc", "--index-location", "start"}} {
		t.Run(strings.Join(layout, ""), func(t *testing.T) {
			t.Parallel()
			root, tmp := t.TempDir(), t.TempDir()
			createArray(t, root, "p", "int32", layout...)
			rng := rand.New(rand.NewPCG(5, 6))
			ok(t, rangetx(t, nil, nil, "shard", "put", "--root", root, "p", "1,4", writeFile(t, tmp, "a", randBytes(rng, 100))))
			before := shardStatJSON(t, root, "p", "0,1")
			for i := range 2 {
				raw := randBytes(rng, 100)
				ok(t, rangetx(t, nil, nil, "shard", "put", "--root", root, "p", "1,4", writeFile(t, tmp, "b", raw)))
				st := shardStatJSON(t, root, "p", "0,1")
				if st.Size != before.Size || st.Dead != 0 || len(st.Entries) != 1 || fmt.Sprint(st.Entries[0]) != fmt.Sprint(before.Entries[0]) {
					t.Fatalf("overwrite %d: stat = %+v, before %+v", i, st, before)
				}
				if r := ok(t, rangetx(t, nil, nil, "shard", "get", "--root", root, "p", "1,4")); r.stdout != string(raw) {
					t.Fatalf("overwrite %d: get differs", i)
				}
			}
			wantNBytes := uint64(100)
			if layout != nil && layout[0] == "--chunk-crc" {
				wantNBytes += 4
			}
			if before.Entries[0].NBytes != wantNBytes || fmt.Sprint(before.Entries[0].Chunk) != "[1 4]" {
				t.Fatalf("entry = %+v, want chunk [1 4] of %d bytes", before.Entries[0], wantNBytes)
			}
		})
	}
}

func TestShardErrors(t *testing.T) {
	t.Parallel()
	root, tmp := t.TempDir(), t.TempDir()
	createArray(t, root, "a", "uint8", "--gzip")
	good := writeFile(t, tmp, "good", bytes.Repeat([]byte{9}, 25))
	short := writeFile(t, tmp, "short", make([]byte, 24))
	long := writeFile(t, tmp, "long", make([]byte, 26))
	ok(t, rangetx(t, nil, nil, "shard", "put", "--root", root, "a", "0,0", good))
	before := shardStatJSON(t, root, "a", "0,0")
	fresh := filepath.Join(tmp, "fresh-root")
	create := func(extra ...string) []string {
		return append([]string{"shard", "create", "--root", fresh, "x"}, extra...)
	}
	valid := []string{"--dtype", "uint8", "--shape", "20,20", "--shards", "10,10", "--chunks", "5,5"}
	cases := []struct {
		name  string
		code  int
		inErr string
		args  []string
		stdin []byte
	}{
		// exit 1: well-formed, but wrong for this array or store
		{"put short file", 1, "wrong encoded chunk size", []string{"shard", "put", "--root", root, "a", "0,0", short}, nil},
		{"put long file", 1, "25", []string{"shard", "put", "--root", root, "a", "1,1", long}, nil},
		{"put short stdin", 1, "standard input", []string{"shard", "put", "--root", root, "a", "1,1", "-"}, []byte("x")},
		{"put missing file", 1, "nope", []string{"shard", "put", "--root", root, "a", "1,1", filepath.Join(tmp, "nope")}, nil},
		{"put chunk past the edge", 1, "coordinates", []string{"shard", "put", "--root", root, "a", "5,0", good}, nil},
		{"put negative chunk", 1, "coordinates", []string{"shard", "put", "--root", root, "a", "0,-1", good}, nil},
		{"put chunk of the wrong rank", 1, "coordinates", []string{"shard", "put", "--root", root, "a", "0", good}, nil},
		{"put huge chunk", 1, "coordinates", []string{"shard", "put", "--root", root, "a", "99999999999999999999,0", good}, nil},
		{"get chunk past the edge", 1, "coordinates", []string{"shard", "get", "--root", root, "a", "0,7"}, nil},
		{"get chunk of the wrong rank", 1, "coordinates", []string{"shard", "get", "--root", root, "a", "0,0,0"}, nil},
		{"stat shard past the edge", 1, "coordinates", []string{"shard", "stat", "--root", root, "a", "3,0"}, nil},
		{"compact negative shard", 1, "coordinates", []string{"shard", "compact", "--root", root, "a", "-1,0"}, nil},
		{"get missing array", 1, "nothere", []string{"shard", "get", "--root", root, "nothere", "0,0"}, nil},
		{"put missing array", 1, "not a sharded array", []string{"shard", "put", "--root", root, "nothere", "0,0", good}, nil},
		{"stat missing array", 1, "nothere", []string{"shard", "stat", "--root", root, "nothere", "0,0"}, nil},
		{"stat missing root", 1, "root", []string{"shard", "stat", "--root", filepath.Join(tmp, "no-root"), "a", "0,0"}, nil},
		{"put missing root", 1, "root", []string{"shard", "put", "--root", filepath.Join(tmp, "no-root"), "a", "0,0", good}, nil},
		{"create existing array", 1, "already exists", []string{"shard", "create", "--root", root, "a", "--dtype", "uint8", "--shape", "20,20", "--shards", "10,10", "--chunks", "5,5"}, nil},
		{"create invalid path", 1, "invalid key", append([]string{"shard", "create", "--root", fresh, "../x"}, valid...), nil},
		// exit 2: bad usage
		{"no subcommand", 2, "subcommand", []string{"shard"}, nil},
		{"unknown subcommand", 2, "unknown subcommand", []string{"shard", "resize", "--root", root, "a"}, nil},
		{"put malformed chunk", 2, "comma-separated", []string{"shard", "put", "--root", root, "a", "0;0", good}, nil},
		{"put empty coordinate", 2, "comma-separated", []string{"shard", "put", "--root", root, "a", "1,,2", good}, nil},
		{"get letters", 2, "comma-separated", []string{"shard", "get", "--root", root, "a", "i,j"}, nil},
		{"stat float", 2, "comma-separated", []string{"shard", "stat", "--root", root, "a", "0.5,0"}, nil},
		{"put without file", 2, "FILE", []string{"shard", "put", "--root", root, "a", "0,0"}, nil},
		{"get without chunk", 2, "ARRAY", []string{"shard", "get", "--root", root, "a"}, nil},
		{"stat unknown flag", 2, "flag", []string{"shard", "stat", "--root", root, "a", "0,0", "--yaml"}, nil},
		{"create bad dtype", 2, "dtype", create("--dtype", "complex128", "--shape", "20,20", "--shards", "10,10", "--chunks", "5,5"), nil},
		{"create missing dtype", 2, "--dtype", create("--shape", "20,20", "--shards", "10,10", "--chunks", "5,5"), nil},
		{"create missing chunks", 2, "--chunks", create("--dtype", "uint8", "--shape", "20,20", "--shards", "10,10"), nil},
		{"create chunks not dividing shards", 2, "invalid array", create("--dtype", "uint8", "--shape", "20,20", "--shards", "10,10", "--chunks", "4,5"), nil},
		{"create ranks differ", 2, "invalid array", create("--dtype", "uint8", "--shape", "20,20", "--shards", "10", "--chunks", "5"), nil},
		{"create zero chunk", 2, "invalid array", create("--dtype", "uint8", "--shape", "20,20", "--shards", "10,10", "--chunks", "0,5"), nil},
		{"create malformed shape", 2, "--shape", create("--dtype", "uint8", "--shape", "20x20", "--shards", "10,10", "--chunks", "5,5"), nil},
		{"create chunk-crc with gzip", 2, "--gzip", create(append(valid, "--chunk-crc", "--gzip")...), nil},
		{"create bad index location", 2, "index-location", create(append(valid, "--index-location", "middle")...), nil},
		{"create fill out of range", 2, "fill", create(append(valid, "--fill", "300")...), nil},
		{"create fill not a number", 2, "fill", create(append(valid, "--fill", "seven")...), nil},
		{"create extra argument", 2, "ARRAY", create(append(valid, "y")...), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rangetx(t, c.stdin, nil, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, c.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.inErr) {
				t.Fatalf("stderr %q does not mention %q", r.stderr, c.inErr)
			}
			if c.code == 2 && !strings.Contains(r.stderr, "usage: rangetx shard create") {
				t.Fatalf("a usage error without the sub-usage: %q", r.stderr)
			}
		})
	}
	// Nothing was written: the shard, its chunk, the fresh root.
	if after := shardStatJSON(t, root, "a", "0,0"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a failed command changed the shard: %+v, before %+v", after, before)
	}
	if r := ok(t, rangetx(t, nil, nil, "shard", "get", "--root", root, "a", "0,0")); r.stdout != strings.Repeat("\x09", 25) {
		t.Fatalf("a failed command changed chunk 0,0: %x", r.stdout)
	}
	if r := ok(t, rangetx(t, nil, nil, "shard", "get", "--root", root, "a", "1,1")); r.stdout != string(make([]byte, 25)) {
		t.Fatalf("a failed put wrote chunk 1,1: %x", r.stdout)
	}
	for _, dir := range []string{fresh, filepath.Join(tmp, "no-root"), filepath.Join(root, "nothere"), filepath.Join(root, "x")} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("a failed command created %s", dir)
		}
	}
	// help is not an error
	if r := rangetx(t, nil, nil, "shard", "help"); r.code != 0 || !strings.Contains(r.stderr, "rangetx shard compact") {
		t.Fatalf("shard help: exit %d, %q", r.code, r.stderr)
	}
	if r := rangetx(t, nil, nil); !strings.Contains(r.stderr, "rangetx shard stat") {
		t.Fatalf("the command list lacks shard: %q", r.stderr)
	}
}
