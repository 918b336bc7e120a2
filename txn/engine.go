// Package txn makes a set of byte-range writes into one stored value atomic,
// durable and isolated, across goroutines and processes.
//
// An Engine combines a store (where values live), a locker (one writer or
// many readers per value) and a redo journal. Do runs a function in a
// transaction on one value and commits it when the function returns nil:
//
//	err := txn.Do(ctx, e, "arr/c/0/1", func(tx *txn.Tx) error {
//		_, err := tx.WriteAt(chunk, off)
//		return err
//	})
//
// When Commit returns nil the new contents are durable: they were fsynced,
// to the journal or in place, before Commit returned, so a crash of the
// process cannot lose them, and the order of writes and syncs is the one
// that also survives power loss (see DESIGN.md). Journal-mode commits go
// through a pipeline: concurrent commits share one journal write, the next
// transaction on a value starts once the previous one is queued, and the
// in-place writes follow in the background (Engine.Flush waits for them). A crash at any moment leaves each
// value equal to its state after some prefix of its committed transactions,
// never a mix; recovery (run by Open, by the next holder of the value's lock,
// or by `rangetx recover`) finishes what a crash interrupted.
package txn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/recovery"
	"github.com/rangetx/rangetx/store"
)

// Engine runs transactions on the values of one store. It is safe for
// concurrent use by many goroutines; several engines (in one process or
// many) may share a store as long as they share its locks, as every engine
// opened with Open on the same root does.
type Engine struct {
	st        store.Store
	lk        lock.Locker
	j         *journal.Journal // nil: copy mode only
	jdir      string
	opts      Options
	log       *slog.Logger
	recovered recovery.Report

	mu     sync.Mutex
	closed bool
	failed error // set once; see ErrNeedsRecovery
	active sync.WaitGroup

	hmu     sync.Mutex
	holds   map[string]*holding // the values this engine holds (holding.go)
	drained *sync.Cond          // on hmu: a holding's pending count fell, or the engine stopped
	pipe    *pipeline           // journal mode's group commit; nil without a journal
	settled atomic.Int64        // Stats.Settled
}

// New assembles an engine from parts. j may be nil, in which case every
// transaction commits in copy mode. The engine owns j and closes it in
// Close; it does not run recovery (see recovery.Run) — Open does.
func New(st store.Store, lk lock.Locker, j *journal.Journal, opts *Options) (*Engine, error) {
	if st == nil || lk == nil {
		return nil, errors.New("txn: New needs a store and a locker")
	}
	o := opts.withDefaults()
	e := &Engine{st: st, lk: lk, j: j, opts: o, log: o.Logger, holds: make(map[string]*holding)}
	e.drained = sync.NewCond(&e.hmu)
	if j != nil {
		e.jdir = j.Dir()
		e.pipe = newPipeline(e)
	}
	return e, nil
}

// Store returns the engine's store. Writing to it directly bypasses
// locking and atomicity.
func (e *Engine) Store() store.Store { return e.st }

// JournalID returns the id of the engine's journal, or "" if it has none.
func (e *Engine) JournalID() string {
	if e.j == nil {
		return ""
	}
	return e.j.ID()
}

// enter registers a caller that must finish before Close returns.
func (e *Engine) enter() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.failed != nil {
		return e.failed
	}
	e.active.Add(1)
	return nil
}

func (e *Engine) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

// fail stops the engine after an I/O error past a commit point. Closing the
// journal releases its owner lock, so from then on every other process (and
// the next holder of each value's lock) treats it as a dead journal and
// replays it. Only then are the values' locks released, leaving their
// markers naming that journal: every commit still queued fails, and what
// was durable is recovery's to apply.
func (e *Engine) fail(cause error) error {
	e.mu.Lock()
	if e.failed != nil {
		defer e.mu.Unlock()
		return e.failed
	}
	e.failed = fmt.Errorf("%w: %w", ErrNeedsRecovery, cause)
	e.log.Error("txn: engine stopped; recovery will finish committed work", "err", cause)
	if e.j != nil {
		e.j.Close()
	}
	failed := e.failed
	e.mu.Unlock()

	if e.pipe != nil {
		e.pipe.stop(failed)
	}
	e.unpendWhere(func(h *holding) int { return h.pending }) // nobody will apply them now
	return failed
}

// unpend records that commits of the given holdings are applied and
// watermarked (or failed), letting go of holdings nobody needs any more.
func (e *Engine) unpend(done map[*holding]int) {
	e.unpendWhere(func(h *holding) int { return done[h] })
}

// unpendWhere lowers each holding's pending count by n(h), called with
// e.hmu held, and lets go of the holdings nobody needs any more.
func (e *Engine) unpendWhere(n func(h *holding) int) {
	e.hmu.Lock()
	var gone []*holding
	for _, h := range e.holds {
		h.pending = max(h.pending-n(h), 0)
		if e.detach(h) {
			gone = append(gone, h)
		}
	}
	e.drained.Broadcast()
	e.hmu.Unlock()
	for _, h := range gone {
		e.letGo(h)
	}
}

// stopIfNotDurable stops the engine when a store change became visible but
// its fsync failed (store.ErrNotDurable): the change may or may not survive
// a power loss, and an fsync is never retried into success. Other errors
// pass through.
func (e *Engine) stopIfNotDurable(err error) error {
	if errors.Is(err, store.ErrNotDurable) {
		return e.fail(err)
	}
	return err
}

// Flush waits until every transaction acknowledged so far is applied in
// place, synced and watermarked, and this engine has let go of the values
// it held for them: from then on the values' files, read directly, hold
// them. It does not wait for transactions that are still open. Commits
// are durable without Flush; it only matters to readers that bypass the
// engine's locks.
func (e *Engine) Flush(ctx context.Context) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.active.Done()
	if e.pipe == nil {
		return nil
	}
	if err := e.pipe.wait(ctx); err != nil {
		return fmt.Errorf("txn: flush: %w", err)
	}
	return nil
}

// Close waits for open transactions to finish (a transaction that is never
// committed or rolled back blocks it forever, as in bbolt) and for every
// acknowledged commit to be applied in place, then releases the journal
// (deleting it if it holds no unapplied entries) and everything Open
// acquired. Close is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.active.Wait()
	if e.pipe != nil {
		e.pipe.close() // applies and watermarks everything, letting the values go
	}
	if e.j == nil {
		return nil
	}
	_, err := e.j.Release()
	return err
}

// lockKey takes key's exclusive lock and settles whatever a dead journal left
// unapplied for key, so the caller starts from the latest committed state.
func (e *Engine) lockKey(ctx context.Context, key string) (lock.Unlock, error) {
	// Let the store refuse a key (malformed, through a symbolic link)
	// before a lock file is made for it.
	if _, err := e.st.Stat(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	unlock, err := e.lk.Lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("txn: lock %q: %w", key, err)
	}
	// The engine may have stopped while we waited; its own marker on this
	// value would then name a journal it can no longer apply.
	if err := e.err(); err != nil {
		unlock()
		return nil, err
	}
	if err := e.settle(ctx, key); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// settle runs recovery for key if its marker names another journal. The
// caller holds key's exclusive lock.
func (e *Engine) settle(ctx context.Context, key string) error {
	m, err := e.lk.Marker(key)
	if errors.Is(err, lock.ErrBadMarker) {
		// Only a power loss tears a marker, and since then every engine's
		// Open has settled every journal that was dead: nothing is pending.
		e.log.Warn("txn: clearing a torn lock marker", "key", key, "err", err)
		return e.lk.SetMarker(key, "")
	}
	if err != nil {
		return fmt.Errorf("txn: marker of %q: %w", key, err)
	}
	if m == "" || m == e.JournalID() {
		return nil
	}
	if e.jdir == "" {
		return fmt.Errorf("txn: %q may have committed changes in journal %s, and this engine has no journal directory to replay them from: %w",
			key, m, ErrNeedsRecovery)
	}
	n, err := recovery.Settle(ctx, e.st, e.jdir, m, key)
	if err != nil {
		return fmt.Errorf("txn: settle %q: %w", key, err)
	}
	e.settled.Add(int64(n))
	if n > 0 {
		e.log.Info("txn: replayed a dead writer's committed entries", "key", key, "journal", m, "entries", n)
	}
	if err := e.lk.SetMarker(key, ""); err != nil {
		return fmt.Errorf("txn: clear marker of %q: %w", key, err)
	}
	return nil
}

// rlockKey takes a shared lock on key that is safe to read under: if a dead
// writer left work unsettled it settles it first under the exclusive lock
// and returns that lock instead.
func (e *Engine) rlockKey(ctx context.Context, key string) (lock.Unlock, error) {
	// A missing value has no lock file to create and nothing to settle: a
	// journal only ever holds changes to values that exist.
	if _, err := e.st.Stat(ctx, key); err != nil {
		return nil, err
	}
	unlock, err := e.lk.RLock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("txn: lock %q: %w", key, err)
	}
	if err := e.err(); err != nil {
		unlock()
		return nil, err
	}
	m, err := e.lk.Marker(key)
	if err == nil && (m == "" || m == e.JournalID()) {
		return unlock, nil
	}
	unlock()
	return e.lockKey(ctx, key)
}

// ReadAt reads len(p) bytes of key's value at off, with io.ReaderAt
// semantics. It never observes part of a transaction, nor a transaction
// that is not durable yet (see View).
func (e *Engine) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	var n int
	err := e.View(ctx, key, func(r io.ReaderAt, _ int64) error {
		var err error
		n, err = r.ReadAt(p, off)
		return err
	})
	return n, err
}

// Get returns key's whole value. It never observes part of a transaction,
// nor a transaction that is not durable yet (see View).
func (e *Engine) Get(ctx context.Context, key string) ([]byte, error) {
	var b []byte
	err := e.View(ctx, key, func(r io.ReaderAt, size int64) error {
		b = make([]byte, size)
		_, err := r.ReadAt(b, 0)
		if err == io.EOF {
			err = nil
		}
		return err
	})
	return b, err
}

// Stat describes key's value; see View for what it can observe.
func (e *Engine) Stat(ctx context.Context, key string) (store.Info, error) {
	var info store.Info
	err := e.view(ctx, key, func(_ io.ReaderAt, size int64) error {
		var err error
		if info, err = e.st.Stat(ctx, key); err == nil {
			info.Size = size
		}
		return err
	})
	return info, err
}

// Put replaces key's whole value with the bytes of r, atomically and
// durably (temporary file, fsync, rename, directory fsync), holding the
// value's turn, once every journal commit queued on the value is applied.
func (e *Engine) Put(ctx context.Context, key string, r io.Reader) error {
	return e.exclusive(ctx, key, func() error { return e.st.Put(ctx, key, r) })
}

// Delete removes key's value durably, holding its turn, once every journal
// commit queued on it is applied. A missing value is store.ErrNotFound.
func (e *Engine) Delete(ctx context.Context, key string) error {
	return e.exclusive(ctx, key, func() error { return e.st.Delete(ctx, key) })
}

func (e *Engine) exclusive(ctx context.Context, key string, fn func() error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.active.Done()
	h, err := e.acquire(ctx, key)
	if err != nil {
		return err
	}
	defer e.release(h)
	if err := e.drain(h); err != nil {
		return err
	}
	return e.stopIfNotDurable(fn())
}

// Begin starts a transaction on key, holding the value's turn until Commit
// or Rollback (see Tx); it does not wait for journal commits queued on the
// value before it. The value need not exist yet. The caller must
// end the transaction; Do does that for you. Locks are not recursive: while
// the transaction is open, do not call the engine on the same key, and take
// several values' transactions in one fixed order.
func (e *Engine) Begin(ctx context.Context, key string) (*Tx, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	h, err := e.acquire(ctx, key)
	if err != nil {
		e.active.Done()
		return nil, err
	}
	tx := &Tx{e: e, ctx: ctx, key: key, id: uuid.New(), h: h, mode: e.opts.Mode}
	_, tx.epoch = h.snapshot()
	if tx.exists, tx.base, err = e.state(ctx, h); err != nil {
		tx.endTurn()
		e.active.Done()
		return nil, err
	}
	tx.minSize, tx.size = tx.base, tx.base
	return tx, nil
}

// Do runs fn in a transaction on key: it begins, calls fn, commits if fn
// returns nil and rolls back if fn returns an error or panics (the panic is
// re-raised after the rollback). It returns fn's error or Commit's. fn must
// not call Commit or Rollback, and must not use tx after returning.
func Do(ctx context.Context, e *Engine, key string, fn func(tx *Tx) error) error {
	tx, err := e.Begin(ctx, key)
	if err != nil {
		return err
	}
	tx.managed = true
	defer func() {
		if p := recover(); p != nil {
			tx.rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		tx.rollback()
		return err
	}
	return tx.commit()
}

func readSlice(b, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("txn: read at %d: %w", off, store.ErrInvalidRange)
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// View calls fn with a reader of key's value and its size, and fn sees
// one committed state from start to end. fn must not keep r, and must not
// call the engine on the same key: locks are not recursive, and a writer
// waiting in any process would deadlock with it (see DESIGN.md, "Lock
// order and recursion").
//
// What a read can observe: every transaction whose Commit returned nil,
// and never one that is not durable. Where this engine has commits on the
// value still in its pipeline, the read takes the value's turn like a
// transaction, waits until the queued commits are durable, and reads the
// value through their after-images; otherwise it takes the value's shared
// lock, under which every commit of every process is applied in place.
func (e *Engine) View(ctx context.Context, key string, fn func(r io.ReaderAt, size int64) error) error {
	return e.view(ctx, key, fn)
}

func (e *Engine) view(ctx context.Context, key string, fn func(r io.ReaderAt, size int64) error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.active.Done()
	if e.holdingOf(key) != nil {
		return e.viewHeld(ctx, key, fn)
	}
	unlock, err := e.rlockKey(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	info, err := e.st.Stat(ctx, key)
	if err != nil {
		return err
	}
	return fn(valueReader{ctx, e.st, key}, info.Size)
}

// viewHeld is View through the value's turn and overlay.
func (e *Engine) viewHeld(ctx context.Context, key string, fn func(r io.ReaderAt, size int64) error) error {
	h, err := e.acquire(ctx, key)
	if err != nil {
		return err
	}
	defer e.release(h)
	if err := e.waitQueued(h); err != nil {
		return err
	}
	exists, size, err := e.state(ctx, h)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("txn: %q: %w", key, store.ErrNotFound)
	}
	return fn(heldReader{ctx, e, h, size}, size)
}

// heldReader reads a held value through its overlay, as an io.ReaderAt.
type heldReader struct {
	ctx  context.Context
	e    *Engine
	h    *holding
	size int64
}

func (r heldReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("txn: read %q at %d: %w", r.h.key, off, store.ErrInvalidRange)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.size-off))
	if err := r.e.readAt(r.ctx, r.h, p[:n], off); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// valueReader reads a value through the store, as an io.ReaderAt.
type valueReader struct {
	ctx context.Context
	st  store.Store
	key string
}

// ReadAt reads through the store's RangeReader, or from the whole value for
// stores without one.
func (v valueReader) ReadAt(p []byte, off int64) (int, error) {
	if rr, ok := v.st.(store.RangeReader); ok {
		return rr.ReadAt(v.ctx, v.key, p, off)
	}
	b, err := v.st.Get(v.ctx, v.key)
	if err != nil {
		return 0, err
	}
	return readSlice(b, p, off)
}
