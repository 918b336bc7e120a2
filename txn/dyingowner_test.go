package txn_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/store/vfs"
	"github.com/rangetx/rangetx/txn"
)

// TestWaitsForDyingOwner: when a writer is killed, the kernel releases its
// locks one file at a time, so the next holder of a value can find the
// value unlocked while the dead writer's journal still looks alive. The
// holder must wait for that journal's owner to go and then replay it — not
// take the marker for stale, commit, and have a later recovery replay the
// dead writer's entry over its commit. (Found by a 10,000-kill crashtest
// soak as two writers acknowledging the same sequence number.)
func TestWaitsForDyingOwner(t *testing.T) {
	// The "dying" writer: its journal is still owned (alive), holds a
	// committed, unapplied entry for v, and is named in v's marker; v's
	// lock itself is free.
	root, e, dying, _ := liveJournalNamedOnValue(t, "old value")
	rec := journal.Record{Key: "v", BaseSize: 9, MinSize: 9, Size: 9, Ranges: []journal.Range{{Off: 0, Data: []byte("new")}}}
	if _, err := dying.Append(ctx, &rec); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		done <- txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
			_, err := tx.WriteAt([]byte("!"), 8)
			return err
		})
	}()
	select {
	case err := <-done:
		t.Fatalf("committed (%v) while the journal naming the value was still owned", err)
	case <-time.After(200 * time.Millisecond):
	}
	// The owner finishes dying: its owner lock goes, its journal stays.
	if err := dying.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting after the owner exited")
	}
	got, err := e.Get(ctx, "v")
	if err != nil || !bytes.Equal(got, []byte("new valu!")) {
		t.Fatalf("value = %q, %v; want the dead writer's entry replayed, then ours", got, err)
	}
	// And no later recovery rolls it back.
	e2, err := txn.Open(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if got, _ := e2.Get(ctx, "v"); !bytes.Equal(got, []byte("new valu!")) {
		t.Fatalf("after recovery value = %q", got)
	}
}

// TestSettleWaitGivesUpWithContext: the wait for a dying owner ends with
// the caller's context.
func TestSettleWaitGivesUpWithContext(t *testing.T) {
	_, e, alive, lk := liveJournalNamedOnValue(t, "old value")
	c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := e.Begin(c, "v"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Begin = %v, want it to wait until the context ends", err)
	}
	if m, _ := lk.Marker("v"); m != alive.ID() {
		t.Fatalf("marker = %q after giving up; it must stay", m)
	}
}

// liveJournalNamedOnValue opens an engine on a new root holding value "v",
// creates a second journal there whose owner stays alive until the test
// closes it, and names that journal in v's lock marker, as a writer that
// is being killed leaves it. v's lock itself is free.
func liveJournalNamedOnValue(t *testing.T, v string) (string, *txn.Engine, *journal.Journal, *lock.File) {
	t.Helper()
	root := t.TempDir()
	e, err := txn.Open(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	put(t, e, "v", []byte(v))
	locks, jdir, _ := txn.Layout(root)
	j, err := journal.Create(jdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	lk, err := lock.NewFile(locks)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.SetMarker("v", j.ID()); err != nil {
		t.Fatal(err)
	}
	return root, e, j, lk
}

// TestPanicInCommitStopsEngine: a panic inside a journal-mode commit (here
// from the file system, while writing in place) must not leave this live
// engine's journal named on the unlocked value — every later holder would
// wait for it to exit. The engine stops instead, so its journal is dead and
// the next engine replays it.
func TestPanicInCommitStopsEngine(t *testing.T) {
	root := t.TempDir()
	var armed atomic.Bool
	fsys := vfs.Inject(vfs.Default, func(op vfs.Op) error {
		if armed.Load() && op.Kind == vfs.OpWrite && filepath.Base(op.Path) == "v" {
			panic("disk controller on fire")
		}
		return nil
	})
	e, err := txn.Open(ctx, root, &txn.Options{FS: fsys, Mode: txn.ModeJournal, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	put(t, e, "v", []byte("old value"))
	armed.Store(true)
	// The panic strikes in the in-place apply, after the acknowledgement,
	// on the engine's own goroutine: it must neither kill the process nor
	// be lost.
	if err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
		_, err := tx.WriteAt([]byte("new"), 0)
		return err
	}); err != nil {
		t.Fatalf("Commit = %v; the record was durable before the apply panicked", err)
	}
	if err := e.Flush(ctx); !errors.Is(err, txn.ErrNeedsRecovery) || !strings.Contains(err.Error(), "disk controller on fire") {
		t.Fatalf("Flush after a panic in the apply = %v, want ErrNeedsRecovery naming the panic", err)
	}
	armed.Store(false)
	if _, err := e.Begin(ctx, "v"); !errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("Begin after the panic = %v, want ErrNeedsRecovery", err)
	}
	if live, err := journal.IsLive(filepath.Join(root, txn.JournalDir), e.JournalID()); err != nil || live {
		t.Fatalf("stopped engine's journal live=%v, %v", live, err)
	}
	e2, err := txn.Open(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if got, err := e2.Get(c, "v"); err != nil || string(got) != "new value" {
		t.Fatalf("after recovery v = %q, %v", got, err)
	}
}
