package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/recovery"
	"github.com/rangetx/rangetx/store"
)

// Commit makes the staged writes part of the value, all or nothing, and
// releases the value's lock.
//
// When Commit returns nil the new contents are durable. When it returns an
// error that does not wrap ErrNeedsRecovery nothing was written. An error
// wrapping ErrNeedsRecovery means an I/O error struck after the journal
// append began: the engine has stopped, and recovery will leave the value
// either as before or, if the journal record became durable, as committed —
// never a mix. A cancelled context before the commit point commits nothing;
// after the commit point the commit runs to the end regardless.
func (tx *Tx) Commit() error {
	if tx.managed {
		return ErrManagedTx
	}
	return tx.commit()
}

func (tx *Tx) commit() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return ErrTxDone
	}
	defer tx.end()
	if err := tx.e.err(); err != nil {
		return err
	}
	if !tx.changed() {
		return nil
	}
	if err := tx.ctx.Err(); err != nil {
		return fmt.Errorf("txn: commit %q: %w", tx.key, err)
	}
	if tx.commitMode() == ModeJournal {
		return tx.commitJournal()
	}
	return tx.commitCopy()
}

// changed reports whether committing would change the store.
func (tx *Tx) changed() bool {
	if !tx.exists {
		return tx.touched
	}
	return tx.staged.bytes > 0 || tx.size != tx.base || tx.minSize != tx.base
}

// commitMode resolves ModeAuto and falls back to copy where a journal
// cannot be used. See Options for the rule and its reasons.
func (tx *Tx) commitMode() Mode {
	e := tx.e
	_, inPlace := e.st.(store.RangeWriter)
	if e.j == nil || !inPlace || !tx.exists || tx.mode == ModeCopy {
		return ModeCopy
	}
	staged := tx.staged.bytes
	if staged > maxJournalBytes {
		return ModeCopy
	}
	if tx.mode == ModeJournal {
		return ModeJournal
	}
	if staged > e.opts.AutoMaxJournalBytes || staged*e.opts.AutoRatio > tx.base {
		return ModeCopy
	}
	return ModeJournal
}

// maxJournalBytes is the most a journal record may carry: bbolt refuses
// values of 2 GiB and more, and long before that a copy is cheaper.
const maxJournalBytes = 1 << 30

func (tx *Tx) ranges() []store.Range {
	rs := make([]store.Range, len(tx.staged.list))
	for i, x := range tx.staged.list {
		rs[i] = store.Range{Off: x.off, Data: x.data}
	}
	return rs
}

// commitJournal is the journal-mode protocol; DESIGN.md walks through it
// step by step with what a crash at each step leaves behind.
func (tx *Tx) commitJournal() error {
	e, key := tx.e, tx.key
	rec := journal.Record{TxID: tx.id, Key: key, BaseSize: tx.base, MinSize: tx.minSize, Size: tx.size}
	rec.Ranges = make([]journal.Range, len(tx.staged.list))
	for i, x := range tx.staged.list {
		rec.Ranges[i] = journal.Range{Off: x.off, Data: x.data}
	}

	// 1. Name our journal in the value's lock file, so that if we die
	// before step 4 the next holder of the lock knows where to look.
	if err := e.lk.SetMarker(key, e.j.ID()); err != nil {
		// The marker may name us now. A live engine must never leave its
		// journal named on an unlocked value (the next holder would wait
		// for us to exit; see recovery.Settle), so stop: that releases our
		// owner lock and makes the marker an ordinary dead one.
		return fmt.Errorf("txn: commit %q: %w", key, e.fail(fmt.Errorf("set marker: %w", err)))
	}
	// For the same reason a panic from here on (in a store, say) stops the
	// engine before the deferred unlock runs, and then goes on.
	defer func() {
		if r := recover(); r != nil {
			e.fail(fmt.Errorf("panic while committing %q: %v", key, r))
			panic(r)
		}
	}()
	crashpoint.Hit(crashpoint.JournalBeforeAppend)

	// 2. The commit point: one durable bbolt transaction.
	if _, err := e.j.Append(tx.ctx, &rec); err != nil {
		if errors.Is(err, journal.ErrNotWritten) {
			if merr := e.lk.SetMarker(key, ""); merr != nil {
				e.fail(fmt.Errorf("clear marker: %w", merr)) // as in step 1
			}
			return fmt.Errorf("txn: commit %q: %w", key, err)
		}
		// The record may or may not be durable; recovery decides.
		return fmt.Errorf("txn: commit %q: journal append: %w", key, e.fail(err))
	}
	crashpoint.Hit(crashpoint.JournalAfterAppend)

	// 3. Write in place and sync. Past the commit point the work must
	// finish even if the caller's context ends.
	ctx := context.WithoutCancel(tx.ctx)
	if err := recovery.Apply(ctx, e.st, rec); err != nil {
		return fmt.Errorf("txn: commit %q: committed to the journal, apply failed: %w", key, e.fail(err))
	}
	crashpoint.Hit(crashpoint.JournalAfterSync)

	// 4. Only now advance the watermark. If that fails the data is
	// already durable: the commit stands and the engine stops.
	if err := e.j.MarkApplied(ctx, key, rec.LSN); err != nil {
		e.fail(fmt.Errorf("advance watermark of %q: %w", key, err))
		return nil
	}
	crashpoint.Hit(crashpoint.JournalAfterMark)

	// 5. Nothing is pending for the value any more.
	// If that fails the commit still stands, but the engine stops, as in
	// step 1: its journal then looks dead and the next holder settles it
	// (finding nothing to replay) instead of waiting for this process.
	if err := e.lk.SetMarker(key, ""); err != nil {
		e.fail(fmt.Errorf("clear marker of %q: %w", key, err))
	}
	return nil
}

// commitCopy is the copy-mode protocol: a patched copy beside the value,
// fsync, rename over it, directory fsync — all inside the store.
func (tx *Tx) commitCopy() error {
	e, key := tx.e, tx.key
	p := store.Patch{MinSize: tx.minSize, Size: tx.size, Ranges: tx.ranges()}
	crashpoint.Hit(crashpoint.CopyBeforeReplace)
	var err error
	if pc, ok := e.st.(store.Patcher); ok {
		err = pc.PatchCopy(tx.ctx, key, p)
	} else {
		err = tx.putPatched(p)
	}
	if err != nil {
		return fmt.Errorf("txn: commit %q: %w", key, e.stopIfNotDurable(err))
	}
	crashpoint.Hit(crashpoint.CopyAfterReplace)
	return nil
}

// putPatched is copy mode for stores that can only replace whole values.
func (tx *Tx) putPatched(p store.Patch) error {
	b := make([]byte, p.Size)
	if p.MinSize > 0 {
		if err := tx.readBase(b[:p.MinSize], 0); err != nil {
			return err
		}
	}
	for _, r := range p.Ranges {
		copy(b[r.Off:], r.Data)
	}
	return tx.e.st.Put(tx.ctx, tx.key, bytes.NewReader(b))
}
