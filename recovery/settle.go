package recovery

import (
	"context"
	"errors"
	"fmt"

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
// commits. A journal that no longer exists has nothing to settle. A journal
// whose owner is alive is left alone: a live owner applies its entries before
// it releases the value's lock, so a marker naming it is stale.
func Settle(ctx context.Context, st store.Store, dir, id, key string) (int, error) {
	n, _, err := settle(ctx, st, dir, id, key)
	return n, err
}

// settle is Settle that also reports, when it fails, whether the journal is
// known to still hold unapplied entries for key (pending) — as opposed to
// failing before it could tell.
func settle(ctx context.Context, st store.Store, dir, id, key string) (n int, pending bool, err error) {
	j, recs, err := openPending(ctx, dir, id, key)
	switch {
	case errors.Is(err, journal.ErrGone), errors.Is(err, journal.ErrOwnerAlive):
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
