package shard

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// view runs fn on the shard at key under one consistent view
// (Engine.View), with its decoded and bounds-checked index. A missing shard
// calls fn with r == nil and entries nil.
func view(ctx context.Context, e *txn.Engine, key string, l Layout, fn func(r io.ReaderAt, size int64, entries []Entry) error) error {
	if err := l.check(key); err != nil {
		return err
	}
	called := false
	err := e.View(ctx, key, func(r io.ReaderAt, size int64) error {
		called = true
		entries, err := readIndex(r, l, size)
		if err != nil {
			return fmt.Errorf("shard %q: %w", key, err)
		}
		return fn(r, size, entries)
	})
	if !called && errors.Is(err, store.ErrNotFound) {
		return fn(nil, 0, nil)
	}
	return err
}

// Read returns the encoded bytes of the inner chunk at coords of the shard
// stored at key, or ok=false when the chunk is empty or the shard is
// missing. It reads under one consistent view (Engine.View): it sees whole
// Updates only, and every Update whose call returned nil. The index CRC is
// verified (ErrCorruptIndex). Invalid coords are ErrInvalidCoords. Safe for
// concurrent use with any other call.
func Read(ctx context.Context, e *txn.Engine, key string, l Layout, coords []int) (data []byte, ok bool, err error) {
	if err := l.check(key); err != nil {
		return nil, false, err
	}
	i, err := l.Linear(coords)
	if err != nil {
		return nil, false, fmt.Errorf("shard %q: read: %w", key, err)
	}
	err = view(ctx, e, key, l, func(r io.ReaderAt, _ int64, entries []Entry) error {
		if entries == nil || entries[i].Empty() {
			return nil
		}
		data, ok = make([]byte, entries[i].NBytes), true
		if err := readFull(r, data, int64(entries[i].Offset)); err != nil {
			return fmt.Errorf("shard %q: read %v: %w", key, coords, err)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return data, ok, nil
}

// ReadAll returns the encoded bytes of every inner chunk of the shard stored
// at key, in C order (position Layout.Linear(coords)), nil for an empty
// chunk; a missing shard gives all nils. Everything is read under one
// consistent view, as Read describes.
func ReadAll(ctx context.Context, e *txn.Engine, key string, l Layout) ([][]byte, error) {
	if err := l.check(key); err != nil {
		return nil, err
	}
	out := make([][]byte, l.NumChunks())
	err := view(ctx, e, key, l, func(r io.ReaderAt, _ int64, entries []Entry) error {
		for i, en := range entries {
			if en.Empty() {
				continue
			}
			out[i] = make([]byte, en.NBytes)
			if err := readFull(r, out[i], int64(en.Offset)); err != nil {
				return fmt.Errorf("shard %q: read %v: %w", key, l.coords(i), err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
