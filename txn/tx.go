package txn

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/store"
)

// Tx is a transaction on one value. It holds the value's turn from Begin
// until Commit or Rollback: no other transaction or engine read of the
// value runs meanwhile, in this process or any other (the engine holds the
// value's exclusive lock for as long as it has transactions or commits on
// it in flight). It reads the value as every transaction committed before
// it left it, including journal commits still queued. Writes are staged in
// memory (memory grows with the bytes written, not with the value) and
// reach the store only in Commit, all or nothing.
//
// A Tx is safe for concurrent use by several goroutines. Once Commit or
// Rollback has been called every method returns ErrTxDone.
type Tx struct {
	e       *Engine
	ctx     context.Context
	key     string
	id      uuid.UUID
	h       *holding // the value's turn, held until Commit or Rollback
	epoch   uint64   // h's epoch at Begin (see Tx.aborted)
	managed bool

	mu      sync.Mutex
	done    bool
	mode    Mode
	exists  bool  // the value existed at Begin
	touched bool  // a write or resize happened (creates a missing value)
	remove  bool  // Delete was the last change: the commit deletes the value
	base    int64 // size at Begin
	minSize int64 // smallest size the value was cut to
	size    int64 // current size
	staged  extents
}

// ID returns the transaction's unique id (it is recorded in the journal).
func (tx *Tx) ID() uuid.UUID { return tx.id }

// Key returns the key of the transaction's value.
func (tx *Tx) Key() string { return tx.key }

// SetMode overrides the engine's commit mode for this transaction.
func (tx *Tx) SetMode(m Mode) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return ErrTxDone
	}
	tx.mode = m
	return nil
}

// Size returns the value's size as the transaction sees it.
func (tx *Tx) Size() (int64, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return 0, ErrTxDone
	}
	return tx.size, nil
}

// Exists reports whether the value exists as the transaction sees it.
func (tx *Tx) Exists() (bool, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return false, ErrTxDone
	}
	return (tx.exists && !tx.remove) || tx.touched, nil
}

// ReadAt reads len(p) bytes at off, seeing the transaction's own staged
// writes (read-your-writes). It follows io.ReaderAt: fewer than len(p)
// bytes come with io.EOF. A missing value reads as empty.
func (tx *Tx) ReadAt(p []byte, off int64) (int, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return 0, ErrTxDone
	}
	if off < 0 {
		return 0, fmt.Errorf("txn: read %q at %d: %w", tx.key, off, store.ErrInvalidRange)
	}
	if off >= tx.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), tx.size-off))
	q := p[:n]
	// Bytes below minSize come from the value; the rest were zeroed by a
	// resize or growth. Staged writes lie on top of both.
	if lo := min(off+int64(n), tx.minSize); lo > off {
		if err := tx.readBase(q[:lo-off], off); err != nil {
			return 0, err
		}
		clear(q[lo-off:])
	} else {
		clear(q)
	}
	if err := tx.staged.overlay(q, off, tx.readBase); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readBase reads the value as it was when the transaction began: the
// store's bytes under the commits still queued on the value.
func (tx *Tx) readBase(p []byte, off int64) error {
	return tx.e.readAt(tx.ctx, tx.h, p, off)
}

// WriteAt stages p at off. Writing past the end grows the value, filling
// any gap with zeros, as os.File does. Nothing reaches the store before
// Commit. A negative offset, or an end past Options.MaxValueSize, is
// store.ErrInvalidRange.
func (tx *Tx) WriteAt(p []byte, off int64) (int, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return 0, ErrTxDone
	}
	if off < 0 || int64(len(p)) > math.MaxInt64-off || off+int64(len(p)) > tx.e.opts.MaxValueSize {
		return 0, fmt.Errorf("txn: write %q at %d (+%d), limit %d: %w", tx.key, off, len(p), tx.e.opts.MaxValueSize, store.ErrInvalidRange)
	}
	if len(p) == 0 {
		return 0, nil // as os.File: no growth, no creation
	}
	tx.touched, tx.remove = true, false
	tx.staged.write(off, p)
	tx.size = max(tx.size, off+int64(len(p)))
	return len(p), nil
}

// CopyRange stages a copy of n bytes of the value as it was when the
// transaction began (its committed state, not this transaction's own
// writes) from offset src to offset dst, as WriteAt would write them: the
// transaction reads them there at once, and writing past the end grows the
// value. The bytes are not staged: while a copy remains (a later write or
// resize may cover it), the commit runs in copy mode whatever the mode
// asked for, and a store that patches (store.Patcher; store.Local copies
// file to file, vfs.CopyRange) makes the copies while it builds the new
// version. It lets a transaction rearrange a large value (compact it, say)
// with memory for one small header per copy; a store without Patcher
// builds the whole new value in memory instead. A negative src, dst or n,
// a source range past the value's size at Begin, or an end past
// Options.MaxValueSize, is store.ErrInvalidRange and stages nothing; n = 0
// stages nothing.
func (tx *Tx) CopyRange(dst, src, n int64) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return ErrTxDone
	}
	if src < 0 || n < 0 || n > tx.base-src || dst < 0 || n > tx.e.opts.MaxValueSize-dst {
		return fmt.Errorf("txn: copy %q %d bytes from %d to %d, value size %d, limit %d: %w",
			tx.key, n, src, dst, tx.base, tx.e.opts.MaxValueSize, store.ErrInvalidRange)
	}
	if n == 0 {
		return nil
	}
	tx.touched, tx.remove = true, false
	tx.staged.copyFrom(dst, src, n)
	tx.size = max(tx.size, dst+n)
	return nil
}

// Resize sets the value's size: shrinking drops bytes, growing adds zeros.
// Resizing a missing value creates it. A negative size, or one past
// Options.MaxValueSize, is store.ErrInvalidRange.
func (tx *Tx) Resize(size int64) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return ErrTxDone
	}
	if size < 0 || size > tx.e.opts.MaxValueSize {
		return fmt.Errorf("txn: resize %q to %d, limit %d: %w", tx.key, size, tx.e.opts.MaxValueSize, store.ErrInvalidRange)
	}
	tx.touched, tx.remove = true, false
	if size < tx.size {
		tx.staged.truncate(size)
		tx.minSize = min(tx.minSize, size)
	}
	tx.size = size
	return nil
}

// Delete stages the value's removal: the transaction then sees an empty
// value, and Commit deletes it durably (as Engine.Delete does), all or
// nothing with respect to other transactions. A WriteAt or Resize after
// Delete gives the value new contents instead, which replace it whole.
// Deleting a value that does not exist commits nothing.
func (tx *Tx) Delete() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return ErrTxDone
	}
	tx.staged.truncate(0)
	tx.minSize, tx.size = 0, 0
	tx.touched, tx.remove = false, true
	return nil
}

// Rollback discards the staged writes and releases the value's lock.
func (tx *Tx) Rollback() error {
	if tx.managed {
		return ErrManagedTx
	}
	return tx.rollback()
}

func (tx *Tx) rollback() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return ErrTxDone
	}
	tx.endTurn()
	tx.e.active.Done()
	return nil
}

// endTurn ends the transaction and passes the value's turn on. The caller
// holds tx.mu.
func (tx *Tx) endTurn() {
	tx.done = true
	tx.staged = extents{}
	tx.e.release(tx.h)
}
