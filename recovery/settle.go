package recovery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/store"
)

// Settle replays, in LSN order, every entry for key that the dead journal id
// in dir committed but did not mark applied, syncs the value, and advances
// that journal's watermark for key. It returns how many entries it replayed.
// When the journal has nothing left afterwards it is removed.
//
// The caller must hold key's exclusive lock: that is what guarantees no
// newer commit to key exists, because every holder settles before it
// commits. A journal that no longer exists has nothing to settle.
//
// A journal whose owner still looks alive is waited for, polling until ctx
// ends: a live engine never leaves its journal named in an unlocked value's
// marker (it clears the marker before it releases the lock, or stops and
// releases its owner lock first), so the owner is a process that is dying.
// The kernel releases a killed process's locks one file at a time, and the
// value's lock can be free a moment before the journal's owner lock is.
// Treating that journal as stale would let the caller commit over entries a
// later recovery replays, rolling the value back.
func Settle(ctx context.Context, st store.Store, dir, id, key string) (int, error) {
	n, _, err := settle(ctx, st, dir, id, key)
	return n, err
}

// settle is Settle that also reports, when it fails, whether the journal is
// known to still hold unapplied entries for key (pending) — as opposed to
// failing before it could tell.
func settle(ctx context.Context, st store.Store, dir, id, key string) (n int, pending bool, err error) {
	j, recs, err := openPending(ctx, dir, id, key)
	for delay := time.Millisecond; errors.Is(err, journal.ErrOwnerAlive); delay = min(2*delay, 20*time.Millisecond) {
		select {
		case <-ctx.Done():
			return 0, false, fmt.Errorf("recovery: settle %q: waiting for the owner of journal %s to exit: %w", key, id, ctx.Err())
		case <-time.After(delay):
		}
		j, recs, err = openPending(ctx, dir, id, key)
	}
	switch {
	case errors.Is(err, journal.ErrGone):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("recovery: settle %q from journal %s: %w", key, id, err)
	}
	// Releasing is cleanup: once the watermark is durable nothing depends
	// on it, and a journal left behind is removed by the next Run.
	defer j.Release()
	if len(recs) == 0 {
		return 0, false, nil
	}
	if err := apply(ctx, st, crashpoint.RecoveryMidReplay, recs); err != nil {
		return 0, true, err
	}
	if err := j.MarkApplied(ctx, key, recs[len(recs)-1].LSN); err != nil {
		return 0, true, fmt.Errorf("recovery: settle %q: %w", key, err)
	}
	return len(recs), false, nil
}
