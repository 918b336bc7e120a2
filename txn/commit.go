package txn

import (
	"bytes"
	"fmt"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/store"
)

// Commit makes the staged writes part of the value, all or nothing, and
// passes the value's turn to the next transaction.
//
// When Commit returns nil the new contents are durable: in copy mode the
// value's file has been replaced and synced; in journal mode the record is
// in the journal (the commit point) and the in-place write follows in the
// background (see Engine.Flush), so a crash from then on cannot lose it.
// Journal commits of concurrent transactions share one journal write, and
// the next transaction on the value may begin as soon as this one is
// queued, reading its writes.
//
// An error that does not wrap ErrNeedsRecovery means nothing was written:
// a cancelled context, a full disk before the commit point, ErrAborted
// (an earlier transaction on the value, whose writes this one may have
// read, failed), and so on. An error wrapping ErrNeedsRecovery means an
// I/O error struck after the journal write began: the engine has stopped,
// and recovery will leave the value either as before or, if the record
// became durable, as committed — never a mix. A cancelled context before
// the commit point commits nothing; after it the commit runs to the end
// regardless.
func (tx *Tx) Commit() error {
	if tx.managed {
		return ErrManagedTx
	}
	return tx.commit()
}

func (tx *Tx) commit() error {
	tx.mu.Lock()
	if tx.done {
		tx.mu.Unlock()
		return ErrTxDone
	}
	c, err := tx.commitLocked()
	tx.endTurn()
	tx.mu.Unlock()
	if c != nil {
		tx.e.pipe.lead() // with the turn passed on
		<-c.done         // durable, or failed
		err = c.err
	}
	tx.e.active.Done()
	return err
}

// commitLocked commits in copy mode, or queues a journal commit and returns
// it. The caller holds tx.mu and the value's turn.
func (tx *Tx) commitLocked() (*commit, error) {
	if err := tx.e.err(); err != nil {
		return nil, err
	}
	if !tx.changed() {
		return nil, nil
	}
	if tx.remove {
		return nil, tx.commitDelete()
	}
	if err := tx.ctx.Err(); err != nil {
		return nil, fmt.Errorf("txn: commit %q: %w", tx.key, err)
	}
	if err := tx.aborted(); err != nil {
		return nil, err
	}
	if tx.commitMode() == ModeJournal {
		return tx.queueJournal()
	}
	if err := tx.e.drain(tx.h); err != nil {
		return nil, err
	}
	// A commit this transaction read may have failed while we drained.
	// Nothing is queued now and we hold the turn, so none can fail later.
	if err := tx.aborted(); err != nil {
		return nil, err
	}
	return nil, tx.commitCopy()
}

// aborted returns ErrAborted if a commit queued before this transaction
// began, whose writes it may have read, has failed since.
func (tx *Tx) aborted() error {
	h := tx.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch != tx.epoch {
		return fmt.Errorf("txn: commit %q: %w: %w", tx.key, ErrAborted, h.cause)
	}
	return nil
}

// changed reports whether committing would change the store.
func (tx *Tx) changed() bool {
	if !tx.exists {
		return tx.touched
	}
	if tx.remove {
		return true
	}
	return len(tx.staged.list) > 0 || tx.size != tx.base || tx.minSize != tx.base
}

// commitMode resolves ModeAuto and falls back to copy where a journal
// cannot be used. See Options for the rule and its reasons.
func (tx *Tx) commitMode() Mode {
	e := tx.e
	_, inPlace := e.st.(store.RangeWriter)
	if e.j == nil || !inPlace || !tx.exists || tx.mode == ModeCopy || tx.staged.copies > 0 {
		return ModeCopy // a journal record carries bytes, not copies
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

// maxJournalBytes is the most a journal record may carry; a transaction
// staging more is copied. The overlay keeps a queued record's bytes in
// memory until it is applied, and so far beyond this a copy is cheaper.
const maxJournalBytes = 1 << 30

// patch returns the copy-mode patch of the staged writes.
func (tx *Tx) patch() store.Patch {
	p := store.Patch{MinSize: tx.minSize, Size: tx.size}
	for _, x := range tx.staged.list {
		if x.isCopy() {
			p.Copies = append(p.Copies, store.Copy{Off: x.off, Src: x.src, N: x.n})
		} else {
			p.Ranges = append(p.Ranges, store.Range{Off: x.off, Data: x.data})
		}
	}
	return p
}

// queueJournal starts the journal-mode protocol, which DESIGN.md walks
// through step by step with what a crash at each step leaves behind:
//
//  1. The value's marker names this engine's journal (once per holding),
//     so that if the process dies the next holder of the lock knows where
//     to look.
//  2. The record joins the value's overlay and the commit pipeline; the
//     turn passes to the next transaction on the value at once.
//  3. The committer makes it durable in a group (the commit point) and
//     acknowledges it; the applier writes it in place and syncs; the
//     watermark advance rides on a later group.
//  4. When nothing is pending and nobody waits, the marker is cleared and
//     the lock released (Engine.leave).
func (tx *Tx) queueJournal() (*commit, error) {
	e, h := tx.e, tx.h
	if !h.marked {
		if err := e.lk.SetMarker(tx.key, e.j.ID()); err != nil {
			// The marker may name us now. A live engine must never leave
			// its journal named on an unlocked value (the next holder
			// would wait for us to exit; see recovery.Settle), so stop:
			// that releases our owner lock and makes the marker an
			// ordinary dead one.
			return nil, fmt.Errorf("txn: commit %q: %w", tx.key, e.fail(fmt.Errorf("set marker: %w", err)))
		}
		h.marked = true
	}
	c := &commit{h: h, done: make(chan struct{}), rec: journal.Record{
		TxID: tx.id, Key: tx.key, BaseSize: tx.base, MinSize: tx.minSize, Size: tx.size,
		Ranges: make([]journal.Range, len(tx.staged.list)),
	}}
	for i, x := range tx.staged.list {
		c.rec.Ranges[i] = journal.Range{Off: x.off, Data: x.data} // the staged copy, not another
	}
	h.mu.Lock()
	h.queued = append(h.queued, c)
	h.mu.Unlock()
	e.hmu.Lock()
	h.pending++
	e.hmu.Unlock()
	e.pipe.submit(c)
	return c, nil
}

// commitDelete deletes the value once no journal commit on it is pending
// (a later replay would find it gone).
func (tx *Tx) commitDelete() error {
	if err := tx.e.drain(tx.h); err != nil {
		return err
	}
	if err := tx.aborted(); err != nil { // the deletion may rest on what it read
		return err
	}
	if err := tx.e.st.Delete(tx.ctx, tx.key); err != nil {
		return fmt.Errorf("txn: commit %q: %w", tx.key, tx.e.stopIfNotDurable(err))
	}
	return nil
}

// commitCopy is the copy-mode protocol: a patched copy beside the value,
// fsync, rename over it, directory fsync — all inside the store.
func (tx *Tx) commitCopy() error {
	e, key := tx.e, tx.key
	p := tx.patch()
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
	for _, c := range p.Copies {
		if err := tx.readBase(b[c.Off:c.Off+c.N], c.Src); err != nil {
			return err
		}
	}
	for _, r := range p.Ranges {
		copy(b[r.Off:], r.Data)
	}
	return tx.e.st.Put(tx.ctx, tx.key, bytes.NewReader(b))
}
