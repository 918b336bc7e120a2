package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rangetx/rangetx/interop"
	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

// TestShardRace runs the README's shard race: 8 writer processes update
// inner chunks of the same shards at once, three are SIGKILLed (two in the
// middle of writing a shard), then recovery. Through rangetx every
// acknowledged chunk must be there and every shard must decode; the naive
// read-modify-writes of the same workload must lose acknowledged chunks,
// the one that renames whole files to stale copies alone. The shards
// rangetx wrote are then read by zarrita.
func TestShardRace(t *testing.T) {
	root := t.TempDir()
	r := rangetx(t, nil, nil, "shard", "race", "--root", root, "--json")
	if r.code != 0 {
		t.Fatalf("shard race exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep raceReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	t.Logf("naive %+v", rep.InPlace)
	t.Logf("naive-rename %+v", rep.Rename)
	t.Logf("rangetx %+v", rep.Rangetx)
	rt := rep.Rangetx
	if rt.Lost != 0 || rt.Undecodable != 0 || rt.Unexpected != 0 {
		t.Errorf("rangetx lost %d chunks, %d shards do not decode, %d chunks unexpected", rt.Lost, rt.Undecodable, rt.Unexpected)
	}
	// The two crash-point kills always happen; the one from outside
	// could, in theory, come after its writer has finished.
	if rt.Killed < 2 {
		t.Errorf("rangetx run: %d writers killed, want at least 2", rt.Killed)
	}
	// The writers killed in the middle of an in-place write left committed,
	// unapplied entries that someone had to replay. (Replays by a writer
	// killed before its next report go uncounted, so only one is required.)
	if rt.Settled+rt.Replayed < 1 {
		t.Errorf("no entries of killed writers were replayed")
	}
	// Every writer that was not killed finished all its updates.
	if min := (raceWorkers - len(raceKills)) * len(racePlan(raceArrayDef, 0)); rt.Acked < min || rt.Failed != 0 {
		t.Errorf("rangetx acknowledged %d updates, fewer than the %d of the writers never killed", rt.Acked, min)
	}
	if rep.InPlace.Lost == 0 {
		t.Errorf("the naive read-modify-write lost nothing: %+v", rep.InPlace)
	}
	if rep.Rename.Undecodable != 0 || rep.Rename.LostInTorn != 0 {
		t.Errorf("renaming whole files left shards that do not decode: %+v", rep.Rename)
	}
	// Its read-modify-write spans a write and two fsyncs: in 100 runs it
	// never lost fewer than 14 of the 64 chunks.
	if rep.Rename.LostStale == 0 {
		t.Errorf("renaming whole files lost nothing to stale copies: %+v", rep.Rename)
	}
	if rep.Shards != 4 || rep.Chunks != 64 || rep.Updates != 384 {
		t.Errorf("report describes %d shards, %d chunks, %d updates", rep.Shards, rep.Chunks, rep.Updates)
	}

	t.Run("zarrita", func(t *testing.T) {
		dir := filepath.Join(root, "rangetx")
		e, err := txn.Open(context.Background(), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		a := raceArrayDef
		want := make([]byte, len(a.FillChunk())*len(raceChunks(a)))
		for id, c := range raceChunks(a) {
			raw, err := shard.GetChunk(context.Background(), e, raceArray, a, c)
			if err != nil {
				t.Fatal(err)
			}
			v, err := raceVersion(a, id, raw)
			if err != nil {
				t.Fatal(err)
			}
			placeChunk(a, want, c, raceContent(a, id, v))
		}
		interop.Check(t, dir, []interop.Array{{Path: raceArray, DType: string(a.DType), Shape: a.Shape, Expected: want}})
	})
}

// placeChunk copies the raw elements of a whole inner chunk of a 2-D array
// whose chunks tile it exactly into the array's raw elements.
func placeChunk(a shard.Array, arr []byte, chunk []int, raw []byte) {
	size := a.DType.Size()
	rows, cols := a.ChunkShape[0], a.ChunkShape[1]
	for r := range rows {
		at := ((chunk[0]*rows+r)*a.Shape[1] + chunk[1]*cols) * size
		copy(arr[at:at+cols*size], raw[r*cols*size:])
	}
}

// TestRaceCheck: the race's verification catches each way a store can be
// wrong — a missing acknowledged write, a torn shard, a version never
// written — and accepts an in-flight write.
func TestRaceCheck(t *testing.T) {
	a := raceArrayDef
	root := t.TempDir()
	ev := env{stderr: os.Stderr}
	acked := map[int]int{}
	// Version 2 of every chunk of worker 3, and version 1 of worker 5's
	// chunks, written as the naive writer does.
	for _, w := range []int{3, 5} {
		for _, u := range racePlan(a, w) {
			if w == 5 && u.version > 1 || u.version > 2 {
				continue
			}
			if err := naivePut(root, a, u, w == 5, false, ev); err != nil {
				t.Fatal(err)
			}
			acked[u.id] = u.version
		}
	}
	check := func(acked, inflight map[int]int) raceOutcome {
		t.Helper()
		out, err := raceCheck(root, a, acked, inflight)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := check(acked, nil); out != (raceOutcome{}) {
		t.Fatalf("a store holding exactly what was acknowledged: %+v", out)
	}
	some := racePlan(a, 3)[0].id
	claim := func(id, v int) map[int]int {
		m := map[int]int{}
		for k, x := range acked {
			m[k] = x
		}
		m[id] = v
		return m
	}
	if out := check(claim(some, 3), nil); out != (raceOutcome{Lost: 1, LostStale: 1}) {
		t.Errorf("an acknowledged version 3 that is not there: %+v", out)
	}
	if out := check(claim(some, 1), map[int]int{some: 2}); out != (raceOutcome{}) {
		t.Errorf("version 2 in flight over an acknowledged 1: %+v", out)
	}
	if out := check(claim(some, 1), nil); out != (raceOutcome{Unexpected: 1}) {
		t.Errorf("version 2 never acknowledged nor in flight: %+v", out)
	}
	// Garble chunk some: a valid index over bytes of another chunk.
	file := raceShardFile(root, a, racePlan(a, 3)[0].chunk)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := shard.DecodeShard(a.Layout(), b)
	if err != nil {
		t.Fatal(err)
	}
	_, local, _ := a.ShardOf(racePlan(a, 3)[0].chunk)
	i, _ := a.Layout().Linear(local)
	garbled := slices.Clone(chunks)
	for j, c := range chunks {
		if j != i && c != nil {
			garbled[i] = c
		}
	}
	g, err := shard.EncodeShard(a.Layout(), garbled)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, g, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := check(acked, nil); out != (raceOutcome{Lost: 1, LostGarbled: 1, Unexpected: 1}) {
		t.Errorf("a chunk holding another chunk's bytes: %+v", out)
	}
	// Tear the shard as a writer killed while rewriting it in place does.
	if err := os.WriteFile(file, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	inShard := 0
	for id, c := range raceChunks(a) {
		if raceShardFile(root, a, c) == file && acked[id] > 0 {
			inShard++
		}
	}
	if inShard != 4 {
		t.Fatalf("%d acknowledged chunks in the torn shard, want 4 (2 of each writer)", inShard)
	}
	if out := check(acked, nil); out != (raceOutcome{Undecodable: 1, Lost: inShard, LostInTorn: inShard}) {
		t.Errorf("a torn shard: %+v", out)
	}
	// The naive writer refuses to touch it.
	if err := naivePut(root, a, racePlan(a, 3)[0], false, false, ev); !errors.Is(err, shard.ErrCorruptIndex) {
		t.Errorf("naive put over a torn shard: %v", err)
	}
}

func TestShardRaceUsage(t *testing.T) {
	if r := rangetx(t, nil, nil, "shard", "race", "extra"); r.code != 2 {
		t.Fatalf("shard race extra: exit %d, want 2", r.code)
	}
	if r := rangetx(t, nil, nil, "shard", "race", "--workers", "3"); r.code != 2 {
		t.Fatalf("shard race --workers: exit %d, want 2", r.code)
	}
	used := t.TempDir()
	if err := os.Mkdir(filepath.Join(used, "rangetx"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := rangetx(t, nil, nil, "shard", "race", "--root", used); r.code != 2 || !strings.Contains(r.stderr, "earlier run") {
		t.Fatalf("shard race on a used root: exit %d, %s", r.code, r.stderr)
	}
}
