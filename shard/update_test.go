package shard_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rangetx/rangetx/shard"
)

// TestNewShard: the first Update creates the shard with a full index in
// which every other entry is empty, at the exact size.
func TestNewShard(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		root, e := openEngine(t)
		data := []byte("hello")
		put(t, e, "a/c/0/0", l, map[int][]byte{4: data})
		b := raw(t, root, e, "a/c/0/0")
		ib := l.IndexBytes()
		if int64(len(b)) != ib+5 {
			t.Fatalf("size %d, want %d", len(b), ib+5)
		}
		idx, dataOff := b[5:], int64(0)
		if l.IndexAtStart {
			idx, dataOff = b[:ib], ib
		}
		if !bytes.Equal(b[dataOff:dataOff+5], data) {
			t.Errorf("data at %d = %q", dataOff, b[dataOff:dataOff+5])
		}
		want := make([]shard.Entry, 6)
		for i := range want {
			want[i] = shard.EmptyEntry
		}
		want[4] = shard.Entry{Offset: uint64(dataOff), NBytes: 5}
		if !bytes.Equal(idx, shard.EncodeIndex(l, want)) {
			t.Errorf("index %x, want %x", idx, shard.EncodeIndex(l, want))
		}
		for i := range 6 {
			if i != 4 && !bytes.Equal(idx[16*i:16*i+16], fill(0xff, 16)) {
				t.Errorf("entry %d not all 0xff: %x", i, idx[16*i:16*i+16])
			}
		}
	})
}

// TestInPlaceOverwrite: a Put of the same size changes exactly the chunk's
// bytes and nothing else, not even the index.
func TestInPlaceOverwrite(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		root, e := openEngine(t)
		const key = "arr/c/1"
		put(t, e, key, l, map[int][]byte{1: fill('a', 10), 3: fill('b', 7)})
		before := raw(t, root, e, key)
		en := decodeRaw(t, l, before)[1]
		put(t, e, key, l, map[int][]byte{1: []byte("0123456789")})
		after := raw(t, root, e, key)
		if len(after) != len(before) {
			t.Fatalf("size %d -> %d", len(before), len(after))
		}
		for i := range after {
			inside := uint64(i) >= en.Offset && uint64(i) < en.Offset+en.NBytes
			if !inside && after[i] != before[i] {
				t.Errorf("byte %d outside chunk [%d,+%d) changed", i, en.Offset, en.NBytes)
			}
		}
		if got := chunkOf(after, en); string(got) != "0123456789" {
			t.Errorf("chunk = %q", got)
		}
		if live, dead, err := shard.DeadSpace(ctx, e, key, l); err != nil || live != 17 || dead != 0 {
			t.Errorf("DeadSpace = %d, %d, %v; want 17, 0", live, dead, err)
		}
	})
}

// TestAppendLeavesDeadSpace: a Put of another size appends, rewrites the
// entry and leaves the old bytes behind as dead space.
func TestAppendLeavesDeadSpace(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		root, e := openEngine(t)
		const key = "arr/c/2"
		put(t, e, key, l, map[int][]byte{0: fill('a', 10), 5: fill('b', 7)})
		before := raw(t, root, e, key)
		old := decodeRaw(t, l, before)
		put(t, e, key, l, map[int][]byte{0: fill('c', 12)})
		after := raw(t, root, e, key)
		if len(after) != len(before)+12 {
			t.Fatalf("size %d -> %d, want +12", len(before), len(after))
		}
		entries := decodeRaw(t, l, after)
		want := shard.Entry{Offset: uint64(17), NBytes: 12}
		if l.IndexAtStart {
			want.Offset += uint64(l.IndexBytes())
		}
		if entries[0] != want {
			t.Errorf("entry 0 = %+v, want %+v", entries[0], want)
		}
		if entries[5] != old[5] {
			t.Errorf("entry 5 moved: %+v -> %+v", old[5], entries[5])
		}
		if !bytes.Equal(chunkOf(after, entries[0]), fill('c', 12)) || !bytes.Equal(chunkOf(after, entries[5]), fill('b', 7)) {
			t.Error("chunk bytes wrong after append")
		}
		if !bytes.Equal(chunkOf(after, old[0]), fill('a', 10)) {
			t.Error("old bytes of chunk 0 not left as dead space")
		}
		if live, dead, err := shard.DeadSpace(ctx, e, key, l); err != nil || live != 19 || dead != 10 {
			t.Errorf("DeadSpace = %d, %d, %v; want 19, 10", live, dead, err)
		}
	})
}

// TestDelete: Delete empties the entry; the bytes become dead space; when
// the last chunk goes the shard is deleted.
func TestDelete(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		root, e := openEngine(t)
		const key = "arr/c/3"
		put(t, e, key, l, map[int][]byte{0: fill('a', 10), 2: fill('b', 7)})
		size := len(raw(t, root, e, key))
		if err := shard.Update(ctx, e, key, l, func(w *shard.Writer) error { return w.Delete([]int{0, 0}) }); err != nil {
			t.Fatal(err)
		}
		b := raw(t, root, e, key)
		if len(b) != size {
			t.Errorf("size %d -> %d", size, len(b))
		}
		if en := decodeRaw(t, l, b); !en[0].Empty() || en[2].Empty() {
			t.Errorf("entries after delete: %+v", en)
		}
		if _, ok, err := shard.Read(ctx, e, key, l, []int{0, 0}); ok || err != nil {
			t.Errorf("Read deleted chunk: ok=%v err=%v", ok, err)
		}
		if live, dead, err := shard.DeadSpace(ctx, e, key, l); err != nil || live != 7 || dead != 10 {
			t.Errorf("DeadSpace = %d, %d, %v; want 7, 10", live, dead, err)
		}
		// Deleting the last chunk (and an already empty one) removes the shard.
		err := shard.Update(ctx, e, key, l, func(w *shard.Writer) error {
			if err := w.Delete([]int{1, 2}); err != nil {
				return err
			}
			return w.Delete([]int{0, 2})
		})
		if err != nil {
			t.Fatal(err)
		}
		if b := raw(t, root, e, key); b != nil {
			t.Errorf("all-empty shard still stored: %d bytes", len(b))
		}
	})
}

// TestEmptyUpdateOfMissingShard: an Update that stores nothing leaves a
// missing shard missing, even after a Put it then deletes.
func TestEmptyUpdateOfMissingShard(t *testing.T) {
	root, e := openEngine(t)
	l := shard.Layout{Chunks: []int{2}, IndexCRC: true}
	for _, fn := range []func(w *shard.Writer) error{
		nil,
		func(w *shard.Writer) error { return nil },
		func(w *shard.Writer) error {
			if err := w.Put([]int{1}, []byte("x")); err != nil {
				return err
			}
			return w.Delete([]int{1})
		},
	} {
		if err := shard.Update(ctx, e, "s", l, fn); err != nil {
			t.Fatal(err)
		}
		if b := raw(t, root, e, "s"); b != nil {
			t.Fatalf("shard created: %d bytes", len(b))
		}
	}
}

// TestUpdateAtomic: several Puts in one Update commit together or not at
// all: an error or panic after them leaves the shard as it was.
func TestUpdateAtomic(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		root, e := openEngine(t)
		const key = "arr/c/4"
		boom := errors.New("boom")
		twoPuts := func(w *shard.Writer) {
			if err := w.Put([]int{0, 1}, []byte("first")); err != nil {
				t.Fatal(err)
			}
			if err := w.Put([]int{1, 1}, []byte("second")); err != nil {
				t.Fatal(err)
			}
		}
		// New shard: nothing created.
		err := shard.Update(ctx, e, key, l, func(w *shard.Writer) error { twoPuts(w); return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want boom", err)
		}
		if b := raw(t, root, e, key); b != nil {
			t.Fatalf("failed Update created the shard: %d bytes", len(b))
		}
		// Existing shard: unchanged, byte for byte, after an error and a panic.
		put(t, e, key, l, map[int][]byte{1: []byte("first"), 2: fill('z', 4)})
		before := raw(t, root, e, key)
		err = shard.Update(ctx, e, key, l, func(w *shard.Writer) error {
			twoPuts(w)
			if err := w.Delete([]int{0, 2}); err != nil {
				t.Fatal(err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want boom", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic swallowed")
				}
			}()
			shard.Update(ctx, e, key, l, func(w *shard.Writer) error { twoPuts(w); panic("boom") })
		}()
		if after := raw(t, root, e, key); !bytes.Equal(after, before) {
			t.Errorf("shard changed by failed Updates:\n%x\n%x", before, after)
		}
		all, err := shard.ReadAll(ctx, e, key, l)
		if err != nil {
			t.Fatal(err)
		}
		if string(all[1]) != "first" || string(all[2]) != "zzzz" || all[4] != nil {
			t.Errorf("ReadAll = %q", all)
		}
	})
}

// TestBadArguments: invalid coords or a wrong fixed chunk size are errors
// wrapping the sentinel, and stage nothing even if fn carries on.
func TestBadArguments(t *testing.T) {
	root, e := openEngine(t)
	l := shard.Layout{Chunks: []int{2, 2}, IndexCRC: true, ChunkBytes: 4}
	const key = "fixed"
	put(t, e, key, l, map[int][]byte{0: []byte("abcd")})
	before := raw(t, root, e, key)
	var putErrs []error
	err := shard.Update(ctx, e, key, l, func(w *shard.Writer) error {
		putErrs = append(putErrs,
			w.Put([]int{0, 1}, []byte("abc")),   // too short, new chunk
			w.Put([]int{0, 0}, []byte("abcde")), // too long, existing chunk
			w.Put([]int{2, 0}, []byte("abcd")),  // out of range
			w.Put([]int{0}, []byte("abcd")),     // wrong rank
			w.Delete([]int{0, -1}),
		)
		_, _, err := w.Get([]int{0, 0, 0})
		putErrs = append(putErrs, err)
		return nil // ignore them: nothing must have been staged
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []error{shard.ErrChunkSize, shard.ErrChunkSize, shard.ErrInvalidCoords, shard.ErrInvalidCoords, shard.ErrInvalidCoords, shard.ErrInvalidCoords}
	for i, err := range putErrs {
		if !errors.Is(err, want[i]) {
			t.Errorf("call %d: %v, want %v", i, err, want[i])
		}
	}
	if after := raw(t, root, e, key); !bytes.Equal(after, before) {
		t.Error("rejected calls changed the shard")
	}
	// Returned from fn, the error comes back from Update.
	err = shard.Update(ctx, e, key, l, func(w *shard.Writer) error { return w.Put([]int{1, 1}, nil) })
	if !errors.Is(err, shard.ErrChunkSize) {
		t.Errorf("Update = %v, want ErrChunkSize", err)
	}
	if _, _, err := shard.Read(ctx, e, key, l, []int{5, 5}); !errors.Is(err, shard.ErrInvalidCoords) {
		t.Errorf("Read = %v, want ErrInvalidCoords", err)
	}
	bad := shard.Layout{Chunks: []int{0}}
	if err := shard.Update(ctx, e, key, bad, func(*shard.Writer) error { return nil }); !errors.Is(err, shard.ErrInvalidLayout) {
		t.Errorf("Update with bad layout = %v", err)
	}
	if _, err := shard.ReadAll(ctx, e, key, bad); !errors.Is(err, shard.ErrInvalidLayout) {
		t.Errorf("ReadAll with bad layout = %v", err)
	}
}

// TestWriterGet: Get sees the Update's own writes, and the Writer refuses
// use after its Update.
func TestWriterGet(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		_, e := openEngine(t)
		put(t, e, "g", l, map[int][]byte{0: []byte("old0"), 1: []byte("old1")})
		var kept *shard.Writer
		err := shard.Update(ctx, e, "g", l, func(w *shard.Writer) error {
			kept = w
			check := func(c []int, want string, wantOK bool) {
				t.Helper()
				d, ok, err := w.Get(c)
				if err != nil || ok != wantOK || string(d) != want {
					t.Errorf("Get(%v) = %q, %v, %v; want %q, %v", c, d, ok, err, want, wantOK)
				}
			}
			check([]int{0, 0}, "old0", true)
			check([]int{0, 2}, "", false)
			w.Put([]int{0, 0}, []byte("new0"))        // in place
			w.Put([]int{0, 1}, []byte("longer one"))  // appended
			w.Put([]int{0, 2}, []byte("fresh chunk")) // appended over the old index (end)
			w.Delete([]int{1, 0})
			check([]int{0, 0}, "new0", true)
			check([]int{0, 1}, "longer one", true)
			check([]int{0, 2}, "fresh chunk", true)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := kept.Put([]int{0, 0}, []byte("late")); !errors.Is(err, shard.ErrWriterDone) {
			t.Errorf("Put after Update = %v, want ErrWriterDone", err)
		}
		all, err := shard.ReadAll(ctx, e, "g", l)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"new0", "longer one", "fresh chunk", "", "", ""}
		for i := range want {
			if string(all[i]) != want[i] || (want[i] == "") != (all[i] == nil) {
				t.Errorf("chunk %d = %q, want %q", i, all[i], want[i])
			}
		}
	})
}
