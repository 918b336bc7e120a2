package txn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/txn"
)

// gateAppend holds the first journal batch that carries a record for key
// at its start (nothing written yet) until release is called; the batch
// then goes on, or fails with err as if its I/O had. entered is closed once
// the batch is held.
func gateAppend(t *testing.T, key string) (entered <-chan struct{}, release func(err error)) {
	t.Helper()
	in := make(chan struct{})
	out := make(chan error, 1)
	var once sync.Once
	uninstall := crashpoint.Install(func(name, k string) error {
		if name != crashpoint.JournalAppend || k != key {
			return nil
		}
		var err error
		held := false
		once.Do(func() {
			held = true
			close(in)
			err = <-out
		})
		if held {
			return err
		}
		return nil
	})
	t.Cleanup(func() {
		select {
		case out <- nil:
		default:
		}
		uninstall()
	})
	return in, func(err error) { out <- err }
}

// waitQueued waits until n commits wait for a batch.
func waitQueued(t *testing.T, e *txn.Engine, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.Stats().Queued != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d commits queued, want %d", e.Stats().Queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// goCommit commits one write in the background; the result arrives on the
// returned channel.
func goCommit(e *txn.Engine, key string, p []byte, off int64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- writeTx(e, key, p, off) }()
	return ch
}

// TestGroupCommitSharesBatches: while one batch is being written, every
// commit that arrives queues, whatever its value — several on one value
// too, since the value's turn passes on as soon as a commit is queued —
// and the next batch takes them all at once: 32 commits, 2 batches.
func TestGroupCommitSharesBatches(t *testing.T) {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeJournal)
	old := bytes.Repeat([]byte("."), 64<<10)
	put(t, e, "gate", old)
	put(t, e, "hot", old)
	for i := range 16 {
		put(t, e, fmt.Sprintf("v/%d", i), old)
	}
	flush(t, e)
	before := e.Stats()

	entered, release := gateAppend(t, "gate")
	first := goCommit(e, "gate", []byte("G"), 0)
	<-entered
	var results []<-chan error
	for i := range 16 {
		results = append(results, goCommit(e, fmt.Sprintf("v/%d", i), bytes.Repeat([]byte{byte('a' + i)}, 4096), 4096))
	}
	for i := range 15 {
		results = append(results, goCommit(e, "hot", []byte{byte('A' + i)}, int64(i)*4096))
	}
	waitQueued(t, e, 31)
	release(nil)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if err := <-r; err != nil {
			t.Fatal(err)
		}
	}
	st := e.Stats()
	if groups, commits := st.Groups-before.Groups, st.Commits-before.Commits; groups != 2 || commits != 32 || st.MaxGroup != 31 {
		t.Fatalf("%d commits in %d batches (largest %d), want 32 in 2 (largest 31)", commits, groups, st.MaxGroup)
	}
	flush(t, e)
	hot := bytes.Clone(old)
	for i := range 15 {
		hot[i*4096] = byte('A' + i)
	}
	if got := rawValue(t, root, "hot"); !bytes.Equal(got, hot) {
		t.Fatal("the value written by 15 queued transactions lost some of them")
	}
	for i := range 16 {
		if got := rawValue(t, root, fmt.Sprintf("v/%d", i)); !bytes.Equal(got, patched(old, bytes.Repeat([]byte{byte('a' + i)}, 4096), 4096)) {
			t.Fatalf("v/%d is wrong", i)
		}
	}
}

// TestQueuedWritesVisible: a transaction that begins while the previous
// one on its value is still queued does not wait for that batch, and reads
// its writes (read-your-predecessor's-writes); a plain read of the value
// returns only once what it would see is durable.
func TestQueuedWritesVisible(t *testing.T) {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeJournal)
	old := bytes.Repeat([]byte("o"), 8192)
	put(t, e, "v", old)

	entered, release := gateAppend(t, "v")
	c1 := goCommit(e, "v", []byte("AAAA"), 0)
	<-entered

	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tx, err := e.Begin(bctx, "v")
	if err != nil {
		t.Fatalf("Begin behind a queued commit = %v; it must not wait for the batch", err)
	}
	buf := make([]byte, 6)
	if _, err := tx.ReadAt(buf, 0); err != nil || string(buf) != "AAAAoo" {
		t.Fatalf("read behind a queued commit = %q, %v; want its writes", buf, err)
	}
	if _, err := tx.WriteAt([]byte("BB"), 2); err != nil {
		t.Fatal(err)
	}
	c2 := make(chan error, 1)
	go func() { c2 <- tx.Commit() }()

	got := make(chan []byte, 1)
	go func() {
		b, err := e.Get(ctx, "v")
		if err != nil {
			b = []byte(err.Error())
		}
		got <- b
	}()
	select {
	case b := <-got:
		t.Fatalf("Get returned %q while the commits it would see were not durable", b[:min(len(b), 8)])
	case <-time.After(100 * time.Millisecond):
	}
	release(nil)
	if err := <-c1; err != nil {
		t.Fatal(err)
	}
	if err := <-c2; err != nil {
		t.Fatal(err)
	}
	want := patched(old, []byte("AABB"), 0)
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("Get = %q…, want both commits", b[:min(len(b), 8)])
	}
	flush(t, e)
	if got := rawValue(t, root, "v"); !bytes.Equal(got, want) {
		t.Fatal("file after Flush lacks the commits")
	}
}

// TestFailedBatchFailsLaterTransactions: a batch that fails before its
// commit point (nothing written) fails its transactions, every
// transaction queued after them on the same value (they read its writes),
// and the transaction holding the value's turn meanwhile (ErrAborted at
// its commit). None of them is written; the engine goes on.
func TestFailedBatchFailsLaterTransactions(t *testing.T) {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeJournal)
	old := bytes.Repeat([]byte("o"), 8192)
	put(t, e, "v", old)

	entered, release := gateAppend(t, "v")
	c1 := goCommit(e, "v", []byte("AAAA"), 0)
	<-entered
	c2 := make(chan error, 1)
	go func() {
		c2 <- txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
			buf := make([]byte, 4)
			if _, err := tx.ReadAt(buf, 0); err != nil || string(buf) != "AAAA" {
				return fmt.Errorf("read %q, %v behind the queued commit", buf, err)
			}
			_, err := tx.WriteAt([]byte("BB"), 2)
			return err
		})
	}()
	waitQueued(t, e, 1)
	tx3, err := e.Begin(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	release(errInjected)

	for i, c := range []<-chan error{c1, c2} {
		err := <-c
		if !errors.Is(err, errInjected) || !errors.Is(err, journal.ErrNotWritten) || errors.Is(err, txn.ErrNeedsRecovery) {
			t.Fatalf("commit %d of the failed batch = %v, want the injected error, nothing written", i+1, err)
		}
	}
	if _, err := tx3.WriteAt([]byte("C"), 0); err != nil {
		t.Fatal(err)
	}
	if err := tx3.Commit(); !errors.Is(err, txn.ErrAborted) || !errors.Is(err, errInjected) {
		t.Fatalf("commit of the transaction that held the turn = %v, want ErrAborted wrapping the cause", err)
	}
	if got := get(t, e, "v"); !bytes.Equal(got, old) {
		t.Fatalf("value after the failed batch = %q…, want the old one", got[:8])
	}
	if err := writeTx(e, "v", []byte("D"), 0); err != nil {
		t.Fatalf("engine after a failed batch: %v", err)
	}
	flush(t, e)
	if got := rawValue(t, root, "v"); !bytes.Equal(got, patched(old, []byte("D"), 0)) {
		t.Fatal("the commit after the failed batch is not in the value")
	}
	if m := markerOf(t, root, "v"); m != "" {
		t.Fatalf("marker %q left", m)
	}
	if st := e.Stats(); st.Failed != 2 {
		t.Fatalf("Stats.Failed = %d, want 2", st.Failed)
	}
}

// TestCopyCommitWaitsForQueuedJournal: a copy-mode commit replaces the
// value's file, so it waits until every journal commit queued before it
// on the value is applied and watermarked — otherwise a crash could replay
// an older journal record over the new copy.
func TestCopyCommitWaitsForQueuedJournal(t *testing.T) {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeJournal)
	old := bytes.Repeat([]byte("o"), 8192)
	put(t, e, "v", old)

	entered, release := gateAppend(t, "v")
	c1 := goCommit(e, "v", []byte("AAAA"), 0)
	<-entered
	c2 := make(chan error, 1)
	go func() {
		c2 <- txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
			if err := tx.SetMode(txn.ModeCopy); err != nil {
				return err
			}
			_, err := tx.WriteAt([]byte("C"), 8000)
			return err
		})
	}()
	select {
	case err := <-c2:
		t.Fatalf("copy commit returned %v before the journal commit queued ahead of it was durable", err)
	case <-time.After(100 * time.Millisecond):
	}
	release(nil)
	if err := <-c1; err != nil {
		t.Fatal(err)
	}
	if err := <-c2; err != nil {
		t.Fatal(err)
	}
	want := patched(patched(old, []byte("AAAA"), 0), []byte("C"), 8000)
	// Copy mode is synchronous, and ran after the journal commit was
	// applied: the file holds both without a Flush.
	if got := rawValue(t, root, "v"); !bytes.Equal(got, want) {
		t.Fatal("file after the copy commit lacks one of the commits")
	}
	flush(t, e)
	if m := markerOf(t, root, "v"); m != "" {
		t.Fatalf("marker %q left", m)
	}
}

// TestBusyValueLetsOthersIn: an engine whose writers keep a value's
// pipeline busy without pause still lets another engine (here in the same
// process, with its own lock files, as another process would be) take the
// value within a bounded time: past its hold limit the busy engine admits
// nobody new until it has drained and released the lock.
func TestBusyValueLetsOthersIn(t *testing.T) {
	root := t.TempDir()
	busy := openLocal(t, root, txn.ModeJournal)
	put(t, busy, "v", make([]byte, 1<<20))
	other := openLocal(t, root, txn.ModeJournal)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var commits atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := writeTx(busy, "v", []byte{byte('a' + w)}, int64(w)*4096); err != nil {
					t.Error(err)
					return
				}
				commits.Add(1)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for commits.Load() < 50 { // the busy engine is at full speed
		time.Sleep(time.Millisecond)
	}
	for i := range 5 {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := txn.Do(c, other, "v", func(tx *txn.Tx) error {
			_, err := tx.WriteAt([]byte{byte('0' + i)}, 100000)
			return err
		})
		cancel()
		if err != nil {
			t.Fatalf("transaction %d of the other engine while the value is busy: %v", i, err)
		}
	}
	if got := get(t, other, "v"); got[100000] != '4' {
		t.Fatalf("byte written by the other engine = %q, want '4'", got[100000])
	}
	before := commits.Load()
	time.Sleep(50 * time.Millisecond)
	if commits.Load() == before {
		t.Fatal("the busy engine stopped committing")
	}
}
