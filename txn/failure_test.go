package txn_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/internal/testutil"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/recovery"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// flakyStore is a Local store whose next Sync can be made to fail with EIO.
type flakyStore struct {
	*store.Local
	failSync atomic.Bool
}

func (s *flakyStore) Sync(ctx context.Context, key string) error {
	if s.failSync.CompareAndSwap(true, false) {
		return &os.PathError{Op: "fdatasync", Path: key, Err: syscall.EIO}
	}
	return s.Local.Sync(ctx, key)
}

// signalLocker reports Lock calls on waiting (buffered, so a report is not
// lost when nobody is receiving yet; while one is unread, later ones are
// dropped) before it waits. Drain it before the call you want to observe.
type signalLocker struct {
	lock.Locker
	waiting chan string
}

func (l *signalLocker) Lock(ctx context.Context, key string) (lock.Unlock, error) {
	select {
	case l.waiting <- key:
	default:
	}
	return l.Locker.Lock(ctx, key)
}

// newFlakyEngine assembles an engine on root the way Open does, over a
// store whose syncs can fail and a locker that reports lock waits.
func newFlakyEngine(t *testing.T, root string) (*txn.Engine, *flakyStore, *signalLocker) {
	locks, jdir, _ := txn.Layout(root)
	j, err := journal.Create(jdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	local, err := store.NewLocal(root, store.WithOwner(j.ID()))
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lock.NewFile(locks)
	if err != nil {
		t.Fatal(err)
	}
	st := &flakyStore{Local: local}
	sl := &signalLocker{Locker: lk, waiting: make(chan string, 1)}
	e, err := txn.New(st, sl, j, &txn.Options{Mode: txn.ModeJournal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, st, sl
}

// TestFailedSyncStopsEngine: an fsync failure after the commit point stops
// the engine (ErrNeedsRecovery, never a retried fsync). Commit has already
// returned nil — the record was durable — and Flush reports the stop. The
// engine fences the value against its other callers, including one queued
// for the value, and recovery then applies the committed transaction.
func TestFailedSyncStopsEngine(t *testing.T) {
	root := t.TempDir()
	e, st, _ := newFlakyEngine(t, root)
	orig := bytes.Repeat([]byte("o"), 1<<20)
	put(t, e, "v", orig)

	tx, err := e.Begin(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	tx.WriteAt([]byte("NEW"), 10)
	st.failSync.Store(true)
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit = %v; the record is durable before the in-place sync fails", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- e.Put(ctx, "v", bytes.NewReader([]byte("later put"))) }()
	if err := e.Flush(ctx); !errors.Is(err, txn.ErrNeedsRecovery) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Flush after a failing fsync = %v, want ErrNeedsRecovery wrapping EIO", err)
	}
	if err := <-waiting; !errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("a Put queued for the value = %v, want ErrNeedsRecovery", err)
	}
	if _, err := e.Get(ctx, "v"); !errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("Get on a stopped engine = %v", err)
	}
	if _, err := e.Begin(ctx, "other"); !errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("Begin on a stopped engine = %v", err)
	}

	// Another engine on the same store settles the committed transaction.
	other := openLocal(t, root, txn.ModeAuto)
	want := append([]byte(nil), orig...)
	copy(want[10:], "NEW")
	if got := get(t, other, "v"); !bytes.Equal(got, want) {
		t.Fatal("the committed transaction was not applied by the next engine")
	}
	e.Close()
	other.Close()
	if got := get(t, openLocal(t, root, txn.ModeAuto), "v"); !bytes.Equal(got, want) {
		t.Fatal("value changed after reopening")
	}
}

// TestMarkerClearedAfterCommit: once a journal commit is applied and
// watermarked it leaves no marker, so later holders have nothing to look up.
func TestMarkerClearedAfterCommit(t *testing.T) {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeJournal)
	put(t, e, "a/v", make([]byte, 1<<16))
	err := txn.Do(ctx, e, "a/v", func(tx *txn.Tx) error {
		_, err := tx.WriteAt([]byte("x"), 5)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, e) // the marker goes once the commit is applied and watermarked
	locks, _, _ := txn.Layout(root)
	b, err := os.ReadFile(lock.LockPath(locks, "a/v"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 0 {
		t.Fatalf("marker left after a completed commit: %q", b)
	}
}

// TestHugeOffsetRejected: an offset past MaxValueSize is refused before
// anything is staged, so it can never reach the journal.
func TestHugeOffsetRejected(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		put(t, e, "v", []byte("small"))
		err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
			_, err := tx.WriteAt([]byte("x"), 1<<44)
			return err
		})
		if !errors.Is(err, store.ErrInvalidRange) {
			t.Fatalf("write at 16 TiB = %v, want ErrInvalidRange", err)
		}
		err = txn.Do(ctx, e, "v", func(tx *txn.Tx) error { return tx.Resize(1<<41 + 1) })
		if !errors.Is(err, store.ErrInvalidRange) {
			t.Fatalf("resize to 2 TiB = %v, want ErrInvalidRange", err)
		}
		if got := get(t, e, "v"); string(got) != "small" {
			t.Fatalf("value changed: %q", got)
		}
	})
}

// TestNoJournalEngineRefusesForeignMarker: an engine without a journal
// directory must not clear a dead writer's marker it cannot settle.
func TestNoJournalEngineRefusesForeignMarker(t *testing.T) {
	root := t.TempDir()
	locks, _, _ := txn.Layout(root)
	lk, err := lock.NewFile(locks)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	e, err := txn.New(st, lk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	put(t, e, "v", []byte("value"))
	unlock, err := lk.Lock(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	lk.SetMarker("v", "0193a0e4-7b1c-7d2e-9f00-0123456789ab")
	unlock()
	if _, err := e.Begin(ctx, "v"); !errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("Begin with a foreign marker and no journal = %v", err)
	}
	if m, _ := lk.Marker("v"); m == "" {
		t.Fatal("the marker was cleared without settling")
	}
}

// TestAppendRefusedKeepsEngine: a journal append that is known to have
// written nothing (here: the journal is closed) fails the commit cleanly,
// without stopping the engine or leaving a marker.
func TestAppendRefusedKeepsEngine(t *testing.T) {
	j, err := journal.Create(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lk := lock.NewMemory()
	e, err := txn.New(store.NewMemory(), lk, j, &txn.Options{Mode: txn.ModeJournal})
	if err != nil {
		t.Fatal(err)
	}
	put(t, e, "v", make([]byte, 100))
	j.Close()
	err = txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
		_, err := tx.WriteAt([]byte("x"), 0)
		return err
	})
	if err == nil || errors.Is(err, txn.ErrNeedsRecovery) || !errors.Is(err, journal.ErrNotWritten) {
		t.Fatalf("commit with a refused append = %v, want ErrNotWritten and not ErrNeedsRecovery", err)
	}
	if m, _ := lk.Marker("v"); m != "" {
		t.Fatalf("marker %q left behind", m)
	}
	if got := get(t, e, "v"); !bytes.Equal(got, make([]byte, 100)) {
		t.Fatal("value changed")
	}
	if err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error { return tx.SetMode(txn.ModeCopy) }); err != nil {
		t.Fatalf("engine unusable after a refused append: %v", err)
	}
}

// TestOpenFencesUnsettledValue: a dead journal whose entry cannot be
// replayed does not stop Open; that value refuses every transaction with
// the replay error, and the others work.
func TestOpenFencesUnsettledValue(t *testing.T) {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeAuto)
	put(t, e, "bad", []byte("ab"))
	put(t, e, "good", []byte("gggg"))
	e.Close()
	_, jdir, _ := txn.Layout(root)
	testutil.DeadJournal(t, jdir,
		journal.Record{TxID: uuid.New(), Key: "bad", BaseSize: 10, MinSize: 10, Size: 10, Ranges: []journal.Range{{Off: 0, Data: []byte("X")}}},
		journal.Record{TxID: uuid.New(), Key: "good", BaseSize: 4, MinSize: 4, Size: 4, Ranges: []journal.Range{{Off: 0, Data: []byte("G")}}})
	e = openLocal(t, root, txn.ModeAuto)
	if got := get(t, e, "good"); string(got) != "Gggg" {
		t.Fatalf("good = %q", got)
	}
	if _, err := e.Begin(ctx, "bad"); !errors.Is(err, recovery.ErrValueMismatch) {
		t.Fatalf("Begin on a fenced value = %v, want ErrValueMismatch", err)
	}
	if _, err := e.Get(ctx, "bad"); !errors.Is(err, recovery.ErrValueMismatch) {
		t.Fatalf("Get on a fenced value = %v, want ErrValueMismatch", err)
	}
	if err := e.Put(ctx, "bad", bytes.NewReader([]byte("overwrite"))); !errors.Is(err, recovery.ErrValueMismatch) {
		t.Fatalf("Put on a fenced value = %v, want ErrValueMismatch", err)
	}
}

// TestTornMarkerCleared: a lock file torn by a power loss (zeros, no
// newline) does not block its value: the next holder clears it.
func TestTornMarkerCleared(t *testing.T) {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeAuto)
	put(t, e, "v", []byte("value"))
	locks, _, _ := txn.Layout(root)
	if err := os.WriteFile(lock.LockPath(locks, "v"), make([]byte, 40), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get(t, e, "v"); string(got) != "value" {
		t.Fatalf("read through a torn marker = %q", got)
	}
	err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
		_, err := tx.WriteAt([]byte("V"), 0)
		return err
	})
	if err != nil {
		t.Fatalf("transaction after a torn marker: %v", err)
	}
	flush(t, e)
	if b, _ := os.ReadFile(lock.LockPath(locks, "v")); len(b) != 0 {
		t.Fatalf("torn marker not cleared: %q", b)
	}
}
