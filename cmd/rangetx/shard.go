package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// shardUsage is the usage of the shard command and its subcommands, printed
// after a usage error, for "rangetx shard help" and in the command list.
const shardUsage = `shard create  --root DIR ARRAY --dtype uint8|int32|float32|float64 --shape N,... --shards N,... --chunks N,... [--index-location end|start] [--chunk-crc] [--gzip] [--fill N]
  rangetx shard put     --root DIR ARRAY I,J,... FILE|-
  rangetx shard get     --root DIR ARRAY I,J,...
  rangetx shard stat    --root DIR ARRAY S,T,... [--json]
  rangetx shard compact --root DIR ARRAY S,T,...
  rangetx shard race    [--root DIR] [--json]
      ARRAY: the array's path under the root. I,J,...: inner-chunk coordinates; S,T,...: shard coordinates.
      put FILE (- is stdin) and get's output: the chunk's raw little-endian elements, full chunk shape even at the edge.
      stat lists the stored entries only (chunk = inner-chunk coordinates in the array, as put and get take them).
      Exit 2 (nothing written): no or an unknown subcommand, a bad flag or flag value, --shape/--shards/--chunks/--fill
      that make no valid array (chunks must divide shards), --chunk-crc with --gzip, a coordinate list that is not
      integers separated by commas. Exit 1 (nothing written): coordinates of the wrong rank or out of range,
      a FILE of the wrong size, a missing root or array, an existing array (create).
      race: 8 writer processes update the inner chunks of one array's shards at once, 3 are killed; run without rangetx
      (read-modify-write of the shard files, in place and by rename) and through rangetx, in DIR/naive, DIR/naive-rename
      and DIR/rangetx (DIR a temporary directory by default; exit 2 if it holds an earlier run). Exit 1 if the rangetx
      run lost an acknowledged chunk or left a shard that does not decode.`

var shardCommands = []struct {
	name string
	run  func(ctx context.Context, ev env, args []string) error
}{
	{"create", runShardCreate},
	{"put", runShardPut},
	{"get", runShardGet},
	{"stat", runShardStat},
	{"compact", runShardCompact},
	{"race", runShardRace},
}

func runShard(ctx context.Context, ev env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: want a subcommand: create, put, get, stat, compact or race", errUsage)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprintf(ev.stderr, "usage: rangetx %s\n", shardUsage)
		return nil
	}
	for _, c := range shardCommands {
		if c.name == args[0] {
			if err := c.run(ctx, ev, args[1:]); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: unknown subcommand %q (want create, put, get, stat, compact or race)", errUsage, args[0])
}

// parseInts parses a comma-separated list of decimal integers; "" is the
// empty list (a 0-d array). A list that is not integers separated by commas
// is a usage error; an integer that does not fit an int is reported with
// tooBig, which the caller maps to its own error.
func parseInts(what, s string, tooBig error) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return []int{}, nil
	}
	parts := strings.Split(s, ",")
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 0)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, fmt.Errorf("%s %q: %s does not fit: %w", what, s, p, tooBig)
			}
			return nil, fmt.Errorf("%w: %s %q is not a comma-separated list of integers", errUsage, what, s)
		}
		out[i] = int(n)
	}
	return out, nil
}

// fmtInts formats coordinates as the command line takes them.
func fmtInts(c []int) string {
	s := make([]string, len(c))
	for i, v := range c {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

// arrayArgs parses the positionals ARRAY COORDS [rest...] of the
// subcommands that address one chunk or one shard.
func arrayArgs(pos []string, want int, usage, coordName string) (path string, coords []int, err error) {
	if len(pos) != want {
		return "", nil, fmt.Errorf("%w: want %s", errUsage, usage)
	}
	path = pos[0]
	coords, err = parseInts(coordName, pos[1], shard.ErrInvalidCoords)
	if err != nil {
		if errors.Is(err, errUsage) {
			return "", nil, err
		}
		return "", nil, fmt.Errorf("array %q: %w", path, err)
	}
	if err := store.ValidateKey(path); err != nil {
		return "", nil, fmt.Errorf("array: %w", err)
	}
	return path, coords, nil
}

// openArray opens the engine on an existing root and reads the array's
// metadata. The caller closes the engine.
func openArray(ctx context.Context, ev env, f *flags, path string) (*txn.Engine, shard.Array, error) {
	e, err := openEngine(ctx, ev, f, txn.ModeAuto, false)
	if err != nil {
		return nil, shard.Array{}, err
	}
	a, err := shard.OpenArray(ctx, e, path)
	if err != nil {
		e.Close()
		return nil, shard.Array{}, err // names the array
	}
	return e, a, nil
}

func runShardCreate(ctx context.Context, ev env, args []string) error {
	f := newFlags("shard create", true)
	dtype := f.String("dtype", "", "element type: uint8, int32, float32 or float64")
	shape := f.String("shape", "", "array shape, N,N,...")
	shards := f.String("shards", "", "shard shape, N,N,...")
	chunks := f.String("chunks", "", "inner chunk shape, N,N,... (must divide the shard shape)")
	where := f.String("index-location", "end", "where each shard keeps its index: end or start")
	crc := f.Bool("chunk-crc", false, "append a CRC-32C to every inner chunk")
	gz := f.Bool("gzip", false, "gzip every inner chunk")
	fill := f.Float64("fill", 0, "fill value of chunks never written")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want ARRAY", errUsage)
	}
	path := pos[0]
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, name := range []string{"dtype", "shape", "shards", "chunks"} {
		if !set[name] {
			return fmt.Errorf("%w: --%s is required", errUsage, name)
		}
	}
	a := shard.Array{Fill: *fill, ChunkCRC: *crc, Gzip: *gz}
	if a.DType, err = shard.ParseDType(*dtype); err != nil {
		return fmt.Errorf("%w: --dtype: %v", errUsage, err)
	}
	for _, l := range []struct {
		name string
		val  string
		dst  *[]int
	}{{"--shape", *shape, &a.Shape}, {"--shards", *shards, &a.ShardShape}, {"--chunks", *chunks, &a.ChunkShape}} {
		if *l.dst, err = parseInts(l.name, l.val, errUsage); err != nil {
			if !errors.Is(err, errUsage) {
				err = fmt.Errorf("%w: %v", errUsage, err)
			}
			return err
		}
	}
	switch *where {
	case "end":
	case "start":
		a.IndexAtStart = true
	default:
		return fmt.Errorf("%w: --index-location %q: want end or start", errUsage, *where)
	}
	if a.ChunkCRC && a.Gzip {
		return fmt.Errorf("%w: --chunk-crc with --gzip is not supported (a gzipped chunk carries its own CRC-32)", errUsage)
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%w: array %q: %v", errUsage, path, err)
	}
	if err := store.ValidateKey(path); err != nil {
		return fmt.Errorf("array: %w", err)
	}
	e, err := openEngine(ctx, ev, f, txn.ModeAuto, true)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := shard.CreateArray(ctx, e, path, a); err != nil {
		return fmt.Errorf("array %q: %w", path, err)
	}
	return nil
}

func runShardPut(ctx context.Context, ev env, args []string) error {
	f := newFlags("shard put", true)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	path, chunk, err := arrayArgs(pos, 3, "ARRAY I,J,... FILE|-", "inner-chunk coordinates")
	if err != nil {
		return err
	}
	// Read the whole chunk before touching the store, so a bad argument
	// writes nothing.
	var raw []byte
	if pos[2] == "-" {
		raw, err = io.ReadAll(ev.stdin)
	} else {
		raw, err = os.ReadFile(pos[2])
	}
	if err != nil {
		return fmt.Errorf("array %q: chunk %s: %w", path, fmtInts(chunk), err)
	}
	e, a, err := openArray(ctx, ev, f, path)
	if err != nil {
		return err
	}
	defer e.Close()
	if _, _, err := a.ShardOf(chunk); err != nil {
		return fmt.Errorf("array %q: chunk %s: %w", path, fmtInts(chunk), err)
	}
	if want := a.ChunkRawBytes(); len(raw) != want {
		return fmt.Errorf("array %q: chunk %s: %s is %d bytes, want %d (chunk shape %v of %s): %w",
			path, fmtInts(chunk), fileName(pos[2]), len(raw), want, a.ChunkShape, a.DType, shard.ErrChunkSize)
	}
	if err := shard.PutChunk(ctx, e, path, a, chunk, raw); err != nil {
		return fmt.Errorf("array %q: chunk %s: %w", path, fmtInts(chunk), err)
	}
	return nil
}

func fileName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

func runShardGet(ctx context.Context, ev env, args []string) error {
	f := newFlags("shard get", true)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	path, chunk, err := arrayArgs(pos, 2, "ARRAY I,J,...", "inner-chunk coordinates")
	if err != nil {
		return err
	}
	e, a, err := openArray(ctx, ev, f, path)
	if err != nil {
		return err
	}
	defer e.Close()
	if _, _, err := a.ShardOf(chunk); err != nil {
		return fmt.Errorf("array %q: chunk %s: %w", path, fmtInts(chunk), err)
	}
	raw, err := shard.GetChunk(ctx, e, path, a, chunk)
	if err != nil {
		return fmt.Errorf("array %q: chunk %s: %w", path, fmtInts(chunk), err)
	}
	w := bufio.NewWriterSize(ev.stdout, 1<<20)
	if _, err := w.Write(raw); err != nil {
		return err
	}
	return w.Flush()
}

// shardGrid returns the number of shards along each dimension:
// ceil(Shape / ShardShape).
func shardGrid(a shard.Array) []int {
	g := make([]int, len(a.Shape))
	for d := range g {
		g[d] = (a.Shape[d] + a.ShardShape[d] - 1) / a.ShardShape[d]
	}
	return g
}

// shardArgs parses ARRAY S,T,... and opens the array, checking the shard
// coordinates against its shard grid. It returns the shard's key.
func shardArgs(ctx context.Context, ev env, f *flags, args []string) (e *txn.Engine, a shard.Array, coords []int, key string, err error) {
	pos, err := f.parse(args)
	if err != nil {
		return nil, a, nil, "", err
	}
	path, coords, err := arrayArgs(pos, 2, "ARRAY S,T,...", "shard coordinates")
	if err != nil {
		return nil, a, nil, "", err
	}
	e, a, err = openArray(ctx, ev, f, path)
	if err != nil {
		return nil, a, nil, "", err
	}
	g := shardGrid(a)
	bad := len(coords) != len(g)
	for d := 0; !bad && d < len(g); d++ {
		bad = coords[d] < 0 || coords[d] >= g[d]
	}
	if bad {
		e.Close()
		return nil, a, nil, "", fmt.Errorf("array %q: shard %s outside the array's %v shards: %w", path, fmtInts(coords), g, shard.ErrInvalidCoords)
	}
	return e, a, coords, a.ShardKey(path, coords), nil
}

// shardStat is what stat prints with --json.
type shardStat struct {
	Key    string `json:"key"`
	Exists bool   `json:"exists"`
	Size   int64  `json:"size"`
	Live   int64  `json:"live"`
	Dead   int64  `json:"dead"`
	// DeadRatio is Dead / (Live + Dead), 0 without dead bytes.
	DeadRatio float64 `json:"dead_ratio"`
	// Entries lists the stored inner chunks only, in C order; an inner
	// chunk that is not listed is empty (it reads as the fill value).
	Entries []statEntry `json:"entries"`
}

type statEntry struct {
	// Chunk is the inner chunk's coordinates in the array, as put and get
	// take them (not its position within the shard).
	Chunk  []int  `json:"chunk"`
	Offset uint64 `json:"offset"`
	NBytes uint64 `json:"nbytes"`
}

func runShardStat(ctx context.Context, ev env, args []string) error {
	f := newFlags("shard stat", true)
	asJSON := f.Bool("json", false, "print as JSON")
	e, a, sc, key, err := shardArgs(ctx, ev, f, args)
	if err != nil {
		return err
	}
	defer e.Close()
	l := a.Layout()
	in, err := shard.Inspect(ctx, e, key, l)
	if err != nil {
		return fmt.Errorf("shard %s (%s): %w", fmtInts(sc), key, err)
	}
	st := shardStat{Key: key, Exists: in.Exists, Size: in.Size, Live: in.Live, Dead: in.Dead, DeadRatio: in.DeadRatio(), Entries: []statEntry{}}
	for i, en := range in.Entries {
		if en.Empty() {
			continue
		}
		// C-order position i -> position in the shard -> in the array.
		c := make([]int, len(l.Chunks))
		for d, r := len(l.Chunks)-1, i; d >= 0; d-- {
			c[d] = sc[d]*l.Chunks[d] + r%l.Chunks[d]
			r /= l.Chunks[d]
		}
		st.Entries = append(st.Entries, statEntry{c, en.Offset, en.NBytes})
	}
	if *asJSON {
		enc := json.NewEncoder(ev.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	w := bufio.NewWriter(ev.stdout)
	fmt.Fprintf(w, "shard %s\n", key)
	if !st.Exists {
		fmt.Fprintf(w, "not stored: every inner chunk reads as the fill value\n")
	}
	fmt.Fprintf(w, "size %d\nlive %d\ndead %d\ndead ratio %.3f\n", st.Size, st.Live, st.Dead, st.DeadRatio)
	fmt.Fprintf(w, "stored chunks %d of %d (index %d bytes at the %s; chunk offset nbytes):\n",
		len(st.Entries), l.NumChunks(), l.IndexBytes(), map[bool]string{false: "end", true: "start"}[l.IndexAtStart])
	for _, en := range st.Entries {
		c := fmtInts(en.Chunk)
		if c == "" {
			c = "()" // the one chunk of a 0-d array
		}
		fmt.Fprintf(w, "  %s %d %d\n", c, en.Offset, en.NBytes)
	}
	return w.Flush()
}

func runShardCompact(ctx context.Context, ev env, args []string) error {
	f := newFlags("shard compact", true)
	e, a, sc, key, err := shardArgs(ctx, ev, f, args)
	if err != nil {
		return err
	}
	defer e.Close()
	n, err := shard.Compact(ctx, e, key, a.Layout())
	if err != nil {
		return fmt.Errorf("shard %s (%s): %w", fmtInts(sc), key, err)
	}
	fmt.Fprintf(ev.stdout, "shard %s: reclaimed %d bytes\n", key, n)
	return nil
}
