package txn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

var ctx = context.Background()

// engineKinds builds each kind of engine the tests run against.
var engineKinds = []struct {
	name string
	open func(t *testing.T, mode txn.Mode) *txn.Engine
}{
	{"memory-nojournal", func(t *testing.T, mode txn.Mode) *txn.Engine {
		e, err := txn.New(store.NewMemory(), lock.NewMemory(), nil, &txn.Options{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}},
	{"memory-journal", func(t *testing.T, mode txn.Mode) *txn.Engine {
		j, err := journal.Create(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := txn.New(store.NewMemory(), lock.NewMemory(), j, &txn.Options{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}},
	{"local", func(t *testing.T, mode txn.Mode) *txn.Engine {
		return openLocal(t, t.TempDir(), mode)
	}},
}

func openLocal(t *testing.T, root string, mode txn.Mode) *txn.Engine {
	t.Helper()
	e, err := txn.Open(ctx, root, &txn.Options{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

var modes = []txn.Mode{txn.ModeJournal, txn.ModeCopy, txn.ModeAuto}

func forEach(t *testing.T, fn func(t *testing.T, e *txn.Engine)) {
	for _, k := range engineKinds {
		for _, m := range modes {
			t.Run(k.name+"/"+m.String(), func(t *testing.T) { fn(t, k.open(t, m)) })
		}
	}
}

func put(t *testing.T, e *txn.Engine, key string, b []byte) {
	t.Helper()
	if err := e.Put(ctx, key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, e *txn.Engine, key string) []byte {
	t.Helper()
	b, err := e.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// model is the plain []byte a transaction should be equivalent to.
type model []byte

func (m *model) writeAt(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(*m)) {
		m.resize(end)
	}
	copy((*m)[off:], p)
}

func (m *model) resize(n int64) {
	if n <= int64(len(*m)) {
		*m = (*m)[:n]
		return
	}
	*m = append(*m, make([]byte, n-int64(len(*m)))...)
}

// TestTxMatchesModel runs random sequences of writes, copies (CopyRange),
// resizes and reads in transactions, committed or rolled back, and compares
// every read and the committed value with a plain byte slice.
func TestTxMatchesModel(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		rng := rand.New(rand.NewPCG(1, 2))
		const key = "model/v"
		var committed model // nil: value absent
		exists := false
		for round := range 40 {
			tx, err := e.Begin(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			m := append(model(nil), committed...)
			base := append(model(nil), committed...)
			for range 1 + rng.IntN(8) {
				switch rng.IntN(5) {
				case 0, 1:
					p := make([]byte, 1+rng.IntN(3000))
					for i := range p {
						p[i] = byte(rng.Uint32())
					}
					off := rng.Int64N(int64(len(m)) + 2000)
					if _, err := tx.WriteAt(p, off); err != nil {
						t.Fatal(err)
					}
					m.writeAt(p, off)
				case 2:
					n := rng.Int64N(int64(len(m)) + 3000)
					if err := tx.Resize(n); err != nil {
						t.Fatal(err)
					}
					m.resize(n)
				case 3:
					off := rng.Int64N(int64(len(m)) + 10)
					p := make([]byte, rng.IntN(4000))
					n, err := tx.ReadAt(p, off)
					want := []byte{}
					if off < int64(len(m)) {
						want = m[off:min(int64(len(m)), off+int64(len(p)))]
					}
					if n != len(want) || !bytes.Equal(p[:n], want) {
						t.Fatalf("round %d: ReadAt(%d, %d) = %d bytes, differ from model (%d bytes)", round, len(p), off, n, len(want))
					}
					if n < len(p) && err != io.EOF {
						t.Fatalf("short read without io.EOF: %v", err)
					}
				case 4:
					src := rng.Int64N(int64(len(base)) + 1)
					n := rng.Int64N(int64(len(base)) - src + 1)
					dst := rng.Int64N(int64(len(m)) + 2000)
					if err := tx.CopyRange(dst, src, n); err != nil {
						t.Fatal(err)
					}
					if n > 0 {
						m.writeAt(base[src:src+n], dst)
					}
				}
			}
			if size, _ := tx.Size(); size != int64(len(m)) {
				t.Fatalf("round %d: Size %d, model %d", round, size, len(m))
			}
			if rng.IntN(4) == 0 {
				if err := tx.Rollback(); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := tx.Commit(); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				committed, exists = m, true
			}
			got, err := e.Get(ctx, key)
			if !exists {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("round %d: value should not exist: %v", round, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, committed) {
				t.Fatalf("round %d: committed value (%d bytes) differs from model (%d bytes)", round, len(got), len(committed))
			}
		}
	})
}

func TestDoCommitsAndRollsBack(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		put(t, e, "k", bytes.Repeat([]byte("a"), 1000))
		boom := errors.New("boom")
		err := txn.Do(ctx, e, "k", func(tx *txn.Tx) error {
			tx.WriteAt([]byte("zzz"), 10)
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Do returned %v, want fn's error", err)
		}
		func() {
			defer func() {
				if recover() != "panic!" {
					t.Fatal("Do did not re-raise the panic")
				}
			}()
			txn.Do(ctx, e, "k", func(tx *txn.Tx) error {
				tx.WriteAt([]byte("zzz"), 10)
				panic("panic!")
			})
		}()
		if got := get(t, e, "k"); !bytes.Equal(got, bytes.Repeat([]byte("a"), 1000)) {
			t.Fatal("a rolled-back transaction changed the value")
		}
		// The lock was released both times: this Do would block otherwise.
		err = txn.Do(ctx, e, "k", func(tx *txn.Tx) error {
			_, err := tx.WriteAt([]byte("bb"), 999)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := append(bytes.Repeat([]byte("a"), 999), 'b', 'b')
		if got := get(t, e, "k"); !bytes.Equal(got, want) {
			t.Fatalf("after Do: got %q...", got[990:])
		}
	})
}

func TestTxDone(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		for _, end := range []string{"commit", "rollback"} {
			tx, err := e.Begin(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			if end == "commit" {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			_, e1 := tx.ReadAt(make([]byte, 1), 0)
			_, e2 := tx.WriteAt([]byte{1}, 0)
			_, e3 := tx.Size()
			for i, err := range []error{e1, e2, e3, tx.Resize(1), tx.Commit(), tx.Rollback()} {
				if !errors.Is(err, txn.ErrTxDone) {
					t.Errorf("after %s, call %d returned %v, want ErrTxDone", end, i, err)
				}
			}
		}
		err := txn.Do(ctx, e, "k", func(tx *txn.Tx) error { return tx.Commit() })
		if !errors.Is(err, txn.ErrManagedTx) {
			t.Errorf("Commit inside Do returned %v, want ErrManagedTx", err)
		}
	})
}

func TestCreateValue(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		err := txn.Do(ctx, e, "new/by/resize", func(tx *txn.Tx) error { return tx.Resize(0) })
		if err != nil {
			t.Fatal(err)
		}
		if got := get(t, e, "new/by/resize"); len(got) != 0 {
			t.Fatalf("got %d bytes, want an empty value", len(got))
		}
		err = txn.Do(ctx, e, "new/by/write", func(tx *txn.Tx) error {
			_, err := tx.WriteAt([]byte("xy"), 5)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := get(t, e, "new/by/write"); !bytes.Equal(got, []byte("\x00\x00\x00\x00\x00xy")) {
			t.Fatalf("got %q", got)
		}
		// Begin on a missing value and do nothing: it stays missing.
		if err := txn.Do(ctx, e, "never", func(tx *txn.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Get(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("untouched transaction created a value: %v", err)
		}
	})
}

// TestIsolationNoLostUpdates: goroutines doing read-modify-write of one
// counter never lose an update, in every mode.
func TestIsolationNoLostUpdates(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		put(t, e, "ctr", make([]byte, 64<<10))
		const workers, each = 8, 20
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					err := txn.Do(ctx, e, "ctr", func(tx *txn.Tx) error {
						var b [8]byte
						if _, err := tx.ReadAt(b[:], 4096); err != nil {
							return err
						}
						n := uint64(b[0]) | uint64(b[1])<<8
						n++
						b[0], b[1] = byte(n), byte(n>>8)
						_, err := tx.WriteAt(b[:], 4096)
						return err
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		got := get(t, e, "ctr")
		if n := int(got[4096]) | int(got[4097])<<8; n != workers*each {
			t.Fatalf("counter = %d, want %d: updates were lost", n, workers*each)
		}
	})
}

// TestDifferentValuesInParallel: transactions on different values do not
// wait for each other.
func TestDifferentValuesInParallel(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		a, err := e.Begin(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Begin(ctx, "b") // would deadlock if values shared a lock
		if err != nil {
			t.Fatal(err)
		}
		a.WriteAt([]byte("A"), 0)
		b.WriteAt([]byte("B"), 0)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		if string(get(t, e, "a")) != "A" || string(get(t, e, "b")) != "B" {
			t.Fatal("wrong values")
		}
	})
}

// TestReadersNeverSeePartial: a reader racing a writer sees every range of a
// value from the same transaction.
func TestReadersNeverSeePartial(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		const size = 1 << 20
		put(t, e, "v", make([]byte, size))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(stop)
			for i := 1; i <= 30; i++ {
				err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
					for _, off := range []int64{0, size / 2, size - 4096} {
						if _, err := tx.WriteAt(bytes.Repeat([]byte{byte(i)}, 4096), off); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
		for done := false; !done; {
			select {
			case <-stop:
				done = true
			default:
			}
			got := get(t, e, "v")
			first := got[0]
			for _, off := range []int{0, size / 2, size - 4096} {
				if !bytes.Equal(got[off:off+4096], bytes.Repeat([]byte{first}, 4096)) {
					t.Fatalf("reader saw a partial transaction at %d", off)
				}
			}
			var p [4096]byte
			if _, err := e.ReadAt(ctx, "v", p[:], size/2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p[:], bytes.Repeat([]byte{p[0]}, 4096)) {
				t.Fatal("ReadAt saw a partial transaction")
			}
		}
		wg.Wait()
	})
}

// TestBadInput: every sentinel where it belongs, and nothing written.
func TestBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, e *txn.Engine) {
		orig := []byte("original")
		put(t, e, "k", orig)
		for _, key := range []string{"", "/abs", "a/../b", "a//b", "./a", "a\\b", "a\x00b", ".rangetx/locks/x", "..", "a/" + store.TempMarker + "x"} {
			if _, err := e.Begin(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Begin(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := e.Get(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
			}
			if err := e.Put(ctx, key, bytes.NewReader(nil)); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
		if _, err := e.Get(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(missing) = %v, want ErrNotFound", err)
		}
		if _, err := e.ReadAt(ctx, "k", make([]byte, 1), -1); !errors.Is(err, store.ErrInvalidRange) {
			t.Errorf("ReadAt(-1) = %v, want ErrInvalidRange", err)
		}
		err := txn.Do(ctx, e, "k", func(tx *txn.Tx) error {
			if _, err := tx.WriteAt([]byte("x"), 0); err != nil {
				return err
			}
			for _, c := range []struct {
				name string
				err  error
			}{
				{"write at -1", func() error { _, err := tx.WriteAt([]byte("x"), -1); return err }()},
				{"write overflowing", func() error { _, err := tx.WriteAt([]byte("xy"), math.MaxInt64-1); return err }()},
				{"read at -1", func() error { _, err := tx.ReadAt(make([]byte, 1), -1); return err }()},
				{"resize -1", tx.Resize(-1)},
			} {
				if !errors.Is(c.err, store.ErrInvalidRange) {
					t.Errorf("%s: %v, want ErrInvalidRange", c.name, c.err)
				}
			}
			return store.ErrInvalidRange
		})
		if !errors.Is(err, store.ErrInvalidRange) {
			t.Fatal(err)
		}
		// A cancelled context: nothing begins, nothing commits.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := e.Begin(cctx, "k"); !errors.Is(err, context.Canceled) {
			t.Errorf("Begin with a cancelled context = %v", err)
		}
		tctx, cancel := context.WithCancel(ctx)
		tx, err := e.Begin(tctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		tx.WriteAt([]byte("changed!"), 0)
		cancel()
		if err := tx.Commit(); !errors.Is(err, context.Canceled) {
			t.Errorf("Commit with a cancelled context = %v", err)
		}
		if got := get(t, e, "k"); !bytes.Equal(got, orig) {
			t.Fatalf("bad input changed the value to %q", got)
		}
	})
}

// TestSymlinkEscapeRejected: a key with a symbolic link in its path is
// ErrInvalidKey and nothing is written, outside the root or inside.
func TestSymlinkEscapeRejected(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	e := openLocal(t, root, txn.ModeAuto)
	err := txn.Do(ctx, e, "link/x", func(tx *txn.Tx) error {
		_, err := tx.WriteAt([]byte("escaped"), 0)
		return err
	})
	if !errors.Is(err, store.ErrInvalidKey) {
		t.Fatalf("write through an escaping symlink = %v, want ErrInvalidKey", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("something was written outside the root: %v", ents)
	}
	// A link inside the root would give one file two keys, and so two
	// locks: refused too.
	put(t, e, "real", []byte("real"))
	if err := os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	err = txn.Do(ctx, e, "alias", func(tx *txn.Tx) error {
		_, err := tx.WriteAt([]byte("ALIAS"), 0)
		return err
	})
	if !errors.Is(err, store.ErrInvalidKey) {
		t.Fatalf("write through an in-root symlink = %v, want ErrInvalidKey", err)
	}
	if got := get(t, e, "real"); string(got) != "real" {
		t.Fatalf("the aliased value changed: %q", got)
	}
}

// TestAutoMode checks the documented ModeAuto rule through what it leaves
// behind: a journal commit keeps the value's inode, a copy replaces it.
func TestAutoMode(t *testing.T) {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeAuto)
	put(t, e, "v", make([]byte, 1<<20))
	inode := func() uint64 {
		fi, err := os.Stat(filepath.Join(root, "v"))
		if err != nil {
			t.Fatal(err)
		}
		return inodeOf(fi)
	}
	for _, c := range []struct {
		n       int
		inPlace bool
	}{{4 << 10, true}, {512 << 10, true}, {512<<10 + 1, false}, {1 << 20, false}} {
		before := inode()
		err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
			_, err := tx.WriteAt(bytes.Repeat([]byte{1}, c.n), 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if inPlace := inode() == before; inPlace != c.inPlace {
			t.Errorf("staging %d bytes of 1 MiB: in place = %t, want %t", c.n, inPlace, c.inPlace)
		}
	}
}

func Example() {
	root, _ := os.MkdirTemp("", "rangetx-example-")
	defer os.RemoveAll(root)
	ctx := context.Background()

	e, err := txn.Open(ctx, root, nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()

	// One transaction: two ranges far apart, committed together or not at all.
	err = txn.Do(ctx, e, "arr/c/0/1", func(tx *txn.Tx) error {
		if _, err := tx.WriteAt([]byte("head"), 0); err != nil {
			return err
		}
		_, err := tx.WriteAt([]byte("tail"), 1<<20)
		return err
	})
	if err != nil {
		panic(err)
	}
	p := make([]byte, 4)
	e.ReadAt(ctx, "arr/c/0/1", p, 1<<20)
	fmt.Printf("%s\n", p)
	// Output: tail
}

func Example_rollback() {
	e, _ := txn.New(store.NewMemory(), lock.NewMemory(), nil, nil)
	defer e.Close()
	ctx := context.Background()
	e.Put(ctx, "k", bytes.NewReader([]byte("old")))

	err := txn.Do(ctx, e, "k", func(tx *txn.Tx) error {
		tx.WriteAt([]byte("new"), 0)
		return errors.New("changed my mind")
	})
	b, _ := e.Get(ctx, "k")
	fmt.Println(err, string(b))
	// Output: changed my mind old
}

// TestTxDelete: Delete inside a transaction removes the value at Commit
// (after any journal commit queued on it is applied), a write after it
// recreates the value with only the new bytes, a rollback keeps it, and
// deleting a missing value commits nothing.
func TestTxDelete(t *testing.T) {
	for _, mode := range []txn.Mode{txn.ModeJournal, txn.ModeCopy} {
		t.Run(mode.String(), func(t *testing.T) {
			root := t.TempDir()
			e := openLocal(t, root, mode)
			put(t, e, "v", bytes.Repeat([]byte("x"), 8192))
			if err := writeTx(e, "v", []byte("queued"), 0); err != nil {
				t.Fatal(err)
			}
			err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
				if err := tx.Delete(); err != nil {
					return err
				}
				if ok, err := tx.Exists(); err != nil || ok {
					return fmt.Errorf("Exists after Delete = %v, %v", ok, err)
				}
				if n, _ := tx.Size(); n != 0 {
					return fmt.Errorf("Size after Delete = %d", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Stat(ctx, "v"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Stat after a committed Delete = %v, want ErrNotFound", err)
			}
			if _, err := os.Stat(filepath.Join(root, "v")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("file after a committed Delete: %v", err)
			}
			// Deleting a missing value commits nothing.
			if err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error { return tx.Delete() }); err != nil {
				t.Fatal(err)
			}
			put(t, e, "w", bytes.Repeat([]byte("y"), 8192))
			// Delete then write: the new bytes replace the value whole.
			err = txn.Do(ctx, e, "w", func(tx *txn.Tx) error {
				if err := tx.Delete(); err != nil {
					return err
				}
				_, err := tx.WriteAt([]byte("new"), 2)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := get(t, e, "w"); string(got) != "\x00\x00new" {
				t.Fatalf("value after Delete and a write = %q", got)
			}
			// A rolled-back Delete leaves the value.
			tx, err := e.Begin(ctx, "w")
			if err != nil {
				t.Fatal(err)
			}
			tx.Delete()
			tx.Rollback()
			if got := get(t, e, "w"); string(got) != "\x00\x00new" {
				t.Fatalf("value after a rolled-back Delete = %q", got)
			}
		})
	}
}
