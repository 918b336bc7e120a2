package shard_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rangetx/rangetx/shard"
)

// TestWriteRegion writes random boxes of inner chunks — inside one shard,
// across shards, touching the array's edge — into every array shape of
// arrayCases and checks every chunk and the whole array against a model
// that cuts chunks out of the box element by element.
func TestWriteRegion(t *testing.T) {
	for i, a := range arrayCases {
		t.Run(fmt.Sprintf("%d/%s", i, a.DType), func(t *testing.T) {
			_, e := openEngine(t)
			path := fmt.Sprintf("r/a%d", i)
			if err := shard.CreateArray(ctx, e, path, a); err != nil {
				t.Fatal(err)
			}
			m := newModel(a)
			grid := a.ChunkGrid()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for step := range 12 {
				start, count := make([]int, len(grid)), make([]int, len(grid))
				for d, g := range grid {
					if g == 0 {
						continue
					}
					start[d] = rng.IntN(g)
					count[d] = 1 + rng.IntN(g-start[d])
					if step == 0 { // the whole grid first
						start[d], count[d] = 0, g
					}
				}
				n := len(allCoords(boxShape(a, start, count)))
				if len(count) > 0 && len(allCoords(count)) == 0 {
					n = 0
				}
				src := noisy(a.DType, n, uint64(step))
				if err := shard.WriteRegion(ctx, e, path, a, start, count, src); err != nil {
					t.Fatalf("WriteRegion(%v, %v): %v", start, count, err)
				}
				m.writeRegion(start, count, src)
				checkModel(t, e, path, m)
			}
		})
	}
}

// boxShape is the shape of the box of elements that inner chunks start,
// count cover, cut at the array's edge.
func boxShape(a shard.Array, start, count []int) []int {
	s := make([]int, len(start))
	for d := range s {
		s[d] = min((start[d]+count[d])*a.ChunkShape[d], a.Shape[d]) - start[d]*a.ChunkShape[d]
	}
	return s
}

// TestWriteRegionRejects: a box of the wrong rank, with a negative start or
// count, or reaching past the chunk grid is ErrInvalidCoords, data of the
// wrong size ErrArraySize, and none of them writes a shard; a zero count
// writes nothing and is no error.
func TestWriteRegionRejects(t *testing.T) {
	_, e := openEngine(t)
	a := arrayCases[1] // 13x7 int32, chunks 2x2 (grid 7x4), shards 4x4
	if err := shard.CreateArray(ctx, e, "a", a); err != nil {
		t.Fatal(err)
	}
	ok := make([]byte, 2*2*4)
	for _, c := range []struct {
		name         string
		start, count []int
		raw          []byte
		want         error
	}{
		{"rank", []int{0}, []int{1}, ok, shard.ErrInvalidCoords},
		{"count rank", []int{0, 0}, []int{1}, ok, shard.ErrInvalidCoords},
		{"negative start", []int{-1, 0}, []int{1, 1}, ok, shard.ErrInvalidCoords},
		{"negative count", []int{1, 0}, []int{-1, 1}, ok, shard.ErrInvalidCoords},
		{"past the grid", []int{6, 3}, []int{2, 1}, ok, shard.ErrInvalidCoords},
		{"start past the grid", []int{8, 0}, []int{0, 1}, nil, shard.ErrInvalidCoords},
		{"huge count", []int{1, 1}, []int{int(^uint(0) >> 1), 1}, ok, shard.ErrInvalidCoords},
		{"short", []int{0, 0}, []int{1, 1}, ok[:15], shard.ErrArraySize},
		{"long", []int{0, 0}, []int{1, 1}, append(ok, 0), shard.ErrArraySize},
		{"edge box is cut", []int{6, 0}, []int{1, 1}, ok, shard.ErrArraySize}, // row 13 is past the edge: 1x2
		{"zero count, data", []int{0, 0}, []int{0, 2}, ok, shard.ErrArraySize},
		{"zero count at the edge, data", []int{7, 4}, []int{0, 0}, ok[:4], shard.ErrArraySize},
	} {
		if err := shard.WriteRegion(ctx, e, "a", a, c.start, c.count, c.raw); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	for _, box := range [][2][]int{{{3, 1}, {0, 2}}, {{7, 0}, {0, 1}}, {{7, 4}, {0, 0}}, {{0, 4}, {7, 0}}} {
		if err := shard.WriteRegion(ctx, e, "a", a, box[0], box[1], nil); err != nil {
			t.Errorf("zero count %v at %v: %v", box[1], box[0], err)
		}
	}
	if shards, err := shard.ArrayShards(ctx, e, "a", a); err != nil || len(shards) != 0 {
		t.Fatalf("after refused writes: shards %v, %v", shards, err)
	}
}
