package lock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newFile(t *testing.T, dir string) *File {
	t.Helper()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFileCreatesOnDemand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "locks")
	f := newFile(t, dir)
	if f.LockPath("a/b/c") != filepath.Join(dir, "a.d", "b.d", "c.lock") {
		t.Fatalf("LockPath = %s", f.LockPath("a/b/c"))
	}
	if _, err := os.Stat(f.LockPath("a/b/c")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file exists before use: %v", err)
	}
	mustLock(t, f, "a/b/c")()
	mustRLock(t, f, "a/x")()
	tu, err := f.TryLock("t/u")
	if err != nil {
		t.Fatal(err)
	}
	tu()
	for _, key := range []string{"a/b/c", "a/x", "t/u"} {
		fi, err := os.Stat(f.LockPath(key))
		if err != nil {
			t.Fatalf("lock file of %q: %v", key, err)
		}
		if !fi.Mode().IsRegular() {
			t.Fatalf("lock file of %q: mode %v", key, fi.Mode())
		}
	}
	// Unlock leaves the file in place: deleting it would let a second
	// process lock a fresh file of the same name.
	if _, err := os.Stat(f.LockPath("a/b/c")); err != nil {
		t.Fatal(err)
	}
	// Readers and waiting writers create the turnstile beside it; TryLock
	// never touches it.
	for key, want := range map[string]bool{"a/b/c": true, "a/x": true, "t/u": false} {
		_, err := os.Stat(turnPath(dir, key))
		if got := err == nil; got != want {
			t.Errorf("turnstile of %q exists = %v, want %v (%v)", key, got, want, err)
		}
	}
	if turnPath(dir, "a/b/c") != filepath.Join(dir, "a.d", "b.d", "c.turn") {
		t.Fatalf("turnPath = %s", turnPath(dir, "a/b/c"))
	}
}

// Two File values on one dir behave like two processes.
func TestTwoFilesExclude(t *testing.T) {
	dir := t.TempDir()
	f1, f2 := newFile(t, dir), newFile(t, dir)

	u := mustLock(t, f1, "k")
	if _, err := f2.TryLock("k"); !errors.Is(err, ErrLocked) {
		t.Fatalf("f2.TryLock: err = %v, want ErrLocked", err)
	}
	waitFails(t, f2.Lock, "k")  // cancelled while polling the flock
	waitFails(t, f2.RLock, "k") // likewise, shared
	if n := f2.keys.len(); n != 0 {
		t.Fatalf("f2 kept state for %d keys after giving up", n)
	}
	u()

	r1 := mustRLock(t, f1, "k")
	r2 := mustRLock(t, f2, "k") // shared holders in both
	if _, err := f1.TryLock("k"); !errors.Is(err, ErrLocked) {
		t.Fatalf("f1.TryLock under f2's share: err = %v, want ErrLocked", err)
	}
	r1()
	waitFails(t, f1.Lock, "k") // f2 still shares
	r2()
	mustLock(t, f1, "k")()

	// Read-modify-write under both lockers. The race detector cannot see
	// the ordering a flock gives, so the counter is atomic and a lost update,
	// not a data race report, reveals overlap.
	const goroutines, iters = 6, 20
	var counter atomic.Int64
	var wg sync.WaitGroup
	for i := range goroutines {
		l := []*File{f1, f2}[i%2]
		wg.Go(func() {
			for range iters {
				u := mustLock(t, l, "c")
				c := counter.Load()
				time.Sleep(100 * time.Microsecond)
				counter.Store(c + 1)
				u()
			}
		})
	}
	wg.Wait()
	if n := counter.Load(); n != goroutines*iters {
		t.Fatalf("counter = %d, want %d", n, goroutines*iters)
	}
}

// A reader queued behind another reader that is waiting for the flock must
// still honour its own context.
func TestFileReaderQueuedBehindReader(t *testing.T) {
	dir := t.TempDir()
	f1, f2 := newFile(t, dir), newFile(t, dir)
	u := mustLock(t, f2, "k")

	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ru, err := f1.RLock(ctx, "k")
		if err == nil {
			ru()
		}
		first <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the first reader start polling
	waitFails(t, f1.RLock, "k")
	u()
	if err := <-first; err != nil {
		t.Fatalf("first reader: %v", err)
	}
}

// The held flock must survive garbage collection: an unreachable *os.File
// is closed by its finalizer, which would drop the lock.
func TestFileLockSurvivesGC(t *testing.T) {
	dir := t.TempDir()
	f1, f2 := newFile(t, dir), newFile(t, dir)
	u := mustLock(t, f1, "k")
	r := mustRLock(t, f1, "s")
	for range 3 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	for _, key := range []string{"k", "s"} {
		if _, err := f2.TryLock(key); !errors.Is(err, ErrLocked) {
			t.Fatalf("%q after GC: err = %v, want ErrLocked", key, err)
		}
	}
	u()
	r()
}

func TestFileMarkerTornWrite(t *testing.T) {
	f := newFile(t, t.TempDir())
	u := mustLock(t, f, "k")
	defer u()
	// What a process killed between SetMarker's write and truncate leaves.
	if err := os.WriteFile(f.LockPath("k"), []byte("j2\nurnal-0001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := f.Marker("k"); err != nil || m != "j2" {
		t.Fatalf("marker = %q, %v; want j2", m, err)
	}
	if err := os.WriteFile(f.LockPath("k"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Marker("k"); err == nil {
		t.Fatal("malformed marker accepted")
	}
}

func TestFileMarkerKeepsLock(t *testing.T) {
	dir := t.TempDir()
	f1, f2 := newFile(t, dir), newFile(t, dir)
	u := mustLock(t, f1, "k")
	defer u()
	if err := f1.SetMarker("k", "j1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f1.Marker("k"); err != nil {
		t.Fatal(err)
	}
	// Opening and closing the lock file for the marker left the flock alone.
	if _, err := f2.TryLock("k"); !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if m, err := f2.Marker("k"); err != nil || m != "j1" {
		t.Fatalf("marker seen by another locker = %q, %v", m, err)
	}
}

func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "recovery.lock")
	ctx := context.Background()
	u, err := LockFile(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	lockFile := func(exclusive bool) func(context.Context, string) (Unlock, error) {
		return func(ctx context.Context, p string) (Unlock, error) { return LockFile(ctx, p, exclusive) }
	}
	waitFails(t, lockFile(true), path)
	waitFails(t, lockFile(false), path)
	u()
	u()
	s1, err := LockFile(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := LockFile(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	waitFails(t, lockFile(true), path)
	s1()
	s2()
	u, err = LockFile(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	u()
}

func TestScan(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "locks")
	if st, err := Scan(ctx, dir); err != nil || len(st) != 0 {
		t.Fatalf("Scan of a missing dir = %v, %v", st, err)
	}
	f := newFile(t, dir)
	for _, key := range []string{"z", "a/b", "a.d/b", "m"} {
		u := mustLock(t, f, key)
		if key != "m" {
			if err := f.SetMarker(key, "j-"+key); err != nil {
				t.Fatal(err)
			}
		}
		u()
	}
	held := mustLock(t, f, "a/b")
	defer held()
	shared := mustRLock(t, f, "z")
	defer shared()
	if err := os.WriteFile(filepath.Join(dir, "stray"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Turnstiles sit beside the lock files; Scan must not take them for keys.
	for _, key := range []string{"a/b", "z"} {
		if _, err := os.Stat(turnPath(dir, key)); err != nil {
			t.Fatal(err)
		}
	}

	got, err := Scan(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{
		{Key: "a.d/b", Marker: "j-a.d/b"},
		{Key: "a/b", Held: true, Marker: "j-a/b"},
		{Key: "m"},
		{Key: "z", Held: true, Marker: "j-z"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan = %+v\nwant %+v", got, want)
	}
	// The probe released what it took.
	u, err := f.TryLock("m")
	if err != nil {
		t.Fatal(err)
	}
	u()

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Scan(cctx, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan with a done context: err = %v", err)
	}
}

// Readers of one File must not starve a writer of another, as they would if
// overlapping readers kept their process's shared flock forever.
func TestFileWriterNotStarvedAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writerNotStarved(t, newFile(t, dir), newFile(t, dir))
}

// waitTurnHeld waits until someone holds key's turnstile.
func waitTurnHeld(t *testing.T, dir, key string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		held, err := probe(turnPath(dir, key))
		if err != nil {
			t.Fatal(err)
		}
		if held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiting writer did not take the turnstile")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFileTurnstile(t *testing.T) {
	dir := t.TempDir()
	f1, f2, f3 := newFile(t, dir), newFile(t, dir), newFile(t, dir)

	// A writer waiting for f1's reader holds the turnstile, so new readers,
	// whether joining f1's share or first in f3, wait, as do other writers;
	// given up, they hold nothing.
	r := mustRLock(t, f1, "k")
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		u, err := f2.Lock(ctx, "k")
		if err == nil {
			u()
		}
		got <- err
	}()
	waitTurnHeld(t, dir, "k")
	waitFails(t, f1.RLock, "k")
	waitFails(t, f3.RLock, "k")
	waitFails(t, f3.Lock, "k")
	if n := f3.keys.len(); n != 0 {
		t.Fatalf("f3 kept state for %d keys after giving up", n)
	}
	r()
	if err := <-got; err != nil {
		t.Fatalf("waiting writer: %v", err)
	}
	mustLock(t, f3, "k")()

	// A writer cancelled while it holds the turnstile releases it.
	r = mustRLock(t, f1, "k")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		u, err := f2.Lock(ctx, "k")
		if err == nil {
			u()
		}
		done <- err
	}()
	waitTurnHeld(t, dir, "k")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled writer: err = %v, want Canceled", err)
	}
	if held, err := probe(turnPath(dir, "k")); held || err != nil {
		t.Fatalf("turnstile held after the writer gave up: %v, %v", held, err)
	}
	r2 := mustRLock(t, f1, "k") // joins
	r3 := mustRLock(t, f3, "k") // first in f3
	r()
	r2()
	r3()
	mustLock(t, f2, "k")()
	for i, f := range []*File{f1, f2, f3} {
		if n := f.keys.len(); n != 0 {
			t.Fatalf("f%d kept state for %d keys", i+1, n)
		}
	}
}
