package txn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rangetx/rangetx/lock"
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

// TestCopyRangeBehindFailedCommit: a transaction begun behind a queued
// journal commit reads — and copies — that commit's bytes; when the
// commit's batch fails before its commit point while the transaction's
// copy-mode commit drains the value, that commit fails with ErrAborted
// instead of copying from a file that lacks the failed commit. The same
// holds for a deletion (Tx.Delete) that rests on what it read.
func TestCopyRangeBehindFailedCommit(t *testing.T) {
	for _, del := range []bool{false, true} {
		t.Run(fmt.Sprint("delete=", del), func(t *testing.T) { copyBehindFailedCommit(t, del) })
	}
}

func copyBehindFailedCommit(t *testing.T, del bool) {
	{
		e := openLocal(t, t.TempDir(), txn.ModeJournal)
		old := bytes.Repeat([]byte("o"), 8192)
		put(t, e, "v", old)
		entered, release := gateAppend(t, "v")
		c1 := goCommit(e, "v", []byte("AAAA"), 0)
		<-entered
		tx2, err := e.Begin(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		if del {
			err = tx2.Delete()
		} else {
			err = tx2.CopyRange(100, 0, 4)
		}
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := tx2.ReadAt(buf, 0); !del && (err != nil || string(buf) != "AAAA") {
			t.Fatalf("tx2 read %q, %v", buf, err)
		}
		done := make(chan error, 1)
		go func() { done <- tx2.Commit() }()
		time.Sleep(50 * time.Millisecond) // let tx2 reach its drain
		release(errInjected)
		if err := <-c1; !errors.Is(err, errInjected) {
			t.Fatalf("the queued commit = %v", err)
		}
		if err := <-done; !errors.Is(err, txn.ErrAborted) {
			t.Errorf("delete=%v: commit behind a failed one = %v, want ErrAborted", del, err)
		}
		if got := get(t, e, "v"); !bytes.Equal(got, old) {
			t.Errorf("delete=%v: value changed: %q...", del, got[:8])
		}
	}
}

// plainStore hides every optional interface of its store, Patcher
// included, so copy mode builds the new value itself (putPatched).
type plainStore struct{ store.Store }

// TestCopyRangeWithoutPatcher: on a store that cannot patch, the commit
// reads the copies from the value itself.
func TestCopyRangeWithoutPatcher(t *testing.T) {
	e, err := txn.New(plainStore{store.NewMemory()}, lock.NewMemory(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	put(t, e, "v", []byte("0123456789"))
	err = txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
		if _, err := tx.WriteAt([]byte("ab"), 0); err != nil {
			return err
		}
		if err := tx.CopyRange(4, 0, 3); err != nil {
			return err
		}
		return tx.CopyRange(11, 8, 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(get(t, e, "v")), "ab23012789\x0089"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestCopyRangeBehindQueuedCommit: behind a queued journal commit, a
// transaction that deletes the value, then copies from it, copies the
// value as the queued commit left it — in what it reads and in what it
// commits.
func TestCopyRangeBehindQueuedCommit(t *testing.T) {
	for _, k := range engineKinds[1:] { // those with a journal
		t.Run(k.name, func(t *testing.T) {
			e := k.open(t, txn.ModeJournal)
			base := bytes.Repeat([]byte("0123456789"), 100)
			put(t, e, "v", base)
			resume := txn.PauseCommits(e)
			queued := goCommit(e, "v", []byte("QUEUED"), 10)
			time.Sleep(20 * time.Millisecond) // queued behind the pause
			want := bytes.Clone(base)
			copy(want[10:], "QUEUED")
			go func() { time.Sleep(50 * time.Millisecond); resume() }()
			err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
				if err := tx.Delete(); err != nil {
					return err
				}
				if err := tx.CopyRange(0, 5, 20); err != nil {
					return err
				}
				p := make([]byte, 21)
				if n, _ := tx.ReadAt(p, 0); n != 20 || !bytes.Equal(p[:n], want[5:25]) {
					t.Errorf("read %q, want %q", p[:n], want[5:25])
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := <-queued; err != nil {
				t.Fatal(err)
			}
			if got := get(t, e, "v"); !bytes.Equal(got, want[5:25]) {
				t.Fatalf("committed %q, want %q", got, want[5:25])
			}
		})
	}
}

// ExampleTx_CopyRange drops the first half of a value by moving its second
// half to the front, without reading it into memory.
func ExampleTx_CopyRange() {
	root, _ := os.MkdirTemp("", "rangetx-example-")
	defer os.RemoveAll(root)
	ctx := context.Background()
	e, err := txn.Open(ctx, root, nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	e.Put(ctx, "log", strings.NewReader("old entries|new entries"))

	err = txn.Do(ctx, e, "log", func(tx *txn.Tx) error {
		size, _ := tx.Size()
		if err := tx.Resize(0); err != nil {
			return err
		}
		return tx.CopyRange(0, 12, size-12) // from the value as it was at Begin
	})
	if err != nil {
		panic(err)
	}
	b, _ := e.Get(ctx, "log")
	fmt.Printf("%s\n", b)
	// Output: new entries
}
