package shard

import (
	"context"
	"fmt"

	"github.com/rangetx/rangetx/txn"
)

// Update runs fn with a Writer on the shard stored at key, in ONE rangetx
// transaction (txn.Do): it reads the shard's current index, calls fn, then
// stages the new index (only if an entry changed) and commits.
//
// Atomic: if fn returns an error or panics, or anything else fails, the
// transaction rolls back and the shard is left exactly as it was; otherwise
// every Put and Delete of fn and the new index commit together. Durable:
// when Update returns nil the change survives a crash or power loss.
// Concurrent-safe: Updates of one shard are serialised with each other and
// with every other transaction on the key, by goroutines of this process and
// by every process with an engine on the same root, so Updates of different
// inner chunks never lose each other's writes; readers (Read, ReadAll,
// Engine.View) see whole Updates only.
//
// A missing shard is created with a full index of empty entries (with the
// index at the start, data begins after it). If every entry is empty after
// fn, the shard is deleted (a missing shard stays missing), as zarr-python
// does. A shard whose index is corrupt is ErrCorruptIndex and is not
// changed. An invalid layout is ErrInvalidLayout.
//
// fn must not call the engine on key (locks are not recursive), and must
// not keep the Writer after it returns.
func Update(ctx context.Context, e *txn.Engine, key string, l Layout, fn func(w *Writer) error) error {
	if err := l.check(key); err != nil {
		return err
	}
	return txn.Do(ctx, e, key, func(tx *txn.Tx) error {
		w, err := newWriter(tx, key, l)
		if err != nil {
			return err
		}
		defer w.close() // also when fn panics
		if fn != nil {
			if err := fn(w); err != nil {
				return err
			}
		}
		if err := w.finish(); err != nil {
			return fmt.Errorf("shard %q: %w", key, err)
		}
		return nil
	})
}
