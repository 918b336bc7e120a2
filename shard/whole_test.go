package shard_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rangetx/rangetx/shard"
)

// TestEncodeShardBytes checks a whole shard against hand-computed bytes
// (the index of TestEncodeIndexBytes): chunks packed in C order, then the
// index, or the index first.
func TestEncodeShardBytes(t *testing.T) {
	const absent = "ffffffffffffffff ffffffffffffffff"
	chunks := [][]byte{[]byte("abc"), nil, []byte("defgh"), nil}
	for _, c := range []struct {
		name string
		l    shard.Layout
		want string
	}{
		{"end", shard.Layout{Chunks: []int{2, 2}, IndexCRC: true},
			"6162 63 6465666768" +
				"0000000000000000 0300000000000000" + absent +
				"0300000000000000 0500000000000000" + absent + "87ef39f4"},
		{"start", shard.Layout{Chunks: []int{2, 2}, IndexAtStart: true, IndexCRC: true},
			"4400000000000000 0300000000000000" + absent +
				"4700000000000000 0500000000000000" + absent + "e01665e8" +
				"616263 6465666768"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := shard.EncodeShard(c.l, chunks)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, c.want); !bytes.Equal(got, want) {
				t.Fatalf("EncodeShard =\n%x\nwant\n%x", got, want)
			}
			back, err := shard.DecodeShard(c.l, got)
			if err != nil {
				t.Fatal(err)
			}
			for i := range chunks {
				if !bytes.Equal(back[i], chunks[i]) || (back[i] == nil) != (chunks[i] == nil) {
					t.Fatalf("chunk %d: got %q, want %q", i, back[i], chunks[i])
				}
			}
		})
	}
}

// TestEncodeShardMatchesCompact: a compacted shard written through
// transactions is byte for byte the whole shard EncodeShard builds from the
// same chunks.
func TestEncodeShardMatchesCompact(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		root, e := openEngine(t)
		put(t, e, "s", l, map[int][]byte{0: fill('a', 7), 4: fill('b', 3), 5: fill('c', 9)})
		put(t, e, "s", l, map[int][]byte{4: fill('d', 5)}) // appended: dead space
		if _, err := shard.Compact(ctx, e, "s", l); err != nil {
			t.Fatal(err)
		}
		chunks, err := shard.ReadAll(ctx, e, "s", l)
		if err != nil {
			t.Fatal(err)
		}
		want, err := shard.EncodeShard(l, chunks)
		if err != nil {
			t.Fatal(err)
		}
		if got := raw(t, root, e, "s"); !bytes.Equal(got, want) {
			t.Fatalf("compacted shard\n%x\nEncodeShard\n%x", got, want)
		}
	})
}

// TestDecodeShardRejects: a truncated, torn, bit-flipped or empty shard is
// ErrCorruptIndex, and so is a byte appended after an end index; a chunk of the wrong fixed size is ErrChunkSize.
func TestDecodeShardRejects(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		good, err := shard.EncodeShard(l, [][]byte{fill('a', 40), nil, fill('b', 40), nil, nil, fill('c', 40)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := shard.DecodeShard(l, good); err != nil {
			t.Fatal(err)
		}
		flipped := bytes.Clone(good)
		if l.IndexAtStart {
			flipped[3] ^= 1
		} else {
			flipped[len(flipped)-10] ^= 1
		}
		for name, b := range map[string][]byte{
			"empty":      nil,
			"first half": good[:len(good)/2],
			"last byte":  good[:len(good)-1],
			"index flip": flipped,
		} {
			if _, err := shard.DecodeShard(l, b); !errors.Is(err, shard.ErrCorruptIndex) {
				t.Errorf("%s: err = %v, want ErrCorruptIndex", name, err)
			}
		}
		// A byte past an end index moves where the index is looked for;
		// past a start index it is only dead space.
		_, err = shard.DecodeShard(l, append(bytes.Clone(good), 0))
		if l.IndexAtStart && err != nil || !l.IndexAtStart && !errors.Is(err, shard.ErrCorruptIndex) {
			t.Errorf("one byte more: err = %v", err)
		}
	})
	fixed := shard.Layout{Chunks: []int{2}, IndexCRC: true, ChunkBytes: 4}
	if _, err := shard.EncodeShard(fixed, [][]byte{[]byte("abc"), nil}); !errors.Is(err, shard.ErrChunkSize) {
		t.Fatalf("wrong fixed size: err = %v, want ErrChunkSize", err)
	}
	if _, err := shard.EncodeShard(shard.Layout{Chunks: []int{0}}, nil); !errors.Is(err, shard.ErrInvalidLayout) {
		t.Fatalf("bad layout: err = %v, want ErrInvalidLayout", err)
	}
}
