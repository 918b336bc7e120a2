package lock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// impl is a Locker under test plus a view of its per-key state.
type impl struct {
	Locker
	live func() int // keys with in-process state
}

// impls runs fn against every Locker implementation.
func impls(t *testing.T, fn func(t *testing.T, l impl)) {
	t.Run("Memory", func(t *testing.T) {
		m := NewMemory()
		fn(t, impl{m, m.keys.len})
	})
	t.Run("File", func(t *testing.T) {
		f, err := NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		fn(t, impl{f, f.keys.len})
	})
}

func mustLock(t *testing.T, l Locker, key string) Unlock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := l.Lock(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustRLock(t *testing.T, l Locker, key string) Unlock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := l.RLock(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// waitFails checks that lock does not succeed within d, and that its error
// wraps context.DeadlineExceeded.
func waitFails(t *testing.T, lock func(context.Context, string) (Unlock, error), key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	u, err := lock(ctx, key)
	if err == nil {
		u()
		t.Fatalf("lock on %q succeeded while it should be held", key)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestMutualExclusion(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		const goroutines, iters = 8, 25
		counter := 0 // unsynchronised on purpose: -race and the total catch overlap
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range iters {
					u, err := l.Lock(context.Background(), "k")
					if err != nil {
						t.Error(err)
						return
					}
					c := counter
					time.Sleep(100 * time.Microsecond)
					counter = c + 1
					u()
				}
			})
		}
		wg.Wait()
		if counter != goroutines*iters {
			t.Fatalf("counter = %d, want %d", counter, goroutines*iters)
		}
		if n := l.live(); n != 0 {
			t.Fatalf("%d keys still have state", n)
		}
	})
}

func TestManyReaders(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		const readers = 20
		var holding atomic.Int32
		all := make(chan struct{})
		var wg sync.WaitGroup
		for range readers {
			wg.Go(func() {
				u := mustRLock(t, l, "k")
				defer u()
				if holding.Add(1) == readers {
					close(all)
				}
				select {
				case <-all: // every reader held the lock at once
				case <-time.After(5 * time.Second):
					t.Error("readers did not all hold the lock at once")
				}
			})
		}
		wg.Wait()
		if n := l.live(); n != 0 {
			t.Fatalf("%d keys still have state", n)
		}
	})
}

func TestWriterExcludesReaders(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		u := mustLock(t, l, "k")
		waitFails(t, l.RLock, "k")
		waitFails(t, l.Lock, "k")

		// A reader waiting for the writer gets in once it leaves.
		got := make(chan Unlock)
		go func() { got <- mustRLock(t, l, "k") }()
		select {
		case <-got:
			t.Fatal("reader got in while the writer held the lock")
		case <-time.After(20 * time.Millisecond):
		}
		u()
		ru := <-got

		// And a reader keeps a writer out.
		waitFails(t, l.Lock, "k")
		if _, err := l.TryLock("k"); !errors.Is(err, ErrLocked) {
			t.Fatalf("TryLock under a reader: err = %v, want ErrLocked", err)
		}
		ru()
		mustLock(t, l, "k")()
		if n := l.live(); n != 0 {
			t.Fatalf("%d keys still have state", n)
		}
	})
}

func TestCancelWhileWaiting(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		for _, mode := range []string{"Lock", "RLock"} {
			lock := l.Lock
			if mode == "RLock" {
				lock = l.RLock
			}
			u := mustLock(t, l, "a/k")
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			_, err := lock(ctx, "a/k")
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: err = %v, want Canceled", mode, err)
			}
			if !strings.Contains(err.Error(), `"a/k"`) {
				t.Fatalf("%s: error %q does not name the key", mode, err)
			}
			u()
			// The cancelled waiter holds nothing.
			tu, err := l.TryLock("a/k")
			if err != nil {
				t.Fatalf("%s: after cancel: %v", mode, err)
			}
			tu()
		}
		if n := l.live(); n != 0 {
			t.Fatalf("%d keys still have state", n)
		}
	})
}

func TestDoneContext(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		u := mustLock(t, l, "k")
		defer u()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Lock(ctx, "k"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		if _, err := l.RLock(ctx, "k"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
	})
}

func TestTryLock(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		u, err := l.TryLock("k")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.TryLock("k"); !errors.Is(err, ErrLocked) {
			t.Fatalf("err = %v, want ErrLocked", err)
		}
		other, err := l.TryLock("other") // keys are independent
		if err != nil {
			t.Fatal(err)
		}
		other()
		u()
		u() // idempotent
		u, err = l.TryLock("k")
		if err != nil {
			t.Fatalf("after unlock: %v", err)
		}
		u()
		if n := l.live(); n != 0 {
			t.Fatalf("%d keys still have state", n)
		}
	})
}

func TestUnlockIdempotent(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		r1 := mustRLock(t, l, "k")
		r2 := mustRLock(t, l, "k")
		r1()
		r1() // must not release r2's share
		waitFails(t, l.Lock, "k")
		r2()
		w := mustLock(t, l, "k")
		w()
		w()
		mustLock(t, l, "k")()
	})
}

func TestMarkers(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		key := "dir/value"
		u := mustLock(t, l, key)
		if m, err := l.Marker(key); err != nil || m != "" {
			t.Fatalf("fresh marker = %q, %v", m, err)
		}
		for _, m := range []string{"journal-000123", "j2", strings.Repeat("x", MaxMarkerLen)} {
			if err := l.SetMarker(key, m); err != nil {
				t.Fatal(err)
			}
			if got, err := l.Marker(key); err != nil || got != m {
				t.Fatalf("marker = %q, %v; want %q", got, err, m)
			}
		}
		if err := l.SetMarker(key, "journal-7"); err != nil {
			t.Fatal(err)
		}
		u()

		// The marker outlives the lock.
		u = mustLock(t, l, key)
		if m, err := l.Marker(key); err != nil || m != "journal-7" {
			t.Fatalf("after relock marker = %q, %v", m, err)
		}
		if err := l.SetMarker(key, strings.Repeat("x", MaxMarkerLen+1)); err == nil {
			t.Fatal("overlong marker accepted")
		}
		if err := l.SetMarker(key, "a\nb"); err == nil {
			t.Fatal("marker with a newline accepted")
		}
		if err := l.SetMarker(key, ""); err != nil {
			t.Fatal(err)
		}
		u()
		ru := mustRLock(t, l, key)
		if m, err := l.Marker(key); err != nil || m != "" {
			t.Fatalf("cleared marker = %q, %v", m, err)
		}
		ru()
	})
}

func TestInvalidKeys(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		ctx := context.Background()
		for _, key := range []string{"", "a\x00b"} {
			if _, err := l.Lock(ctx, key); err == nil {
				t.Errorf("Lock(%q) succeeded", key)
			}
			if _, err := l.RLock(ctx, key); err == nil {
				t.Errorf("RLock(%q) succeeded", key)
			}
			if _, err := l.TryLock(key); err == nil {
				t.Errorf("TryLock(%q) succeeded", key)
			}
			if _, err := l.Marker(key); err == nil {
				t.Errorf("Marker(%q) succeeded", key)
			}
			if err := l.SetMarker(key, "m"); err == nil {
				t.Errorf("SetMarker(%q) succeeded", key)
			}
		}
		if n := l.live(); n != 0 {
			t.Fatalf("%d keys have state", n)
		}
	})
}

func TestStateFreed(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				key := fmt.Sprintf("k%d/v%d", i%7, i)
				if i%2 == 0 {
					mustLock(t, l, key)()
				} else {
					mustRLock(t, l, key)()
				}
			})
		}
		wg.Wait()
		if n := l.live(); n != 0 {
			t.Fatalf("%d keys still have state", n)
		}
	})
}

// overlapReaders starts n goroutines that take key shared on l for about
// 2 ms at a time, back to back and staggered, so that at every instant some
// reader holds it. It returns once each has held it; reads counts the shared
// locks taken so far, and stop ends the readers and waits for them.
func overlapReaders(t *testing.T, l Locker, key string, n int) (reads func() int64, stop func()) {
	t.Helper()
	var count atomic.Int64
	var started, wg sync.WaitGroup
	done := make(chan struct{})
	for i := range n {
		started.Add(1)
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 500 * time.Microsecond)
			first := true
			defer func() {
				if first {
					started.Done()
				}
			}()
			for {
				select {
				case <-done:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				u, err := l.RLock(ctx, key)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				count.Add(1)
				time.Sleep(2 * time.Millisecond)
				u()
				if first {
					started.Done()
					first = false
				}
			}
		})
	}
	started.Wait()
	return count.Load, func() {
		close(done)
		wg.Wait()
	}
}

// A stream of overlapping readers must not keep a waiting writer out.
func TestWriterNotStarved(t *testing.T) {
	impls(t, func(t *testing.T, l impl) {
		writerNotStarved(t, l, l)
	})
}

// writerNotStarved checks that w gets key's exclusive lock within 2 s while
// four goroutines keep overlapping shared locks on it through r, and that
// the readers carry on afterwards.
func writerNotStarved(t *testing.T, r, w Locker) {
	t.Helper()
	reads, stop := overlapReaders(t, r, "k", 4)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	u, err := w.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("writer starved by readers: %v", err)
	}
	u()
	// No reader was left stuck behind the writer.
	before := reads()
	deadline := time.Now().Add(5 * time.Second)
	for reads() < before+8 {
		if time.Now().After(deadline) {
			t.Fatal("readers did not resume after the writer")
		}
		time.Sleep(time.Millisecond)
	}
}
