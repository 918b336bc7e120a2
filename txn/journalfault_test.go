package txn_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/internal/testutil"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/txn"
)

// errInjected is what the failpoints of these tests make the journal return.
var errInjected = errors.New("injected journal fault")

// injectAt makes the journal fail at point for key with errInjected until
// the returned function (also run at cleanup) is called, and counts the
// failures.
func injectAt(t *testing.T, point, key string) (hits *atomic.Int64, uninstall func()) {
	t.Helper()
	hits = new(atomic.Int64)
	uninstall = crashpoint.Install(func(name, k string) error {
		if name == point && k == key {
			hits.Add(1)
			return errInjected
		}
		return nil
	})
	t.Cleanup(uninstall)
	return hits, uninstall
}

// countAppends counts the records for key that the journal made durable
// (crashpoint.JournalAppended), until the returned function is called.
func countAppends(t *testing.T, key string) (appended *atomic.Int64, uninstall func()) {
	t.Helper()
	appended = new(atomic.Int64)
	uninstall = crashpoint.Install(func(name, k string) error {
		if name == crashpoint.JournalAppended && k == key {
			appended.Add(1)
		}
		return nil
	})
	t.Cleanup(uninstall)
	return appended, uninstall
}

// writeTx commits one write of p at off to key.
func writeTx(e *txn.Engine, key string, p []byte, off int64) error {
	return txn.Do(ctx, e, key, func(tx *txn.Tx) error {
		_, err := tx.WriteAt(p, off)
		return err
	})
}

// patched returns a copy of b with p written at off.
func patched(b []byte, p []byte, off int) []byte {
	b = bytes.Clone(b)
	copy(b[off:], p)
	return b
}

// flush waits until e's acknowledged commits are applied in place, so the
// value files can be read directly.
func flush(t *testing.T, e *txn.Engine) {
	t.Helper()
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// rawValue reads key's file directly, bypassing the engine and its locks.
func rawValue(t *testing.T, root, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// markerOf reads key's holder marker directly from its lock file.
func markerOf(t *testing.T, root, key string) string {
	t.Helper()
	locks, _, _ := txn.Layout(root)
	b, err := os.ReadFile(lock.LockPath(locks, key))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// journalFiles lists every file in root's journal directory.
func journalFiles(t *testing.T, root string) []string {
	t.Helper()
	_, jdir, _ := txn.Layout(root)
	ents, err := os.ReadDir(jdir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// assertJournalDirEmpty checks that no journal file at all is left, as
// after every engine on root has closed and nothing is pending.
func assertJournalDirEmpty(t *testing.T, root string) {
	t.Helper()
	if names := journalFiles(t, root); len(names) != 0 {
		t.Fatalf("journal directory not clean: %v", names)
	}
}

// pendingIn returns how many entries for key the dead journal id still
// holds above its watermark.
func pendingIn(t *testing.T, root, id, key string) int {
	t.Helper()
	_, jdir, _ := txn.Layout(root)
	j, err := journal.OpenDead(ctx, jdir, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs, err := j.Pending(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func quietOptions(mode txn.Mode) *txn.Options {
	return &txn.Options{Mode: mode, Logger: slog.New(slog.DiscardHandler)}
}

// TestJournalAppendFails: an append that fails before its bbolt
// transaction (so nothing is written, journal.ErrNotWritten) fails the
// commit without stopping the engine: the value is unchanged, the marker is
// cleared, and the next journal-mode commit on the same journal succeeds.
func TestJournalAppendFails(t *testing.T) {
	root := t.TempDir()
	e, err := txn.Open(ctx, root, quietOptions(txn.ModeJournal))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	old := bytes.Repeat([]byte("o"), 64<<10)
	put(t, e, "v", old)

	hits, uninstall := injectAt(t, crashpoint.JournalAppend, "v")
	err = writeTx(e, "v", []byte("NEW"), 100)
	if !errors.Is(err, journal.ErrNotWritten) || !errors.Is(err, errInjected) || errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("commit with a failing append = %v, want ErrNotWritten wrapping the fault, not ErrNeedsRecovery", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("the append failpoint was hit %d times", hits.Load())
	}
	uninstall()
	if got := rawValue(t, root, "v"); !bytes.Equal(got, old) {
		t.Fatal("a commit whose append wrote nothing changed the value")
	}
	if m := markerOf(t, root, "v"); m != "" {
		t.Fatalf("marker %q left after a failed append", m)
	}

	// Still usable, in journal mode: the journal was not broken.
	appended, uninstall := countAppends(t, "v")
	if err := writeTx(e, "v", []byte("NEW"), 100); err != nil {
		t.Fatalf("engine unusable after a refused append: %v", err)
	}
	uninstall()
	if appended.Load() != 1 {
		t.Fatalf("the retry appended %d records, want 1 (journal mode)", appended.Load())
	}
	if got := get(t, e, "v"); !bytes.Equal(got, patched(old, []byte("NEW"), 100)) {
		t.Fatal("the retried commit is not in the value")
	}
	if left := journalsLeft(t, root, e); len(left) != 0 {
		t.Fatalf("journals other than the engine's: %v", left)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	assertJournalDirEmpty(t, root)
}

// TestWatermarkFailureStopsEngine: MarkApplied fails after the value was
// written and synced. The commit stands (Commit returns nil, the value is
// new), the engine stops (ErrNeedsRecovery from then on) and leaves the
// value fenced by its marker with the entry still pending; whoever settles
// next — a fresh Open or another engine's next transaction on the value —
// replays the entry over the new value, which changes nothing, and the
// journal is removed.
func TestWatermarkFailureStopsEngine(t *testing.T) {
	for _, via := range []string{"reopen", "next-holder"} {
		t.Run(via, func(t *testing.T) {
			root := t.TempDir()
			e, err := txn.Open(ctx, root, quietOptions(txn.ModeJournal))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			var other *txn.Engine
			if via == "next-holder" {
				other = openLocal(t, root, txn.ModeJournal)
			}
			old := bytes.Repeat([]byte("o"), 64<<10)
			put(t, e, "v", old)
			put(t, e, "w", []byte("untouched"))
			want := patched(old, []byte("NEW"), 100)

			hits, uninstall := injectAt(t, crashpoint.JournalMark, "v")
			if err := writeTx(e, "v", []byte("NEW"), 100); err != nil {
				t.Fatalf("Commit = %v; the watermark fails after the commit point, so the commit stands", err)
			}
			// The watermark advance follows the in-place apply, after the
			// acknowledgement; Flush waits for it and reports the stop.
			if err := e.Flush(ctx); !errors.Is(err, txn.ErrNeedsRecovery) || !errors.Is(err, errInjected) {
				t.Fatalf("Flush = %v, want ErrNeedsRecovery wrapping the injected error", err)
			}
			uninstall()
			if hits.Load() != 1 {
				t.Fatalf("the watermark failpoint was hit %d times", hits.Load())
			}
			if got := rawValue(t, root, "v"); !bytes.Equal(got, want) {
				t.Fatal("the acknowledged commit is not in the value")
			}
			if _, err := e.Begin(ctx, "w"); !errors.Is(err, txn.ErrNeedsRecovery) {
				t.Fatalf("Begin after a failed watermark = %v, want ErrNeedsRecovery", err)
			}
			if _, err := e.Get(ctx, "v"); !errors.Is(err, txn.ErrNeedsRecovery) {
				t.Fatalf("Get after a failed watermark = %v, want ErrNeedsRecovery", err)
			}
			if err := e.Put(ctx, "w", bytes.NewReader([]byte("x"))); !errors.Is(err, txn.ErrNeedsRecovery) {
				t.Fatalf("Put after a failed watermark = %v, want ErrNeedsRecovery", err)
			}
			if m := markerOf(t, root, "v"); m != e.JournalID() {
				t.Fatalf("marker = %q, want the stopped engine's journal %s", m, e.JournalID())
			}
			if n := pendingIn(t, root, e.JournalID(), "v"); n != 1 {
				t.Fatalf("%d entries pending in the stopped engine's journal, want 1", n)
			}

			switch via {
			case "reopen":
				if err := e.Close(); err != nil {
					t.Fatalf("Close of a stopped engine: %v", err)
				}
				e2 := openLocal(t, root, txn.ModeAuto)
				rep := e2.Recovered()
				if rep.Replayed != 1 || len(rep.Journals) != 1 || rep.Journals[0].ID != e.JournalID() ||
					rep.Journals[0].Replayed["v"] != 1 || !rep.Journals[0].Removed {
					t.Fatalf("recovery report = %+v, want the one entry replayed and the journal removed", rep)
				}
				if got := get(t, e2, "v"); !bytes.Equal(got, want) {
					t.Fatal("replaying the pending entry over the new value changed it")
				}
				if m := markerOf(t, root, "v"); m != "" {
					t.Fatalf("marker %q left after recovery", m)
				}
				if err := writeTx(e2, "v", []byte("more"), 200); err != nil {
					t.Fatal(err)
				}
				want = patched(want, []byte("more"), 200)
				if err := e2.Close(); err != nil {
					t.Fatal(err)
				}
			case "next-holder":
				err := txn.Do(ctx, other, "v", func(tx *txn.Tx) error {
					got := make([]byte, len(want))
					if n, _ := tx.ReadAt(got, 0); n != len(want) || !bytes.Equal(got, want) {
						return fmt.Errorf("the next holder did not see the acknowledged commit")
					}
					_, err := tx.WriteAt([]byte("more"), 200)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				want = patched(want, []byte("more"), 200)
				if left := journalsLeft(t, root, other); len(left) != 0 {
					t.Fatalf("journals left after the next holder settled: %v", left)
				}
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				if err := other.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if got := rawValue(t, root, "v"); !bytes.Equal(got, want) {
				t.Fatal("value wrong after settling")
			}
			if got := rawValue(t, root, "w"); string(got) != "untouched" {
				t.Fatalf("w = %q", got)
			}
			assertJournalDirEmpty(t, root)
		})
	}
}

// TestRecoveryWatermarkFailureFences: recovery replays a dead journal's
// entry, but advancing the watermark fails. Open still succeeds (the value
// is fenced, DESIGN "Who settles"), the other values of the journal are
// settled, every transaction and read on the fenced value retries the
// settling and returns its error while the fault lasts, and once it is gone
// the next holder or the next Open settles the value and removes the
// journal.
func TestRecoveryWatermarkFailureFences(t *testing.T) {
	for _, via := range []string{"next-open", "next-holder"} {
		t.Run(via, func(t *testing.T) {
			root := t.TempDir()
			e := openLocal(t, root, txn.ModeAuto)
			old := bytes.Repeat([]byte("o"), 8192)
			put(t, e, "v", old)
			put(t, e, "w", []byte("wwww"))
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			_, jdir, _ := txn.Layout(root)
			id := testutil.DeadJournal(t, jdir,
				journal.Record{TxID: uuid.New(), Key: "v", BaseSize: 8192, MinSize: 8192, Size: 8192,
					Ranges: []journal.Range{{Off: 100, Data: []byte("NEW")}}},
				journal.Record{TxID: uuid.New(), Key: "w", BaseSize: 4, MinSize: 4, Size: 4,
					Ranges: []journal.Range{{Off: 0, Data: []byte("W")}}})
			want := patched(old, []byte("NEW"), 100)

			hits, uninstall := injectAt(t, crashpoint.JournalMark, "v")
			e, err := txn.Open(ctx, root, quietOptions(txn.ModeAuto))
			if err != nil {
				t.Fatalf("Open with an unsettleable value = %v, want it to open and fence the value", err)
			}
			t.Cleanup(func() { e.Close() })
			rep := e.Recovered()
			if len(rep.Journals) != 1 || rep.Journals[0].ID != id || rep.Journals[0].Removed ||
				!strings.Contains(rep.Journals[0].Failed["v"], errInjected.Error()) || rep.Journals[0].Replayed["w"] != 1 {
				t.Fatalf("recovery report = %+v", rep)
			}
			// The replay itself finished before the watermark failed.
			if got := rawValue(t, root, "v"); !bytes.Equal(got, want) {
				t.Fatal("v does not hold its replayed entry")
			}
			if m := markerOf(t, root, "v"); m != id {
				t.Fatalf("v's marker = %q, want the fence %s", m, id)
			}
			if got := get(t, e, "w"); string(got) != "Wwww" {
				t.Fatalf("w = %q: one unsettled value stopped the others", got)
			}
			if _, err := e.Begin(ctx, "v"); !errors.Is(err, errInjected) || errors.Is(err, txn.ErrNeedsRecovery) {
				t.Fatalf("Begin on the fenced value = %v, want the settling error", err)
			}
			if _, err := e.Get(ctx, "v"); !errors.Is(err, errInjected) {
				t.Fatalf("Get on the fenced value = %v, want the settling error", err)
			}
			if err := writeTx(e, "w", []byte("X"), 1); err != nil {
				t.Fatalf("a transaction on another value: %v", err)
			}
			if hits.Load() != 3 {
				t.Fatalf("the watermark failpoint was hit %d times, want 3 (Open, Begin, Get)", hits.Load())
			}
			uninstall()

			switch via {
			case "next-open":
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				e = openLocal(t, root, txn.ModeAuto)
				rep := e.Recovered()
				if rep.Replayed != 1 || len(rep.Journals) != 1 || rep.Journals[0].Replayed["v"] != 1 || !rep.Journals[0].Removed {
					t.Fatalf("recovery report after the fault = %+v", rep)
				}
			case "next-holder":
			}
			if err := writeTx(e, "v", []byte("more"), 200); err != nil {
				t.Fatalf("transaction on v after the fault: %v", err)
			}
			want = patched(want, []byte("more"), 200)
			if got := get(t, e, "v"); !bytes.Equal(got, want) {
				t.Fatal("v is wrong after settling")
			}
			flush(t, e)
			if m := markerOf(t, root, "v"); m != "" {
				t.Fatalf("marker %q left after settling", m)
			}
			if left := journalsLeft(t, root, e); len(left) != 0 {
				t.Fatalf("journals left: %v", left)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if got := rawValue(t, root, "w"); string(got) != "WXww" {
				t.Fatalf("w = %q", got)
			}
			assertJournalDirEmpty(t, root)
		})
	}
}
