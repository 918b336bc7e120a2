package shard_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rangetx/rangetx/shard"
)

// TestReadMissing: a missing shard reads as all empty, not an error.
func TestReadMissing(t *testing.T) {
	_, e := openEngine(t)
	l := shard.Layout{Chunks: []int{2, 2}, IndexCRC: true}
	if d, ok, err := shard.Read(ctx, e, "none", l, []int{1, 1}); d != nil || ok || err != nil {
		t.Errorf("Read = %q, %v, %v", d, ok, err)
	}
	all, err := shard.ReadAll(ctx, e, "none", l)
	if err != nil || len(all) != 4 {
		t.Fatalf("ReadAll = %v, %v", all, err)
	}
	for i, c := range all {
		if c != nil {
			t.Errorf("chunk %d = %q", i, c)
		}
	}
	in, err := shard.Inspect(ctx, e, "none", l)
	if err != nil || in.Exists || in.Size != 0 || in.Entries != nil {
		t.Errorf("Inspect = %+v, %v", in, err)
	}
}

// TestReadHandWritten reads a shard written byte by byte, with chunks out
// of order and a gap, as another implementation might store it.
func TestReadHandWritten(t *testing.T) {
	_, e := openEngine(t)
	l := shard.Layout{Chunks: []int{3}, IndexCRC: true}
	data := []byte("..BBBB..AA")
	idx := shard.EncodeIndex(l, []shard.Entry{{8, 2}, shard.EmptyEntry, {2, 4}})
	if err := e.Put(ctx, "hand", bytes.NewReader(append(data, idx...))); err != nil {
		t.Fatal(err)
	}
	all, err := shard.ReadAll(ctx, e, "hand", l)
	if err != nil {
		t.Fatal(err)
	}
	if string(all[0]) != "AA" || all[1] != nil || string(all[2]) != "BBBB" {
		t.Errorf("ReadAll = %q", all)
	}
	if d, ok, err := shard.Read(ctx, e, "hand", l, []int{2}); string(d) != "BBBB" || !ok || err != nil {
		t.Errorf("Read = %q, %v, %v", d, ok, err)
	}
	in, err := shard.Inspect(ctx, e, "hand", l)
	if err != nil || !in.Exists || in.Size != 10+52 || in.Live != 6 || in.Dead != 4 || in.Chunks() != 2 {
		t.Errorf("Inspect = %+v, %v", in, err)
	}
}

// TestCorruptShard: a stored shard with a bad CRC, a truncated index or an
// entry out of bounds is ErrCorruptIndex for every reader and writer, and
// Update and Compact leave it untouched.
func TestCorruptShard(t *testing.T) {
	root, e := openEngine(t)
	l := shard.Layout{Chunks: []int{2}, IndexCRC: true}
	good := append([]byte("abcd"), shard.EncodeIndex(l, []shard.Entry{{0, 4}, shard.EmptyEntry})...)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-2] ^= 0x40
	outside := append([]byte("abcd"), shard.EncodeIndex(l, []shard.Entry{{2, 4}, shard.EmptyEntry})...)
	for name, v := range map[string][]byte{
		"crc":       badCRC,
		"truncated": good[:20], // shorter than the 36-byte index
		"outside":   outside,   // entry runs into the index
		"empty":     {},
	} {
		t.Run(name, func(t *testing.T) {
			key := "bad/" + name
			if err := e.Put(ctx, key, bytes.NewReader(v)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := shard.Read(ctx, e, key, l, []int{0}); !errors.Is(err, shard.ErrCorruptIndex) {
				t.Errorf("Read = %v", err)
			}
			if _, err := shard.ReadAll(ctx, e, key, l); !errors.Is(err, shard.ErrCorruptIndex) {
				t.Errorf("ReadAll = %v", err)
			}
			if _, _, err := shard.DeadSpace(ctx, e, key, l); !errors.Is(err, shard.ErrCorruptIndex) {
				t.Errorf("DeadSpace = %v", err)
			}
			called := false
			err := shard.Update(ctx, e, key, l, func(w *shard.Writer) error { called = true; return w.Put([]int{1}, []byte("x")) })
			if !errors.Is(err, shard.ErrCorruptIndex) || called {
				t.Errorf("Update = %v (fn called: %v)", err, called)
			}
			if _, err := shard.Compact(ctx, e, key, l); !errors.Is(err, shard.ErrCorruptIndex) {
				t.Errorf("Compact = %v", err)
			}
			if b := raw(t, root, e, key); !bytes.Equal(b, v) {
				t.Errorf("corrupt shard changed: %x -> %x", v, b)
			}
		})
	}
}

// TestSharedBytesNotOverwritten: when two entries share bytes (allowed by
// the format), a same-size Put of one appends instead of overwriting the
// other's bytes.
func TestSharedBytesNotOverwritten(t *testing.T) {
	_, e := openEngine(t)
	l := shard.Layout{Chunks: []int{2}}
	v := append([]byte("same"), shard.EncodeIndex(l, []shard.Entry{{0, 4}, {0, 4}})...)
	if err := e.Put(ctx, "dedup", bytes.NewReader(v)); err != nil {
		t.Fatal(err)
	}
	if live, dead, err := shard.DeadSpace(ctx, e, "dedup", l); live != 4 || dead != 0 || err != nil {
		t.Errorf("DeadSpace = %d, %d, %v; want 4, 0", live, dead, err)
	}
	err := shard.Update(ctx, e, "dedup", l, func(w *shard.Writer) error { return w.Put([]int{1}, []byte("diff")) })
	if err != nil {
		t.Fatal(err)
	}
	all, err := shard.ReadAll(ctx, e, "dedup", l)
	if err != nil || string(all[0]) != "same" || string(all[1]) != "diff" {
		t.Errorf("ReadAll = %q, %v", all, err)
	}
}
