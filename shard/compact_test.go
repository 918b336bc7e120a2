package shard_test

import (
	"bytes"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

// TestCompact: Compact reclaims exactly the dead bytes, keeps every chunk's
// bytes, packs them in C order and leaves an index that decodes.
func TestCompact(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		root, e := openEngine(t)
		const key = "arr/c/9"
		put(t, e, key, l, map[int][]byte{5: fill('f', 5), 1: fill('b', 3), 3: fill('d', 8)})
		put(t, e, key, l, map[int][]byte{1: fill('B', 9), 0: fill('a', 2)}) // 3 dead
		if err := shard.Update(ctx, e, key, l, func(w *shard.Writer) error { return w.Delete([]int{1, 0}) }); err != nil {
			t.Fatal(err) // chunk 3: 8 more dead
		}
		before, err := shard.ReadAll(ctx, e, key, l)
		if err != nil {
			t.Fatal(err)
		}
		live, dead, err := shard.DeadSpace(ctx, e, key, l)
		if err != nil || live != 16 || dead != 11 {
			t.Fatalf("DeadSpace = %d, %d, %v; want 16, 11", live, dead, err)
		}
		if in, err := shard.Inspect(ctx, e, key, l); err != nil || in.DeadRatio() != 11.0/27 {
			t.Fatalf("DeadRatio = %v, %v; want 11/27", in.DeadRatio(), err)
		}
		oldSize := len(raw(t, root, e, key))
		n, err := shard.Compact(ctx, e, key, l)
		if err != nil || n != dead {
			t.Fatalf("Compact = %d, %v; want %d", n, err, dead)
		}
		b := raw(t, root, e, key)
		if int64(len(b)) != int64(oldSize)-dead || int64(len(b)) != l.IndexBytes()+live {
			t.Errorf("size %d, want %d", len(b), l.IndexBytes()+live)
		}
		entries := decodeRaw(t, l, b)
		off := uint64(0)
		if l.IndexAtStart {
			off = uint64(l.IndexBytes())
		}
		for i, en := range entries {
			if en.Empty() {
				if before[i] != nil {
					t.Errorf("chunk %d lost", i)
				}
				continue
			}
			if en.Offset != off {
				t.Errorf("chunk %d at %d, want %d (packed in C order)", i, en.Offset, off)
			}
			off += en.NBytes
			if !bytes.Equal(chunkOf(b, en), before[i]) {
				t.Errorf("chunk %d = %q, want %q", i, chunkOf(b, en), before[i])
			}
		}
		if live2, dead2, err := shard.DeadSpace(ctx, e, key, l); live2 != live || dead2 != 0 || err != nil {
			t.Errorf("DeadSpace after = %d, %d, %v", live2, dead2, err)
		}
		// Already compact: nothing to do, nothing changes.
		if n, err := shard.Compact(ctx, e, key, l); n != 0 || err != nil {
			t.Errorf("second Compact = %d, %v", n, err)
		}
		if b2 := raw(t, root, e, key); !bytes.Equal(b2, b) {
			t.Error("compacting a compact shard changed it")
		}
		// And it still takes updates.
		put(t, e, key, l, map[int][]byte{2: []byte("new")})
		if d, ok, err := shard.Read(ctx, e, key, l, []int{0, 2}); string(d) != "new" || !ok || err != nil {
			t.Errorf("Read after Compact+Put = %q, %v, %v", d, ok, err)
		}
	})
}

// TestCompactEdges: a missing shard reclaims nothing; an index-only shard
// is deleted whole.
func TestCompactEdges(t *testing.T) {
	root, e := openEngine(t)
	l := shard.Layout{Chunks: []int{2}, IndexCRC: true}
	if n, err := shard.Compact(ctx, e, "none", l); n != 0 || err != nil {
		t.Errorf("Compact(missing) = %d, %v", n, err)
	}
	if b := raw(t, root, e, "none"); b != nil {
		t.Error("Compact created a shard")
	}
	empty := shard.EncodeIndex(l, []shard.Entry{shard.EmptyEntry, shard.EmptyEntry})
	if err := e.Put(ctx, "idx-only", bytes.NewReader(append([]byte("dead"), empty...))); err != nil {
		t.Fatal(err)
	}
	if n, err := shard.Compact(ctx, e, "idx-only", l); n != 4+l.IndexBytes() || err != nil {
		t.Errorf("Compact(index only) = %d, %v; want %d", n, err, 4+l.IndexBytes())
	}
	if b := raw(t, root, e, "idx-only"); b != nil {
		t.Error("index-only shard not deleted")
	}
}

// TestCompactMemory: compacting a 60 MiB shard (40 MiB live) allocates less than one of
// its 4 MiB chunks: the live chunks are copied file to file, never read into
// memory.
func TestCompactMemory(t *testing.T) {
	root, e := openEngine(t)
	l := shard.Layout{Chunks: []int{10}, IndexCRC: true}
	const key, chunk = "big/c/0", 4 << 20
	chunks := map[int][]byte{}
	for i := range 10 {
		chunks[i] = fill(byte('a'+i), chunk)
	}
	put(t, e, key, l, chunks)
	for i := range 5 { // a new size: appended, the old bytes dead
		put(t, e, key, l, map[int][]byte{2 * i: fill(byte('A'+i), chunk+1)})
	}
	before, err := shard.ReadAll(ctx, e, key, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	n, err := shard.Compact(ctx, e, key, l)
	runtime.ReadMemStats(&m1)
	if err != nil || n != 5*chunk {
		t.Fatalf("Compact = %d, %v; want %d", n, err, 5*chunk)
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc >= chunk {
		t.Errorf("Compact allocated %d bytes, at least a whole chunk", alloc)
	} else {
		t.Logf("Compact of a %d MiB shard allocated %d KiB", (15*chunk+5)>>20, alloc>>10)
	}
	after, err := shard.ReadAll(ctx, e, key, l)
	if err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if !bytes.Equal(before[i], after[i]) {
			t.Fatalf("chunk %d changed in the compaction", i)
		}
	}
	if got := int64(len(raw(t, root, e, key))); got != 5*chunk+5*(chunk+1)+l.IndexBytes() {
		t.Fatalf("compacted shard is %d bytes", got)
	}
}

// TestCompactBehindFailedUpdate: a Compact that began behind a queued
// Update reads that Update's index; when the Update's batch fails before
// its commit point, the Compact fails with txn.ErrAborted rather than
// packing the old file's bytes under the failed Update's index.
func TestCompactBehindFailedUpdate(t *testing.T) {
	_, e := openEngine(t)
	l := shard.Layout{Chunks: []int{4}, IndexCRC: true}
	const key = "arr/c/0"
	chunks := map[int][]byte{0: fill('a', 100), 1: fill('b', 100), 2: fill('c', 100), 3: fill('d', 100)}
	put(t, e, key, l, chunks)
	put(t, e, key, l, map[int][]byte{1: fill('B', 50)}) // dead space to compact
	chunks[1] = fill('B', 50)
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected")
	in, out := make(chan struct{}), make(chan error, 1)
	var once sync.Once
	t.Cleanup(crashpoint.Install(func(name, k string) error {
		var err error
		if name == crashpoint.JournalAppend && k == key {
			once.Do(func() { close(in); err = <-out })
		}
		return err
	}))
	upd := make(chan error, 1)
	go func() {
		upd <- shard.Update(ctx, e, key, l, func(w *shard.Writer) error { return w.Put([]int{0}, fill('A', 10)) })
	}()
	<-in // the Update is queued, its batch held before the journal write
	comp := make(chan error, 1)
	go func() { _, err := shard.Compact(ctx, e, key, l); comp <- err }()
	time.Sleep(50 * time.Millisecond) // let the Compact reach its commit
	out <- injected
	if err := <-upd; !errors.Is(err, injected) {
		t.Fatalf("update = %v", err)
	}
	if err := <-comp; !errors.Is(err, txn.ErrAborted) {
		t.Errorf("Compact behind a failed Update = %v, want txn.ErrAborted", err)
	}
	got, err := shard.ReadAll(ctx, e, key, l)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range chunks {
		if !bytes.Equal(got[i], want) {
			t.Errorf("chunk %d = %q..., want %q...", i, got[i][:min(8, len(got[i]))], want[:8])
		}
	}
}
