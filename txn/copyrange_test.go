package txn_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// TestCopyRangeCommitsByCopy: a transaction with a CopyRange commits in
// copy mode whatever mode it asked for (a journal record carries bytes, not
// copies), copies from the value as it was at Begin even after the
// transaction overwrote the source, and reads the copied bytes at once.
func TestCopyRangeCommitsByCopy(t *testing.T) {
	e := openLocal(t, t.TempDir(), txn.ModeJournal)
	put(t, e, "v", []byte("0123456789"))
	before := e.Stats().Commits
	err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
		if err := tx.SetMode(txn.ModeJournal); err != nil {
			return err
		}
		if _, err := tx.WriteAt([]byte("abcd"), 0); err != nil {
			return err
		}
		if err := tx.CopyRange(6, 0, 4); err != nil { // the old 0123, not abcd
			return err
		}
		if err := tx.CopyRange(12, 8, 2); err != nil { // grows, with a zero gap
			return err
		}
		got := make([]byte, 14)
		if _, err := tx.ReadAt(got, 0); err != nil {
			return err
		}
		if want := "abcd450123\x00\x0089"; string(got) != want {
			t.Errorf("read in the transaction %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := get(t, e, "v"), "abcd450123\x00\x0089"; string(got) != want {
		t.Fatalf("committed %q, want %q", got, want)
	}
	if n := e.Stats().Commits; n != before {
		t.Fatalf("%d journal commits for a transaction with copies", n-before)
	}
}

// TestCopyRangeRejects: a source outside the value as it was at Begin, a
// negative length or offset, or an end past MaxValueSize is
// store.ErrInvalidRange and stages nothing.
func TestCopyRangeRejects(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		put(t, e, "v", []byte("0123456789"))
		err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
			if err := tx.Resize(20); err != nil { // the source is still 10 bytes
				return err
			}
			for _, c := range [][3]int64{
				{0, 0, 11}, {0, 10, 1}, {0, 5, 6}, {0, -1, 1}, {0, 0, -1}, {-1, 0, 1},
				{math.MaxInt64, 0, 1}, {1, math.MaxInt64, 2},
			} {
				if err := tx.CopyRange(c[0], c[1], c[2]); !errors.Is(err, store.ErrInvalidRange) {
					t.Errorf("CopyRange(%d, %d, %d) = %v, want ErrInvalidRange", c[0], c[1], c[2], err)
				}
			}
			if err := tx.CopyRange(3, 10, 0); err != nil { // nothing, at the very end
				t.Errorf("empty copy: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := get(t, e, "v"); !bytes.Equal(got, append([]byte("0123456789"), make([]byte, 10)...)) {
			t.Fatalf("value %q after refused copies", got)
		}
	})
	// A value that did not exist has nothing to copy.
	e := openLocal(t, t.TempDir(), txn.ModeAuto)
	err := txn.Do(ctx, e, "new", func(tx *txn.Tx) error { return tx.CopyRange(0, 0, 1) })
	if !errors.Is(err, store.ErrInvalidRange) {
		t.Fatalf("copy from a missing value: %v", err)
	}
}
