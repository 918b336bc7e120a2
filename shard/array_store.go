package shard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// ErrArraySize means the data given to WriteArray is not the size of the
// whole array, prod(Shape) * item size.
var ErrArraySize = errors.New("shard: wrong array data size")

// metaName is the name of the metadata document of every Zarr v3 node.
const metaName = "zarr.json"

// metaKey returns the key of the zarr.json of the node at path ("" is the
// root).
func metaKey(path string) string {
	if path == "" {
		return metaName
	}
	return path + "/" + metaName
}

// checkPath reports whether path can name an array: a valid store key
// (see store.ValidateKey) none of whose segments is "zarr.json", and
// whose zarr.json key is valid too. The error wraps ErrInvalidArray.
func checkPath(path string) error {
	if err := store.ValidateKey(path); err != nil {
		return fmt.Errorf("%w: path %q: %w", ErrInvalidArray, path, err)
	}
	if slices.Contains(strings.Split(path, "/"), metaName) {
		return fmt.Errorf("%w: path %q has a %s segment", ErrInvalidArray, path, metaName)
	}
	if err := store.ValidateKey(metaKey(path)); err != nil {
		return fmt.Errorf("%w: path %q: %w", ErrInvalidArray, path, err)
	}
	return nil
}

// prepare validates the array and its path for the chunk operations.
func (a Array) prepare(path string) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return checkPath(path)
}

// CreateArray creates the array a at path (a '/'-separated store key such
// as "data/temperature"): it writes path/zarr.json (see Array.Metadata) and,
// where missing, the zarr.json of a group with no attributes at the root
// ("zarr.json") and at each intermediate directory ("data/zarr.json").
// No shard is written: every chunk reads as the fill value.
//
// Errors: an invalid array or path is ErrInvalidArray, as is an
// intermediate zarr.json that is not a group (an array inside an array);
// a zarr.json already at path (array or group), or any stored value under
// path (stale shards, say), is ErrArrayExists.
//
// Each zarr.json is written in its own transaction that first checks it is
// missing, so concurrent CreateArray calls on one path, in any processes,
// create it once and the others get ErrArrayExists. The groups are written
// before the array; a crash between them leaves groups without the array,
// and a later CreateArray completes it.
func CreateArray(ctx context.Context, e *txn.Engine, path string, a Array) error {
	if err := a.prepare(path); err != nil {
		return err
	}
	meta, err := a.Metadata()
	if err != nil {
		return err
	}
	keys, err := e.Store().List(ctx, path)
	if err != nil {
		return fmt.Errorf("create array %q: %w", path, err)
	}
	switch {
	case slices.Contains(keys, metaKey(path)):
		return fmt.Errorf("create array %q: %w: %q exists", path, ErrArrayExists, metaKey(path))
	case len(keys) > 0:
		return fmt.Errorf("create array %q: %w: %d stored values under it, first %q", path, ErrArrayExists, len(keys), keys[0])
	}
	segs := strings.Split(path, "/")
	for i := range segs {
		parent := strings.Join(segs[:i], "/")
		if err := ensureGroup(ctx, e, parent); err != nil {
			return fmt.Errorf("create array %q: %w", path, err)
		}
	}
	key := metaKey(path)
	err = txn.Do(ctx, e, key, func(tx *txn.Tx) error {
		exists, err := tx.Exists()
		if err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("%w: %q exists", ErrArrayExists, key)
		}
		_, err = tx.WriteAt(meta, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("create array %q: %w", path, err)
	}
	return nil
}

// ensureGroup writes the zarr.json of an empty group at path unless one
// exists; an existing zarr.json that is not a group is ErrInvalidArray.
func ensureGroup(ctx context.Context, e *txn.Engine, path string) error {
	key := metaKey(path)
	return txn.Do(ctx, e, key, func(tx *txn.Tx) error {
		exists, err := tx.Exists()
		if err != nil {
			return err
		}
		if !exists {
			_, err := tx.WriteAt(groupMetadata(), 0)
			return err
		}
		size, err := tx.Size()
		if err != nil {
			return err
		}
		doc := make([]byte, size)
		if err := readFull(tx, doc, 0); err != nil {
			return err
		}
		var node struct {
			NodeType string `json:"node_type"`
		}
		if err := json.Unmarshal(doc, &node); err != nil || node.NodeType != "group" {
			return fmt.Errorf("%w: %q is not a Zarr group", ErrInvalidArray, key)
		}
		return nil
	})
}

// OpenArray reads and parses path/zarr.json (see ParseMetadata). A missing
// zarr.json, or one that does not describe an array this package writes,
// is ErrNotArray (wrapping store.ErrNotFound when missing); an invalid path
// is ErrInvalidArray.
func OpenArray(ctx context.Context, e *txn.Engine, path string) (Array, error) {
	if err := checkPath(path); err != nil {
		return Array{}, err
	}
	doc, err := e.Get(ctx, metaKey(path))
	if errors.Is(err, store.ErrNotFound) {
		return Array{}, fmt.Errorf("open array %q: %w: %w", path, ErrNotArray, err)
	}
	if err != nil {
		return Array{}, fmt.Errorf("open array %q: %w", path, err)
	}
	a, err := ParseMetadata(doc)
	if err != nil {
		return Array{}, fmt.Errorf("open array %q: %w", path, err)
	}
	return a, nil
}

// PutChunk stores one inner chunk of the array at path: chunk is its
// coordinates in ChunkGrid, raw its elements (little-endian, C order) for
// the full ChunkShape, edge chunks included, so len(raw) must be
// ChunkRawBytes (else ErrChunkSize). The chunk is encoded (EncodeChunk)
// before the transaction and stored with one Update of its shard: atomic,
// durable when PutChunk returns nil, and serialised with every other write
// of the shard. With fixed-size codecs (bytes, bytes + crc32c) a chunk
// already stored is overwritten in place; with gzip the new bytes are
// appended and the old ones become dead space (see DeadSpace, Compact).
// Coordinates outside the grid are ErrInvalidCoords.
func PutChunk(ctx context.Context, e *txn.Engine, path string, a Array, chunk []int, raw []byte) error {
	if err := a.prepare(path); err != nil {
		return err
	}
	sh, local, err := a.ShardOf(chunk)
	if err != nil {
		return fmt.Errorf("array %q: put: %w", path, err)
	}
	if len(raw) != a.ChunkRawBytes() {
		return fmt.Errorf("array %q: put %v: %d bytes, want %d: %w", path, chunk, len(raw), a.ChunkRawBytes(), ErrChunkSize)
	}
	enc, err := a.EncodeChunk(raw)
	if err != nil {
		return err
	}
	return Update(ctx, e, a.ShardKey(path, sh), a.Layout(), func(w *Writer) error {
		return w.Put(local, enc)
	})
}

// GetChunk returns the decoded elements of the inner chunk at chunk
// (ChunkGrid coordinates): ChunkRawBytes bytes, little-endian, C order,
// the part of an edge chunk past the array included as stored. An empty
// chunk or a missing shard gives FillChunk. It reads under one consistent
// view (see Read); a chunk that does not decode is ErrCorruptChunk, a bad
// shard index ErrCorruptIndex.
func GetChunk(ctx context.Context, e *txn.Engine, path string, a Array, chunk []int) ([]byte, error) {
	if err := a.prepare(path); err != nil {
		return nil, err
	}
	sh, local, err := a.ShardOf(chunk)
	if err != nil {
		return nil, fmt.Errorf("array %q: get: %w", path, err)
	}
	key := a.ShardKey(path, sh)
	enc, ok, err := Read(ctx, e, key, a.Layout(), local)
	if err != nil {
		return nil, err
	}
	if !ok {
		return a.FillChunk(), nil
	}
	raw, err := a.DecodeChunk(enc)
	if err != nil {
		return nil, fmt.Errorf("shard %q: chunk %v: %w", key, chunk, err)
	}
	return raw, nil
}

// DeleteChunk empties the inner chunk at chunk (ChunkGrid coordinates): it
// reads as the fill value from then on, and its bytes become dead space.
// One Update of the shard; a shard left with no chunks is deleted.
func DeleteChunk(ctx context.Context, e *txn.Engine, path string, a Array, chunk []int) error {
	if err := a.prepare(path); err != nil {
		return err
	}
	sh, local, err := a.ShardOf(chunk)
	if err != nil {
		return fmt.Errorf("array %q: delete: %w", path, err)
	}
	return Update(ctx, e, a.ShardKey(path, sh), a.Layout(), func(w *Writer) error {
		return w.Delete(local)
	})
}

// WriteArray writes the whole array at path from raw, its elements
// little-endian in C order (len(raw) must be prod(Shape) * item size, else
// ErrArraySize): every inner chunk of ChunkGrid is stored, edge chunks
// padded with the fill value, chunks equal to the fill included. Inner
// chunks of an edge shard that lie wholly past the array are left empty.
// It is WriteRegion of the whole ChunkGrid.
//
// Each shard is one Update (the shard's chunks are encoded before its
// transaction): each shard changes atomically, but the array as a whole
// does not, and a failure leaves the shards before it written. Shards are
// written in C order. With gzip, rewriting stored chunks appends them and
// leaves dead space; CompactArray reclaims it.
func WriteArray(ctx context.Context, e *txn.Engine, path string, a Array, raw []byte) error {
	if err := a.prepare(path); err != nil {
		return err
	}
	size := a.DType.Size()
	if want := a.elements() * size; len(raw) != want {
		return fmt.Errorf("array %q: write: %d bytes, want %d: %w", path, len(raw), want, ErrArraySize)
	}
	return WriteRegion(ctx, e, path, a, make([]int, len(a.Shape)), a.ChunkGrid(), raw)
}

// ReadArray returns the whole array at path: prod(Shape) elements,
// little-endian, C order, empty chunks and missing shards read as the fill
// value. Each shard is read under one consistent view (ReadAll); the array
// as a whole is not one snapshot if it is written meanwhile.
func ReadArray(ctx context.Context, e *txn.Engine, path string, a Array) ([]byte, error) {
	if err := a.prepare(path); err != nil {
		return nil, err
	}
	size := a.DType.Size()
	out := make([]byte, a.elements()*size)
	el := a.fillElement()
	for i := 0; i < len(out); i += size {
		copy(out[i:], el)
	}
	grid, per, l := a.ChunkGrid(), a.perShard(), a.Layout()
	err := forEach(a.ShardGrid(), func(sh []int) error {
		key := a.ShardKey(path, sh)
		chunks, err := ReadAll(ctx, e, key, l)
		if err != nil {
			return err
		}
		i := -1
		return forEach(per, func(local []int) error {
			i++
			if chunks[i] == nil {
				return nil
			}
			global := make([]int, len(local))
			for d := range local {
				global[d] = sh[d]*per[d] + local[d]
				if global[d] >= grid[d] {
					return nil // stored past the array's edge: not part of it
				}
			}
			buf, err := a.DecodeChunk(chunks[i])
			if err != nil {
				return fmt.Errorf("shard %q: chunk %v: %w", key, global, err)
			}
			a.chunkRows(global, func(ao, co, n int) {
				copy(out[ao*size:(ao+n)*size], buf[co*size:(co+n)*size])
			})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ArrayShards returns the coordinates of the shards stored for the array at
// path, in C order, by listing the store under path/c (keys that are not
// shard keys of the array's ShardGrid are ignored). The listing reads the
// store directly, not under the shards' locks: a shard created or deleted
// meanwhile may or may not be listed.
func ArrayShards(ctx context.Context, e *txn.Engine, path string, a Array) ([][]int, error) {
	if err := a.prepare(path); err != nil {
		return nil, err
	}
	prefix := a.ShardKey(path, nil)
	keys, err := e.Store().List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("array %q: list shards: %w", path, err)
	}
	grid := a.ShardGrid()
	var shards [][]int
	for _, k := range keys {
		rest := strings.TrimPrefix(k, prefix)
		var parts []string
		if rest != "" {
			parts = strings.Split(strings.TrimPrefix(rest, "/"), "/")
		}
		if len(parts) != len(grid) {
			continue
		}
		sh, ok := make([]int, len(grid)), true
		for d, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= grid[d] || strconv.Itoa(n) != p {
				ok = false
				break
			}
			sh[d] = n
		}
		if ok {
			shards = append(shards, sh)
		}
	}
	slices.SortFunc(shards, slices.Compare)
	return shards, nil
}

// CompactArray runs Compact on every stored shard of the array at path
// (see ArrayShards) and returns the bytes reclaimed in all. Each shard is
// compacted in its own transaction.
func CompactArray(ctx context.Context, e *txn.Engine, path string, a Array) (reclaimed int64, err error) {
	shards, err := ArrayShards(ctx, e, path, a)
	if err != nil {
		return 0, err
	}
	l := a.Layout()
	for _, sh := range shards {
		n, err := Compact(ctx, e, a.ShardKey(path, sh), l)
		reclaimed += n
		if err != nil {
			return reclaimed, err
		}
	}
	return reclaimed, nil
}
