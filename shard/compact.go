package shard

import (
	"context"
	"fmt"

	"github.com/rangetx/rangetx/txn"
)

// Compact rewrites the shard stored at key without dead space: the live
// chunks packed in C order right after the index (index at the start) or
// followed by it (index at the end). Entries that shared the very same
// bytes still share them. It returns the bytes reclaimed, the old size minus
// the new one. A shard with no dead space is left as it is (0, nil); one
// whose entries are all empty is deleted (its whole size is reclaimed); a
// missing shard is 0, nil.
//
// Atomic and durable: the rewrite is one rangetx transaction committed in
// copy mode (a new file renamed over the old), so readers and a crash see
// the old shard or the new one, never a mix, and the new one survives once
// Compact returns nil. It is serialised with every Update of the shard in
// any process, like an Update. The live chunks are held in memory during
// the rewrite.
func Compact(ctx context.Context, e *txn.Engine, key string, l Layout) (reclaimed int64, err error) {
	if err := l.check(key); err != nil {
		return 0, err
	}
	err = txn.Do(ctx, e, key, func(tx *txn.Tx) error {
		reclaimed = 0
		exists, err := tx.Exists()
		if err != nil || !exists {
			return err
		}
		size, err := tx.Size()
		if err != nil {
			return err
		}
		entries, err := readIndex(tx, l, size)
		if err != nil {
			return fmt.Errorf("shard %q: compact: %w", key, err)
		}
		in := info(l, size, entries)
		if in.Chunks() == 0 {
			reclaimed = size
			return tx.Delete()
		}
		if in.Dead == 0 {
			return nil
		}
		if err := tx.SetMode(txn.ModeCopy); err != nil {
			return err
		}
		// Read every live chunk before the rewrite discards the old bytes.
		chunks := make([][]byte, len(entries))
		seen := make(map[Entry]int)
		for i, en := range entries {
			if en.Empty() {
				continue
			}
			if _, dup := seen[en]; dup {
				continue
			}
			seen[en] = i
			chunks[i] = make([]byte, en.NBytes)
			if err := readFull(tx, chunks[i], int64(en.Offset)); err != nil {
				return fmt.Errorf("shard %q: compact: read %v: %w", key, l.coords(i), err)
			}
		}
		_, off, _ := l.region(l.IndexBytes())
		packed := make([]Entry, len(entries))
		if err := tx.Resize(0); err != nil {
			return err
		}
		for i, en := range entries {
			switch {
			case en.Empty():
				packed[i] = EmptyEntry
			case seen[en] != i:
				packed[i] = packed[seen[en]]
			default:
				if _, err := tx.WriteAt(chunks[i], off); err != nil {
					return fmt.Errorf("shard %q: compact: %w", key, err)
				}
				packed[i] = Entry{Offset: uint64(off), NBytes: en.NBytes}
				off += int64(en.NBytes)
			}
		}
		idx := int64(0)
		if !l.IndexAtStart {
			idx = off
		}
		if _, err := tx.WriteAt(EncodeIndex(l, packed), idx); err != nil {
			return fmt.Errorf("shard %q: compact: %w", key, err)
		}
		newSize, err := tx.Size()
		if err != nil {
			return err
		}
		reclaimed = size - newSize
		return nil
	})
	if err != nil {
		return 0, err
	}
	return reclaimed, nil
}
