package shard

import (
	"context"
	"fmt"
	"slices"

	"github.com/rangetx/rangetx/txn"
)

// WriteRegion writes a box of inner chunks of the array at path from raw:
// the chunks whose ChunkGrid coordinates run from start (inclusive) to
// start+count (exclusive) along each dimension. raw holds the elements of
// that box of the array, little-endian, in C order: the box begins at
// element start*ChunkShape and ends at (start+count)*ChunkShape or at the
// array's edge, whichever comes first, so len(raw) must be its element
// count times the item size (else ErrArraySize). Edge chunks are padded with
// the fill value. Coordinates of the wrong rank, a negative start or count,
// or a box past ChunkGrid are ErrInvalidCoords; a count of 0 along any
// dimension writes nothing. Nothing is written when an error is returned
// before the first shard.
//
// Each shard the box touches is one Update holding all of its chunks in the
// box (they are encoded before its transaction): each shard changes
// atomically, is durable once its Update returns, and is serialised with
// every other write of the shard from any goroutine or process; the box as
// a whole is not one transaction, and a failure leaves the shards before it
// written. Shards are written in C order. Safe for concurrent use.
func WriteRegion(ctx context.Context, e *txn.Engine, path string, a Array, start, count []int, raw []byte) error {
	if err := a.prepare(path); err != nil {
		return err
	}
	origin, shape, err := a.box(start, count)
	if err != nil {
		return fmt.Errorf("array %q: write region: %w", path, err)
	}
	size := a.DType.Size()
	n := 1
	for _, s := range shape {
		n *= s
	}
	if len(raw) != n*size {
		return fmt.Errorf("array %q: write region %v+%v: %d bytes, want %d: %w", path, start, count, len(raw), n*size, ErrArraySize)
	}
	for _, c := range count {
		if c == 0 {
			return nil
		}
	}
	r, per, l := len(start), a.perShard(), a.Layout()
	first, span := make([]int, r), make([]int, r)
	for d := range r {
		first[d] = start[d] / per[d]
		span[d] = (start[d]+count[d]-1)/per[d] - first[d] + 1
	}
	fill := a.FillChunk()
	return forEach(span, func(rel []int) error {
		sh, lo, ext := make([]int, r), make([]int, r), make([]int, r)
		for d := range r {
			sh[d] = first[d] + rel[d]
			lo[d] = max(start[d], sh[d]*per[d])
			ext[d] = min(start[d]+count[d], (sh[d]+1)*per[d]) - lo[d]
		}
		type chunk struct {
			local []int
			enc   []byte
		}
		var chunks []chunk
		err := forEach(ext, func(k []int) error {
			global, local := make([]int, r), make([]int, r)
			for d := range r {
				global[d] = lo[d] + k[d]
				local[d] = global[d] - sh[d]*per[d]
			}
			buf := slices.Clone(fill)
			a.chunkRowsIn(origin, shape, global, func(bo, co, n int) {
				copy(buf[co*size:(co+n)*size], raw[bo*size:(bo+n)*size])
			})
			enc, err := a.EncodeChunk(buf)
			if err != nil {
				return err
			}
			chunks = append(chunks, chunk{local, enc})
			return nil
		})
		if err != nil {
			return err
		}
		return Update(ctx, e, a.ShardKey(path, sh), l, func(w *Writer) error {
			for _, c := range chunks {
				if err := w.Put(c.local, c.enc); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// box checks a box of inner chunks (ChunkGrid coordinates start, extent
// count) and returns the box of elements it covers: its first element and
// its shape, cut at the array's edge. Errors wrap ErrInvalidCoords.
func (a Array) box(start, count []int) (origin, shape []int, err error) {
	if len(start) != len(a.Shape) || len(count) != len(a.Shape) {
		return nil, nil, fmt.Errorf("%w: region start %v, count %v for an array of rank %d", ErrInvalidCoords, start, count, len(a.Shape))
	}
	grid := a.ChunkGrid()
	origin, shape = make([]int, len(start)), make([]int, len(start))
	for d := range start {
		if start[d] < 0 || count[d] < 0 || start[d] > grid[d] || count[d] > grid[d]-start[d] {
			return nil, nil, fmt.Errorf("%w: region start %v, count %v outside the array's %v inner chunks", ErrInvalidCoords, start, count, grid)
		}
		origin[d] = start[d] * a.ChunkShape[d]
		shape[d] = max(0, min((start[d]+count[d])*a.ChunkShape[d], a.Shape[d])-origin[d])
	}
	return origin, shape, nil
}
