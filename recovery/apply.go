package recovery

import (
	"context"
	"fmt"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/store"
)

// Apply writes the after-images of recs, in order, into their value in place
// and then syncs the value once. All records must be for the same key and
// must be all of that key's unapplied entries, in LSN order.
//
// Apply is idempotent: a record describes the value's new contents
// completely relative to the contents before its transaction (cut to
// MinSize, resize to Size, write Ranges), and none of those steps reads what
// an earlier, possibly torn, attempt wrote. That is what makes replay after a
// crash safe. Apply is not atomic; atomicity comes from the journal record
// having been committed before Apply starts.
func Apply(ctx context.Context, st store.Store, recs ...journal.Record) error {
	return apply(ctx, st, crashpoint.JournalMidApply, recs)
}

// apply is Apply with the name of the crash point passed after the first
// range written, so tests can tell a commit from a replay.
func apply(ctx context.Context, st store.Store, point string, recs []journal.Record) error {
	if len(recs) == 0 {
		return nil
	}
	key := recs[0].Key
	rw, ok := st.(store.RangeWriter)
	if !ok {
		return fmt.Errorf("recovery: apply %q: %w", key, ErrNoRangeWriter)
	}
	// Only bytes below the smallest cut of the whole sequence come from the
	// value as it was before the sequence; everything above it is rewritten
	// or zeroed by the record that made that cut. So an interrupted replay
	// may have left the value shorter than an early record's MinSize, but
	// never shorter than this.
	floor := recs[0].MinSize
	for _, rec := range recs {
		if rec.Key != key {
			return fmt.Errorf("recovery: apply %q: record %d is for %q", key, rec.LSN, rec.Key)
		}
		floor = min(floor, rec.MinSize)
	}
	info, err := st.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("recovery: apply %q: %w", key, err)
	}
	if info.Size < floor {
		return fmt.Errorf("recovery: apply %q: value is %d bytes, its journal needs at least %d: %w",
			key, info.Size, floor, ErrValueMismatch)
	}
	cur := info.Size
	for _, rec := range recs {
		if cur, err = applyOne(ctx, rw, rec, cur, point); err != nil {
			return err
		}
	}
	if err := rw.Sync(ctx, key); err != nil {
		return fmt.Errorf("recovery: apply %q: sync: %w", key, err)
	}
	return nil
}

// applyOne applies one record to a value of size cur and returns the new size.
func applyOne(ctx context.Context, rw store.RangeWriter, rec journal.Record, cur int64, point string) (int64, error) {
	if cur > rec.MinSize {
		if err := rw.Truncate(ctx, rec.Key, rec.MinSize); err != nil {
			return cur, fmt.Errorf("recovery: apply %q lsn %d: %w", rec.Key, rec.LSN, err)
		}
		cur = rec.MinSize
	}
	if cur != rec.Size {
		if err := rw.Truncate(ctx, rec.Key, rec.Size); err != nil {
			return cur, fmt.Errorf("recovery: apply %q lsn %d: %w", rec.Key, rec.LSN, err)
		}
	}
	for i, r := range rec.Ranges {
		if _, err := rw.WriteAt(ctx, rec.Key, r.Data, r.Off); err != nil {
			return rec.Size, fmt.Errorf("recovery: apply %q lsn %d: %w", rec.Key, rec.LSN, err)
		}
		if i == 0 {
			crashpoint.Hit(point)
		}
	}
	return rec.Size, nil
}
