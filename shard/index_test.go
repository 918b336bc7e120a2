package shard_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/rangetx/rangetx/shard"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodeIndexBytes checks the encoding against hand-computed bytes: a
// 2x2 shard, entries in C order, offset then nbytes little-endian, empties
// all 0xff, and the CRC-32C of the 64 entry bytes as a little-endian uint32.
func TestEncodeIndexBytes(t *testing.T) {
	const (
		e00    = "0000000000000000 0300000000000000" // (0,0): offset 0, 3 bytes
		e10    = "0300000000000000 0500000000000000" // (1,0): offset 3, 5 bytes
		e00s   = "4400000000000000 0300000000000000" // index at start: offset 68
		e10s   = "4700000000000000 0500000000000000" // offset 71
		absent = "ffffffffffffffff ffffffffffffffff"
	)
	for _, c := range []struct {
		name    string
		l       shard.Layout
		entries []shard.Entry
		want    string
		size    int64
	}{
		{"end", shard.Layout{Chunks: []int{2, 2}, IndexCRC: true},
			[]shard.Entry{{0, 3}, shard.EmptyEntry, {3, 5}, shard.EmptyEntry},
			e00 + absent + e10 + absent + "87ef39f4", 8 + 68},
		{"end-nocrc", shard.Layout{Chunks: []int{2, 2}},
			[]shard.Entry{{0, 3}, shard.EmptyEntry, {3, 5}, shard.EmptyEntry},
			e00 + absent + e10 + absent, 8 + 64},
		{"start", shard.Layout{Chunks: []int{2, 2}, IndexAtStart: true, IndexCRC: true},
			[]shard.Entry{{68, 3}, shard.EmptyEntry, {71, 5}, shard.EmptyEntry},
			e00s + absent + e10s + absent + "e01665e8", 68 + 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := unhex(t, c.want)
			got := shard.EncodeIndex(c.l, c.entries)
			if !bytes.Equal(got, want) {
				t.Fatalf("EncodeIndex =\n%x\nwant\n%x", got, want)
			}
			back, err := shard.DecodeIndex(c.l, want, c.size)
			if err != nil {
				t.Fatal(err)
			}
			for i := range back {
				if back[i] != c.entries[i] {
					t.Errorf("entry %d = %+v, want %+v", i, back[i], c.entries[i])
				}
			}
			if !back[1].Empty() || back[0].Empty() {
				t.Errorf("Empty: %v %v", back[0].Empty(), back[1].Empty())
			}
		})
	}
}

// TestCRCIsCastagnoli checks the index CRC against a bitwise CRC-32C,
// itself checked against the standard check value of "123456789".
func TestCRCIsCastagnoli(t *testing.T) {
	if got := crc32cBitwise([]byte("123456789")); got != 0xe3069283 {
		t.Fatalf("reference CRC-32C check value %#x", got)
	}
	l := shard.Layout{Chunks: []int{3}, IndexCRC: true}
	b := shard.EncodeIndex(l, []shard.Entry{{1, 2}, {0x0102030405060708, 9}, shard.EmptyEntry})
	if got, want := binary.LittleEndian.Uint32(b[48:]), crc32cBitwise(b[:48]); got != want {
		t.Errorf("CRC %#x, want %#x", got, want)
	}
}

func crc32cBitwise(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x82f63b78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

func TestDecodeIndexCorrupt(t *testing.T) {
	end := shard.Layout{Chunks: []int{2, 2}, IndexCRC: true}
	start := shard.Layout{Chunks: []int{2, 2}, IndexAtStart: true, IndexCRC: true}
	noCRC := shard.Layout{Chunks: []int{2, 2}}
	good := shard.EncodeIndex(end, []shard.Entry{{0, 3}, shard.EmptyEntry, {3, 5}, shard.EmptyEntry})
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	flipped := bytes.Clone(good)
	flipped[0] ^= 1 // entry byte changed, CRC kept
	enc := func(l shard.Layout, es ...shard.Entry) []byte {
		for len(es) < 4 {
			es = append(es, shard.EmptyEntry)
		}
		return shard.EncodeIndex(l, es)
	}
	for _, c := range []struct {
		name string
		l    shard.Layout
		b    []byte
		size int64
	}{
		{"bad crc", end, badCRC, 76},
		{"entry changed under crc", end, flipped, 76},
		{"truncated", end, good[:len(good)-1], 75},
		{"too long", end, append(bytes.Clone(good), 0), 77},
		{"shard shorter than index", end, good, 60},
		{"past data region (end)", noCRC, enc(noCRC, shard.Entry{0, 9}), 64 + 8},
		{"into index (end)", noCRC, enc(noCRC, shard.Entry{7, 2}), 64 + 8},
		{"overlaps index (start)", start, enc(start, shard.Entry{60, 8}), 68 + 8},
		{"past end (start)", start, enc(start, shard.Entry{70, 7}), 68 + 8},
		{"offset+nbytes overflows", noCRC, enc(noCRC, shard.Entry{8, math.MaxUint64 - 4}), 64 + 16},
		{"offset past int64", noCRC, enc(noCRC, shard.Entry{1 << 63, 0}), 64 + 16},
		{"half empty", noCRC, enc(noCRC, shard.Entry{math.MaxUint64, 0}), 64 + 16},
		{"half empty nbytes", noCRC, enc(noCRC, shard.Entry{0, math.MaxUint64}), 64 + 16},
	} {
		if _, err := shard.DecodeIndex(c.l, c.b, c.size); !errors.Is(err, shard.ErrCorruptIndex) {
			t.Errorf("%s: DecodeIndex = %v, want ErrCorruptIndex", c.name, err)
		}
	}
	// The boundaries themselves are fine.
	for _, c := range []struct {
		l    shard.Layout
		e    shard.Entry
		size int64
	}{{noCRC, shard.Entry{0, 8}, 72}, {start, shard.Entry{68, 8}, 76}, {noCRC, shard.Entry{8, 0}, 72}} {
		if _, err := shard.DecodeIndex(c.l, enc(c.l, c.e), c.size); err != nil {
			t.Errorf("%+v in %d bytes: %v", c.e, c.size, err)
		}
	}
}
