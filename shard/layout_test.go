package shard_test

import (
	"errors"
	"testing"

	"github.com/rangetx/rangetx/shard"
)

func TestLayoutValidate(t *testing.T) {
	for _, l := range []shard.Layout{
		{Chunks: []int{2, 0}},
		{Chunks: []int{-1}},
		{Chunks: []int{1 << 13, 1 << 13}}, // 2^26 > MaxChunks
		{Chunks: []int{4}, ChunkBytes: -1},
	} {
		if err := l.Validate(); !errors.Is(err, shard.ErrInvalidLayout) {
			t.Errorf("%+v: Validate = %v, want ErrInvalidLayout", l, err)
		}
	}
	for _, l := range []shard.Layout{{}, {Chunks: []int{1 << 12, 1 << 12}}, {Chunks: []int{3}, ChunkBytes: 8}} {
		if err := l.Validate(); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
}

func TestLayoutSizes(t *testing.T) {
	l := shard.Layout{Chunks: []int{2, 3, 4}}
	if n := l.NumChunks(); n != 24 {
		t.Errorf("NumChunks = %d, want 24", n)
	}
	if n := l.IndexBytes(); n != 384 {
		t.Errorf("IndexBytes = %d, want 384", n)
	}
	l.IndexCRC = true
	if n := l.IndexBytes(); n != 388 {
		t.Errorf("IndexBytes with CRC = %d, want 388", n)
	}
	if n := (shard.Layout{}).NumChunks(); n != 1 {
		t.Errorf("0-d NumChunks = %d, want 1", n)
	}
}

func TestLayoutLinear(t *testing.T) {
	l := shard.Layout{Chunks: []int{2, 3, 4}}
	// C order: the last dimension varies fastest.
	for _, c := range []struct {
		coords []int
		want   int
	}{{[]int{0, 0, 0}, 0}, {[]int{0, 0, 1}, 1}, {[]int{0, 1, 0}, 4}, {[]int{1, 0, 0}, 12}, {[]int{1, 2, 3}, 23}} {
		got, err := l.Linear(c.coords)
		if err != nil || got != c.want {
			t.Errorf("Linear(%v) = %d, %v; want %d", c.coords, got, err, c.want)
		}
	}
	for _, bad := range [][]int{nil, {0, 0}, {0, 0, 0, 0}, {2, 0, 0}, {0, 3, 0}, {0, 0, -1}} {
		if _, err := l.Linear(bad); !errors.Is(err, shard.ErrInvalidCoords) {
			t.Errorf("Linear(%v) = %v, want ErrInvalidCoords", bad, err)
		}
	}
	if i, err := (shard.Layout{}).Linear(nil); i != 0 || err != nil {
		t.Errorf("0-d Linear(nil) = %d, %v", i, err)
	}
}
