package journal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
)

func create(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func rec(key string, data string) *journal.Record {
	n := int64(len(data))
	return &journal.Record{
		TxID: uuid.New(), Key: key, BaseSize: n, MinSize: n, Size: n,
		Ranges: []journal.Range{{Off: 0, Data: []byte(data)}},
	}
}

func appendAll(t *testing.T, j *journal.Journal, recs ...*journal.Record) {
	t.Helper()
	for _, r := range recs {
		if _, err := j.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func lsns(recs []journal.Record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.LSN)
	}
	return out
}

func pendingLSNs(t *testing.T, j *journal.Journal, key string) []uint64 {
	t.Helper()
	recs, err := j.Pending(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return lsns(recs)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// journalFiles returns the names of a journal's files, sorted.
func journalFiles(id string) []string {
	return []string{id + ".db", id + ".owner", id + ".seg0", id + ".seg1"}
}

func TestCreateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b") // created on demand
	j := create(t, dir)
	if _, err := uuid.Parse(j.ID()); err != nil {
		t.Fatalf("ID %q: %v", j.ID(), err)
	}
	want := journalFiles(j.ID())
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %v, want %v", got, want)
	}
	if ids, err := journal.List(dir); err != nil || !slices.Equal(ids, []string{j.ID()}) {
		t.Fatalf("List = %v, %v", ids, err)
	}
	if empty, err := j.Empty(); err != nil || !empty {
		t.Fatalf("Empty = %v, %v", empty, err)
	}
}

func TestAppendConcurrentAndReopen(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	const workers, each = 8, 20
	var (
		mu   sync.Mutex
		sent = make(map[uint64]journal.Record)
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			var last uint64
			for i := range each {
				r := rec(fmt.Sprintf("key%d", w%3), fmt.Sprintf("w%d-i%d", w, i))
				lsn, err := j.Append(context.Background(), r)
				if err != nil {
					t.Error(err)
					return
				}
				if lsn != r.LSN || lsn <= last {
					t.Errorf("lsn %d (rec.LSN %d) after %d", lsn, r.LSN, last)
				}
				last = lsn
				mu.Lock()
				if _, dup := sent[lsn]; dup {
					t.Errorf("lsn %d assigned twice", lsn)
				}
				sent[lsn] = *r
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(sent) != workers*each {
		t.Fatalf("%d records committed, want %d", len(sent), workers*each)
	}
	for lsn := uint64(1); lsn <= workers*each; lsn++ {
		if _, ok := sent[lsn]; !ok {
			t.Fatalf("lsn %d never assigned; LSNs must be 1..%d", lsn, workers*each)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	d, err := journal.OpenDead(context.Background(), dir, j.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Pending(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sent) {
		t.Fatalf("%d pending after reopen, want %d", len(got), len(sent))
	}
	for i, r := range got {
		if r.LSN != uint64(i+1) || !recordsEqual(r, sent[r.LSN]) {
			t.Fatalf("pending[%d] = %+v, want %+v", i, r, sent[uint64(i+1)])
		}
	}
	// LSNs keep growing in a reopened journal.
	if lsn, err := d.Append(context.Background(), rec("key0", "x")); err != nil || lsn != workers*each+1 {
		t.Fatalf("Append after reopen = %d, %v", lsn, err)
	}
}

func TestMarkAppliedAndPending(t *testing.T) {
	ctx := context.Background()
	j := create(t, t.TempDir())
	appendAll(t, j, rec("a", "1"), rec("b", "2"), rec("a", "3"), rec("b", "4"), rec("a", "5"))

	if got := pendingLSNs(t, j, "a"); !slices.Equal(got, []uint64{1, 3, 5}) {
		t.Fatalf("Pending(a) = %v", got)
	}
	if got := pendingLSNs(t, j, ""); !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("Pending() = %v", got)
	}
	if got := pendingLSNs(t, j, "c"); got != nil {
		t.Fatalf("Pending(c) = %v", got)
	}

	if err := j.MarkApplied(ctx, "a", 3); err != nil {
		t.Fatal(err)
	}
	for _, lsn := range []uint64{1, 3} {
		if raw, _ := journal.GetRaw(j, lsn); raw != nil {
			t.Errorf("entry %d survived MarkApplied(a, 3)", lsn)
		}
	}
	if raw, _ := journal.GetRaw(j, 2); raw == nil {
		t.Error("MarkApplied(a, 3) deleted b's entry 2")
	}
	if got := pendingLSNs(t, j, "a"); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("Pending(a) = %v", got)
	}
	if got := pendingLSNs(t, j, "b"); !slices.Equal(got, []uint64{2, 4}) {
		t.Fatalf("Pending(b) = %v", got)
	}

	// The watermark never moves back.
	if err := j.MarkApplied(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	st, err := j.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied["a"] != 3 || st.Entries != 3 || !slices.Equal(st.PendingKeys, []string{"a", "b"}) || st.ID != j.ID() {
		t.Fatalf("Stats = %+v", st)
	}
	// An entry at or below its key's watermark is not pending even if present.
	old := rec("a", "old")
	old.LSN = 3
	b, err := old.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := journal.PutRaw(j, journal.LSNKey(3), b); err != nil {
		t.Fatal(err)
	}
	if got := pendingLSNs(t, j, ""); !slices.Equal(got, []uint64{2, 4, 5}) {
		t.Fatalf("Pending() = %v", got)
	}
	if err := j.MarkApplied(ctx, "a", 5); err != nil {
		t.Fatal(err)
	}
	if err := j.MarkApplied(ctx, "b", 4); err != nil {
		t.Fatal(err)
	}
	if empty, err := j.Empty(); err != nil || !empty {
		t.Fatalf("Empty = %v, %v after applying everything", empty, err)
	}
	if got := pendingLSNs(t, j, ""); got != nil {
		t.Fatalf("Pending() = %v", got)
	}

	if err := j.MarkApplied(ctx, "a", 1000); !errors.Is(err, journal.ErrInvalid) {
		t.Fatalf("MarkApplied beyond the last LSN = %v, want ErrInvalid", err)
	}
	if err := j.MarkApplied(ctx, "", 1); !errors.Is(err, journal.ErrInvalid) {
		t.Fatalf("MarkApplied with empty key = %v, want ErrInvalid", err)
	}
}

func TestPendingCorrupt(t *testing.T) {
	ctx := context.Background()
	j := create(t, t.TempDir())
	appendAll(t, j, rec("a", "1"), rec("b", "2"), rec("a", "3"))
	raw, err := journal.GetRaw(j, 2)
	if err != nil || raw == nil {
		t.Fatal(raw, err)
	}
	raw[len(raw)/2] ^= 0x10
	if err := journal.PutRaw(j, journal.LSNKey(2), raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "a", "b"} {
		recs, err := j.Pending(ctx, key)
		if !errors.Is(err, journal.ErrCorrupt) || recs != nil {
			t.Fatalf("Pending(%q) = %d records, %v; want nothing and ErrCorrupt", key, len(recs), err)
		}
		if msg := err.Error(); !strings.Contains(msg, j.ID()) || !strings.Contains(msg, "entry 2") {
			t.Fatalf("error %q does not name the journal and entry 2", msg)
		}
	}
	// MarkApplied leaves corrupt entries for an operator.
	if err := j.MarkApplied(ctx, "b", 3); err != nil {
		t.Fatal(err)
	}
	st, err := j.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 3 || !slices.Equal(st.Corrupt, []uint64{2}) || !slices.Equal(st.PendingKeys, []string{"a"}) {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestPendingLSNMismatch(t *testing.T) {
	j := create(t, t.TempDir())
	appendAll(t, j, rec("a", "1"))
	raw, _ := journal.GetRaw(j, 1)
	// A well-formed record stored under the wrong LSN.
	if err := journal.PutRaw(j, journal.LSNKey(9), raw); err != nil {
		t.Fatal(err)
	}
	// And a key that is no LSN at all.
	if err := journal.PutRaw(j, []byte("junk"), raw); err != nil {
		t.Fatal(err)
	}
	_, err := j.Pending(context.Background(), "a")
	if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), "entry 9") {
		t.Fatalf("Pending = %v, want ErrCorrupt naming entry 9", err)
	}
	st, err := j.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 3 || !slices.Equal(st.Corrupt, []uint64{9, 0}) {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestAppendRejects(t *testing.T) {
	j := create(t, t.TempDir())
	if _, err := j.Append(context.Background(), &journal.Record{Key: "", Size: 1}); !errors.Is(err, journal.ErrInvalid) {
		t.Fatalf("Append(invalid) = %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Append(ctx, rec("a", "x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append(canceled) = %v", err)
	}
	if empty, err := j.Empty(); err != nil || !empty {
		t.Fatalf("Empty = %v, %v after rejected appends", empty, err)
	}
	// Rejections do not break the journal.
	if lsn, err := j.Append(context.Background(), rec("a", "x")); err != nil || lsn != 1 {
		t.Fatalf("Append = %d, %v", lsn, err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	j := create(t, t.TempDir())
	for range 2 {
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := j.Append(ctx, rec("a", "x")); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Append = %v", err)
	}
	if err := j.MarkApplied(ctx, "a", 0); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("MarkApplied = %v", err)
	}
	if _, err := j.Pending(ctx, ""); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Pending = %v", err)
	}
	if _, err := j.Stats(ctx); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Stats = %v", err)
	}
	if _, err := j.Empty(); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Empty = %v", err)
	}
	if err := j.Remove(); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Remove = %v", err)
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := create(t, dir)
	lsn, err := j.Append(ctx, rec("a", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Remove(); !errors.Is(err, journal.ErrNotEmpty) {
		t.Fatalf("Remove of a non-empty journal = %v", err)
	}
	if err := j.MarkApplied(ctx, "a", lsn); err != nil { // still open
		t.Fatal(err)
	}
	if err := j.Remove(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); names != nil {
		t.Fatalf("files left: %v", names)
	}
	if live, err := journal.IsLive(dir, j.ID()); err != nil || live {
		t.Fatalf("IsLive = %v, %v", live, err)
	}
	if _, err := journal.OpenDead(ctx, dir, j.ID(), nil); !errors.Is(err, journal.ErrGone) {
		t.Fatalf("OpenDead = %v, want ErrGone", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveDead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := create(t, dir)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := journal.OpenDead(ctx, dir, j.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); names != nil {
		t.Fatalf("files left: %v", names)
	}
}

func TestOpenDeadMissing(t *testing.T) {
	ctx := context.Background()
	id := uuid.NewString()
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "nonexistent")} {
		if _, err := journal.OpenDead(ctx, dir, id, nil); !errors.Is(err, journal.ErrGone) {
			t.Fatalf("OpenDead = %v, want ErrGone", err)
		}
		if names := dirNames(t, dir); names != nil {
			t.Fatalf("OpenDead created %v", names)
		}
	}
	// An owner file without its .db is a removed journal too.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, id+".owner"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := journal.OpenDead(ctx, dir, id, nil); !errors.Is(err, journal.ErrGone) {
		t.Fatalf("OpenDead = %v, want ErrGone", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{id + ".owner"}) {
		t.Fatalf("files = %v", names)
	}
}

func TestOpenDeadBadID(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"", "../x", "x", strings.ToUpper(uuid.NewString()), "urn:uuid:" + uuid.NewString()} {
		if _, err := journal.OpenDead(context.Background(), dir, id, nil); !errors.Is(err, journal.ErrInvalid) {
			t.Errorf("OpenDead(%q) = %v, want ErrInvalid", id, err)
		}
		if _, err := journal.IsLive(dir, id); !errors.Is(err, journal.ErrInvalid) {
			t.Errorf("IsLive(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

func TestOpenDeadWithoutOwnerFile(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	appendAll(t, j, rec("a", "x"))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, j.ID()+".owner")); err != nil {
		t.Fatal(err)
	}
	d, err := journal.OpenDead(context.Background(), dir, j.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := pendingLSNs(t, d, "a"); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("Pending = %v", got)
	}
}

func TestOpenDeadOwnedInProcess(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	if live, err := journal.IsLive(dir, j.ID()); err != nil || !live {
		t.Fatalf("IsLive = %v, %v", live, err)
	}
	if _, err := journal.OpenDead(context.Background(), dir, j.ID(), nil); !errors.Is(err, journal.ErrOwnerAlive) {
		t.Fatalf("OpenDead = %v, want ErrOwnerAlive", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if live, err := journal.IsLive(dir, j.ID()); err != nil || live {
		t.Fatalf("IsLive after Close = %v, %v", live, err)
	}
}

// A second recoverer waits for the first one's bbolt lock, honouring ctx,
// and gets ErrGone if the first removes the journal.
func TestOpenDeadWaitsForOtherRecoverer(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	appendAll(t, j, rec("a", "x"))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	first, err := journal.OpenDead(context.Background(), dir, j.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	start := time.Now()
	_, err = journal.OpenDead(ctx, dir, j.ID(), nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("OpenDead while held = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("OpenDead overran its context by %v", d)
	}

	// Released by Close: the waiter gets it.
	done := make(chan error, 1)
	go func() {
		d, err := journal.OpenDead(context.Background(), dir, j.ID(), nil)
		if err == nil {
			err = d.MarkApplied(context.Background(), "a", 1)
			if err == nil {
				err = d.Remove()
			}
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Removed while waiting: ErrGone.
	j2 := create(t, dir)
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	first, err = journal.OpenDead(context.Background(), dir, j2.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := journal.OpenDead(context.Background(), dir, j2.ID(), nil)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := first.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, journal.ErrGone) {
		t.Fatalf("OpenDead of a journal removed meanwhile = %v, want ErrGone", err)
	}
	if names := dirNames(t, dir); names != nil {
		t.Fatalf("files left: %v", names)
	}
}

func TestList(t *testing.T) {
	if ids, err := journal.List(filepath.Join(t.TempDir(), "missing")); err != nil || ids != nil {
		t.Fatalf("List(missing) = %v, %v", ids, err)
	}
	dir := t.TempDir()
	var want []string
	for range 3 {
		j := create(t, dir)
		want = append(want, j.ID())
	}
	slices.Sort(want)
	for _, junk := range []string{"notes.db", "x.owner", uuid.NewString() + ".db.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, junk), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, uuid.NewString()+".db"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ids, err := journal.List(dir); err != nil || !slices.Equal(ids, want) {
		t.Fatalf("List = %v, %v; want %v", ids, err, want)
	}
}

// Pending's records must not point into bbolt's memory map, which Close
// unmaps. (The record is large so that the bucket is not inline: bbolt
// copies small inline buckets to the heap.)
func TestPendingOwnsData(t *testing.T) {
	j := create(t, t.TempDir())
	data := strings.Repeat("persistent data ", 1024)
	appendAll(t, j, rec("a", data))
	recs, err := j.Pending(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := string(recs[0].Ranges[0].Data); got != data {
		t.Fatalf("data after Close differs (%d bytes)", len(got))
	}
}
