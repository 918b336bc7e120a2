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
// any process, like an Update. The live chunks are copied file to file
// (Tx.CopyRange): memory stays small whatever the shard's size.
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
		// The new shard is built from the old one's bytes by copies, file
		// to file at commit: the chunks never pass through memory.
		if err := tx.Resize(0); err != nil {
			return err
		}
		_, off, _ := l.region(l.IndexBytes())
		packed := make([]Entry, len(entries))
		first := make(map[Entry]int) // entries sharing bytes keep sharing them
		for i, en := range entries {
			if en.Empty() {
				packed[i] = EmptyEntry
				continue
			}
			if j, dup := first[en]; dup {
				packed[i] = packed[j]
				continue
			}
			first[en] = i
			if err := tx.CopyRange(off, int64(en.Offset), int64(en.NBytes)); err != nil {
				return fmt.Errorf("shard %q: compact %v: %w", key, l.coords(i), err)
			}
			packed[i] = Entry{Offset: uint64(off), NBytes: en.NBytes}
			off += int64(en.NBytes)
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
