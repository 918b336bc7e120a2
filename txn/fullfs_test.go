//go:build linux

package txn_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// The tests in this file run the engine on a real file system that runs out
// of space: a small tmpfs, mounted for the test (so they need root, as CI
// has) and filled with a filler file outside the store's root.

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it when the test ends (after the engines opened later close).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("root but may not mount (no CAP_SYS_ADMIN): %v", err)
		}
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount tmpfs: %v", err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// freeBytes is the space left on the file system holding dir.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fillDisk writes the file system holding dir full with a filler file and
// then frees slack bytes of it again, so that small writes (a lock marker)
// still fit but nothing large does. It returns the filler's path.
func fillDisk(t *testing.T, dir string, slack int64) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{0xf1}, 4096)
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if free := freeBytes(t, dir); free != 0 {
		t.Fatalf("%d bytes still free after filling", free)
	}
	if err := f.Truncate(size - slack); err != nil {
		t.Fatal(err)
	}
	return p
}

// pattern is n bytes that differ from their neighbours, so that a shifted
// or misplaced range shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) ^ seed
	}
	return b
}

// fullDisk opens an engine in mode on a store on a tmpfs, puts value "v"
// (256 KiB) and fills the disk up to slack bytes. It returns the engine,
// the store's root, the filler and v's contents.
func fullDisk(t *testing.T, mode txn.Mode, slack int64) (e *txn.Engine, root, filler string, old []byte) {
	t.Helper()
	return fullDiskOpts(t, quietOptions(mode), slack)
}

// fullDiskOpts is fullDisk with the engine's options.
func fullDiskOpts(t *testing.T, opts *txn.Options, slack int64) (e *txn.Engine, root, filler string, old []byte) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	dir := mountTmpfs(t, 4<<20)
	root = filepath.Join(dir, "store")
	e, err := txn.Open(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	old = pattern(256<<10, 0)
	put(t, e, "v", old)
	return e, root, fillDisk(t, dir, slack), old
}

// TestFullDiskJournalSegment: a journal-mode commit whose after-images do
// not fit into the journal's segment file fails with an error wrapping
// ENOSPC and not ErrNeedsRecovery: the segment is written before the
// commit point, so nothing was committed. The value is unchanged, the
// engine goes on, and after space is freed the same engine commits.
func TestFullDiskJournalSegment(t *testing.T) {
	e, root, filler, old := fullDiskOpts(t, &txn.Options{Mode: txn.ModeJournal, Journal: &journal.Options{InlineBytes: 16 << 10}}, 16<<10)
	data := pattern(128<<10, 0x5a)
	err := writeTx(e, "v", data, 64<<10)
	if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("journal commit on a full disk = %v, want ENOSPC and not ErrNeedsRecovery", err)
	}
	flush(t, e)
	if got := rawValue(t, root, "v"); !bytes.Equal(got, old) {
		t.Fatal("a failed journal commit changed the value")
	}
	if got := get(t, e, "v"); !bytes.Equal(got, old) {
		t.Fatal("engine reads a different value")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := writeTx(e, "v", data, 64<<10); err != nil {
		t.Fatalf("the same engine after freeing space: %v", err)
	}
	flush(t, e)
	if got := rawValue(t, root, "v"); !bytes.Equal(got, patched(old, data, 64<<10)) {
		t.Fatal("the commit after freeing space is not in the value")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	assertJournalDirEmpty(t, root)
	assertNoTemp(t, root)
}

// TestFullDiskJournalCommit: a journal-mode commit whose record, kept
// inline in bbolt, does not fit (bbolt's write of its new pages fails with
// ENOSPC) fails with
// ErrNeedsRecovery: bbolt's commit began writing, so the journal cannot say
// whether the record is durable, and the engine stops. Here it is not (its
// meta page was never written): the value stays old, and after space is
// freed a new Open recovers a journal with nothing to replay, the value is
// old, and transactions work again.
func TestFullDiskJournalCommit(t *testing.T) {
	e, root, filler, old := fullDiskOpts(t, &txn.Options{Mode: txn.ModeJournal, Journal: &journal.Options{InlineBytes: 1 << 20}}, 16<<10)
	appended, uninstall := countAppends(t, "v")
	data := pattern(128<<10, 0x5a)
	err := writeTx(e, "v", data, 64<<10)
	uninstall()
	if err == nil {
		t.Fatal("a 128 KiB journal record fitted into 16 KiB of free space")
	}
	if !errors.Is(err, txn.ErrNeedsRecovery) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("journal commit on a full disk = %v, want ErrNeedsRecovery wrapping ENOSPC", err)
	}
	durable := appended.Load() == 1
	want := old
	if durable {
		want = patched(old, data, 64<<10)
	}
	if got := rawValue(t, root, "v"); !bytes.Equal(got, old) && !bytes.Equal(got, want) {
		t.Fatal("value is neither old nor new after the failed commit")
	}
	if _, err := e.Get(ctx, "v"); !errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("Get on the stopped engine = %v", err)
	}
	// The stopped engine's journal is dead now; what it holds decides.
	if n := pendingIn(t, root, e.JournalID(), "v"); n != int(appended.Load()) {
		t.Fatalf("the dead journal holds %d entries, but %d appends succeeded", n, appended.Load())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := openLocal(t, root, txn.ModeJournal)
	if got := get(t, e2, "v"); !bytes.Equal(got, want) {
		t.Fatalf("after recovery the value is not the expected state (record durable: %v)", durable)
	}
	if left := journalsLeft(t, root, e2); len(left) != 0 {
		t.Fatalf("journals left after recovery: %v", left)
	}
	if err := writeTx(e2, "v", data, 64<<10); err != nil {
		t.Fatalf("commit after freeing space: %v", err)
	}
	flush(t, e2)
	if got := rawValue(t, root, "v"); !bytes.Equal(got, patched(old, data, 64<<10)) {
		t.Fatal("the commit after freeing space is not in the value")
	}
	if err := e2.Close(); err != nil {
		t.Fatal(err)
	}
	assertJournalDirEmpty(t, root)
	assertNoTemp(t, root)
}

// TestFullDiskCopyCommit: a copy-mode commit whose copy does not fit fails
// with an error wrapping ENOSPC before anything is visible: the value is
// unchanged, the temporary file is gone, and the engine stays usable.
func TestFullDiskCopyCommit(t *testing.T) {
	e, root, filler, old := fullDisk(t, txn.ModeCopy, 16<<10)
	err := writeTx(e, "v", []byte("NEW"), 100)
	if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("copy commit on a full disk = %v, want ENOSPC and not ErrNeedsRecovery", err)
	}
	if got := rawValue(t, root, "v"); !bytes.Equal(got, old) {
		t.Fatal("a failed copy commit changed the value")
	}
	assertNoTemp(t, root)
	if got := get(t, e, "v"); !bytes.Equal(got, old) {
		t.Fatal("engine reads a different value")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := writeTx(e, "v", []byte("NEW"), 100); err != nil {
		t.Fatalf("the same engine after freeing space: %v", err)
	}
	if got := rawValue(t, root, "v"); !bytes.Equal(got, patched(old, []byte("NEW"), 100)) {
		t.Fatal("the commit after freeing space is not in the value")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	assertJournalDirEmpty(t, root)
}

// TestFullDiskPut: Put of a value that does not fit fails with ENOSPC,
// creates nothing (a new key stays absent) or leaves the old value, leaves
// no temporary file, and does not stop the engine.
func TestFullDiskPut(t *testing.T) {
	e, root, filler, old := fullDisk(t, txn.ModeAuto, 16<<10)
	big := pattern(512<<10, 0x33)
	if err := e.Put(ctx, "new/value", bytes.NewReader(big)); !errors.Is(err, syscall.ENOSPC) || errors.Is(err, txn.ErrNeedsRecovery) {
		t.Fatalf("Put of a new value on a full disk = %v, want ENOSPC", err)
	}
	if _, err := e.Stat(ctx, "new/value"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Stat of the value whose Put failed = %v, want ErrNotFound", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "new", "value")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file of the failed Put: %v", err)
	}
	if err := e.Put(ctx, "v", bytes.NewReader(big)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put over an existing value on a full disk = %v, want ENOSPC", err)
	}
	if got := rawValue(t, root, "v"); !bytes.Equal(got, old) {
		t.Fatal("a failed Put changed the old value")
	}
	assertNoTemp(t, root)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(ctx, "new/value", bytes.NewReader(big)); err != nil {
		t.Fatalf("Put after freeing space: %v", err)
	}
	if got := get(t, e, "new/value"); !bytes.Equal(got, big) {
		t.Fatal("the Put after freeing space is not the value")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	assertJournalDirEmpty(t, root)
}

// TestDiskFillsDuringSequence: commits that each grow a value, or rewrite
// ever more of it, with two ranges far apart (so a torn state shows) run
// until the disk is full.
// Whatever step ran out of space — the marker, the journal append, the
// in-place write, the watermark, or the copy — every acknowledged commit is
// in the value after space is freed and the store is reopened, the failed
// one is there exactly if its record became durable, the engine works again
// and, after Close, no journal and no temporary file is left.
func TestDiskFillsDuringSequence(t *testing.T) {
	cases := []struct {
		name string
		mode txn.Mode
		size int // of the value at the start
		// Commit i appends grow bytes and rewrites head + i*headStep
		// bytes at the start.
		grow, head, headStep int
	}{
		// The value's growth runs out of space: in place, after the
		// commit point.
		{"journal/grow", txn.ModeJournal, 64 << 10, 48 << 10, 16, 0},
		{"journal/rewrite", txn.ModeJournal, 64 << 10, 8 << 10, 40 << 10, 0},
		// Ever larger records: the journal runs out of space while the
		// value, rewritten in place, needs none.
		{"journal/records", txn.ModeJournal, 384 << 10, 0, 16, 8 << 10},
		{"copy/grow", txn.ModeCopy, 64 << 10, 48 << 10, 16, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := mountTmpfs(t, 1<<20)
			ballast := filepath.Join(dir, "ballast")
			if err := os.WriteFile(ballast, pattern(448<<10, 1), 0o600); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(dir, "store")
			e, err := txn.Open(ctx, root, quietOptions(c.mode))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			cur := pattern(c.size, 0) // the last acknowledged state
			put(t, e, "v", cur)

			appended, uninstall := countAppends(t, "v")
			var prev, failed []byte // the state before cur, and the one the failed commit would have made
			acked := 0
			for i := 1; i <= 200; i++ {
				block := pattern(c.grow, byte(i))
				head := fmt.Appendf(nil, "commit %03d ", i)
				head = append(head, pattern(c.head+i*c.headStep-len(head), byte(i)^0x80)...)
				if len(head) > len(cur) {
					t.Fatalf("commit %d would rewrite %d bytes of a %d-byte value", i, len(head), len(cur))
				}
				next := patched(append(bytes.Clone(cur), block...), head, 0)
				err = txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
					if err := tx.Resize(int64(len(next))); err != nil {
						return err
					}
					if _, err := tx.WriteAt(block, int64(len(cur))); err != nil {
						return err
					}
					_, err := tx.WriteAt(head, 0)
					return err
				})
				if err != nil {
					failed = next
					break
				}
				prev, cur = cur, next
				acked++
			}
			uninstall()
			if failed == nil {
				t.Fatal("the disk never filled")
			}
			t.Logf("%d commits acknowledged, then: %v", acked, err)
			want := cur
			switch c.mode {
			case txn.ModeCopy:
				if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, txn.ErrNeedsRecovery) {
					t.Fatalf("copy commit on a full disk = %v, want ENOSPC", err)
				}
				if got := get(t, e, "v"); !bytes.Equal(got, cur) {
					t.Fatal("the engine does not read the last acknowledged state")
				}
				assertNoTemp(t, root)
			case txn.ModeJournal:
				if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, txn.ErrNeedsRecovery) {
					t.Fatalf("journal commit on a full disk = %v, want ENOSPC or ErrNeedsRecovery", err)
				}
				switch int(appended.Load()) - acked {
				case 0:
				case 1:
					want = failed // its record is durable: recovery replays it
				default:
					t.Fatalf("%d records appended for %d acknowledged commits", appended.Load(), acked)
				}
			}

			if err := os.Remove(ballast); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			e2 := openLocal(t, root, c.mode)
			if got := get(t, e2, "v"); !bytes.Equal(got, want) {
				switch {
				case bytes.Equal(got, prev):
					t.Fatal("after recovery the last acknowledged commit is missing")
				case bytes.Equal(got, cur):
					t.Fatal("after recovery the failed commit is missing though its record was durable")
				case bytes.Equal(got, failed):
					t.Fatal("after recovery the failed commit is present though its record was not durable")
				}
				t.Fatal("after recovery the value is not the expected state")
			}
			if err := writeTx(e2, "v", []byte("after"), 100); err != nil {
				t.Fatalf("commit after freeing space: %v", err)
			}
			flush(t, e2)
			if got := rawValue(t, root, "v"); !bytes.Equal(got, patched(want, []byte("after"), 100)) {
				t.Fatal("the commit after recovery is not in the value")
			}
			if err := e2.Close(); err != nil {
				t.Fatal(err)
			}
			assertJournalDirEmpty(t, root)
			assertNoTemp(t, root)
		})
	}
}
