package txn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/store"
)

// holding is this engine's hold on one value. While it exists the engine
// holds the value's exclusive lock (against every other process and every
// other user of the locker) and admits its own transactions on the value
// one at a time, through turn.
//
// A holding outlives the transaction that made it while any of its
// journal commits are queued, being applied in place, or waiting for their
// watermark: the next transaction on the value can begin as soon as the
// previous one is queued, and reads the queued after-images through the
// overlay (see readAt). Only when nothing is pending and nobody waits is
// the marker cleared and the lock released (see Engine.leave), so no other
// process ever sees the value without its committed changes, and a live
// engine never leaves its journal named on an unlocked value.
type holding struct {
	key  string
	turn chan struct{} // holds a token while one transaction or operation runs

	// Guarded by turn, or unshared once the holding is out of Engine.holds.
	unlock lock.Unlock // the value's exclusive lock; nil until first taken
	marked bool        // the value's marker names this engine's journal

	// Guarded by Engine.hmu.
	users    int           // goroutines holding or waiting for the turn
	pending  int           // journal commits not yet applied and watermarked
	lockedAt time.Time     // when the lock was taken
	closing  bool          // held past holdLimit: admits nobody new
	gone     chan struct{} // closed when the holding is let go

	// Guarded by mu.
	mu     sync.Mutex
	queued []*commit // queued or applying commits, oldest first: the overlay
	epoch  uint64    // raised when queued commits fail (see poison)
	cause  error     // why they failed
}

func newHolding(key string) *holding {
	return &holding{key: key, turn: make(chan struct{}, 1), gone: make(chan struct{})}
}

// holdLimit bounds how long one engine keeps a value's lock while new
// transactions keep arriving: past it, new arrivals wait until the engine
// has applied what it committed and released the lock, so writers and
// readers in other processes get their turn (the lock's turnstile queues a
// waiting writer of another process ahead of this one's next attempt).
const holdLimit = 100 * time.Millisecond

// acquire takes key's turn in this engine, taking the value's exclusive
// lock first if the engine does not hold it yet. The caller must call
// release.
func (e *Engine) acquire(ctx context.Context, key string) (*holding, error) {
	var h *holding
	for {
		e.hmu.Lock()
		h = e.holds[key]
		if h != nil && !h.closing && !h.lockedAt.IsZero() && time.Since(h.lockedAt) > holdLimit {
			h.closing = true
		}
		if h == nil || !h.closing {
			break
		}
		gone := h.gone
		e.hmu.Unlock()
		if err := e.waitGone(ctx, key, gone); err != nil {
			return nil, err
		}
	}
	if h == nil {
		h = newHolding(key)
		e.holds[key] = h
	}
	h.users++
	e.hmu.Unlock()
	select {
	case h.turn <- struct{}{}:
	case <-ctx.Done():
		e.leave(h)
		return nil, fmt.Errorf("txn: lock %q: %w", key, ctx.Err())
	}
	if err := e.err(); err != nil {
		e.release(h)
		return nil, err
	}
	if h.unlock == nil {
		unlock, err := e.lockKey(ctx, key)
		if err != nil {
			e.release(h)
			return nil, err
		}
		h.unlock = unlock
		e.hmu.Lock()
		h.lockedAt = time.Now()
		e.hmu.Unlock()
	}
	return h, nil
}

// waitGone waits until a closing holding is let go, hurrying the pipeline
// along meanwhile.
func (e *Engine) waitGone(ctx context.Context, key string, gone <-chan struct{}) error {
	if e.pipe != nil {
		defer e.pipe.hurryUp()()
	}
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("txn: lock %q: %w", key, ctx.Err())
	}
}

// release gives up the turn taken by acquire.
func (e *Engine) release(h *holding) {
	<-h.turn
	e.leave(h)
}

// leave drops one user of h and lets h go if it was the last and nothing
// is pending.
func (e *Engine) leave(h *holding) {
	e.hmu.Lock()
	h.users--
	drop := e.detach(h)
	e.hmu.Unlock()
	if drop {
		e.letGo(h)
	}
}

// detach removes h from the engine if nobody uses it and nothing of it is
// pending, reporting whether it did; the caller must then call letGo. The
// caller holds e.hmu.
func (e *Engine) detach(h *holding) bool {
	if h.users > 0 || h.pending > 0 || e.holds[h.key] != h {
		return false
	}
	delete(e.holds, h.key)
	close(h.gone) // a new holding may start; its lock waits for letGo
	return true
}

// letGo clears the marker of a detached holding and releases the value's
// lock. On a stopped engine the marker stays: it names a journal that is
// dead now, and the next holder replays it.
func (e *Engine) letGo(h *holding) {
	if h.unlock == nil {
		return
	}
	if h.marked && e.err() == nil {
		if err := e.lk.SetMarker(h.key, ""); err != nil {
			e.fail(fmt.Errorf("clear marker of %q: %w", h.key, err))
		}
	}
	h.unlock()
}

// holdingOf returns key's holding if this engine has one.
func (e *Engine) holdingOf(key string) *holding {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	return e.holds[key]
}

// drain waits, holding h's turn, until every journal commit on h's value
// is applied in place and watermarked, so the value's file is exactly its
// committed state and no journal entry could be replayed over a change
// made outside the journal (copy mode, Put, Delete).
func (e *Engine) drain(h *holding) error {
	if e.pipe != nil {
		defer e.pipe.hurryUp()()
	}
	e.hmu.Lock()
	defer e.hmu.Unlock()
	for h.pending > 0 && e.err() == nil {
		e.drained.Wait()
	}
	return e.err()
}

// snapshot returns h's overlay and epoch.
func (h *holding) snapshot() ([]*commit, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*commit(nil), h.queued...), h.epoch
}

// state returns the value's existence and size as the last queued commit
// leaves it, or as the store has it when nothing is queued.
func (e *Engine) state(ctx context.Context, h *holding) (exists bool, size int64, err error) {
	q, _ := h.snapshot()
	if len(q) > 0 {
		return true, q[len(q)-1].rec.Size, nil
	}
	info, err := e.st.Stat(ctx, h.key)
	switch {
	case err == nil:
		return true, info.Size, nil
	case errors.Is(err, store.ErrNotFound):
		return false, 0, nil
	}
	return false, 0, err
}

// waitQueued waits until every commit queued on h is durable or has
// failed, so a reader holding h's turn sees only durable changes. The
// caller holds the turn, so nothing new is queued meanwhile.
func (e *Engine) waitQueued(h *holding) error {
	q, _ := h.snapshot()
	for _, c := range q {
		<-c.done
	}
	return e.err()
}

// readAt fills p with the value's bytes at off as the queued commits leave
// them: the bytes in the store, then each queued commit in order (its cut
// zeroes everything from its MinSize on, then its ranges). The store's
// bytes may be mid-way through an in-place apply, but every byte an apply
// can touch is covered by a commit still in the overlay: commits leave it
// only after their apply is complete, oldest first.
func (e *Engine) readAt(ctx context.Context, h *holding, p []byte, off int64) error {
	q, _ := h.snapshot() // before reading the store: see above
	n, err := valueReader{ctx, e.st, h.key}.ReadAt(p, off)
	if err != nil && err != io.EOF && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("txn: read %q: %w", h.key, err)
	}
	clear(p[n:])
	for _, c := range q {
		overlayRecord(p, off, c)
	}
	return nil
}
