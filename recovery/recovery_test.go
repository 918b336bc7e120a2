package recovery_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/internal/testutil"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/recovery"
	"github.com/rangetx/rangetx/store"
)

var ctx = context.Background()

type fixture struct {
	root, jdir string
	st         *store.Local
	cfg        recovery.Config
}

func newFixture(t *testing.T) *fixture {
	root := t.TempDir()
	f := &fixture{root: root, jdir: filepath.Join(root, ".rangetx", "journal")}
	var err error
	if f.st, err = store.NewLocal(root); err != nil {
		t.Fatal(err)
	}
	lk, err := lock.NewFile(filepath.Join(root, ".rangetx", "locks"))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = recovery.Config{Store: f.st, Locker: lk, JournalDir: f.jdir, LockPath: filepath.Join(root, ".rangetx", "recovery.lock")}
	return f
}

func (f *fixture) put(t *testing.T, key string, b []byte) {
	if err := f.st.Put(ctx, key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) get(t *testing.T, key string) []byte {
	b, err := f.st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rec(key string, base, minSize, size int64, ranges ...journal.Range) journal.Record {
	return journal.Record{TxID: uuid.New(), Key: key, BaseSize: base, MinSize: minSize, Size: size, Ranges: ranges}
}

func TestRunReplaysInOrder(t *testing.T) {
	f := newFixture(t)
	f.put(t, "a", []byte("aaaaaaaaaa"))
	f.put(t, "b", []byte("bbbbbbbbbb"))
	id := testutil.DeadJournal(t, f.jdir,
		rec("a", 10, 10, 10, journal.Range{Off: 2, Data: []byte("11")}),
		rec("b", 10, 4, 12, journal.Range{Off: 10, Data: []byte("ZZ")}), // shrink to 4, grow to 12
		rec("a", 10, 10, 10, journal.Range{Off: 2, Data: []byte("2")}),  // later entry wins
	)
	rep, err := recovery.Run(ctx, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, "a"); string(got) != "aa21aaaaaa" {
		t.Fatalf("a = %q", got)
	}
	if got := f.get(t, "b"); string(got) != "bbbb\x00\x00\x00\x00\x00\x00ZZ" {
		t.Fatalf("b = %q", got)
	}
	if rep.Replayed != 3 || len(rep.Journals) != 1 || rep.Journals[0].ID != id ||
		rep.Journals[0].Replayed["a"] != 2 || rep.Journals[0].Replayed["b"] != 1 || !rep.Journals[0].Removed {
		t.Fatalf("report = %+v", rep)
	}
	if ids, _ := journal.List(f.jdir); len(ids) != 0 {
		t.Fatalf("journal not removed: %v", ids)
	}
	// Running again finds nothing to do.
	if rep, err := recovery.Run(ctx, f.cfg); err != nil || rep.Replayed != 0 {
		t.Fatalf("second run: %+v, %v", rep, err)
	}
}

// TestApplyIdempotent: replaying over any torn state of an earlier attempt
// gives the committed contents.
func TestApplyIdempotent(t *testing.T) {
	f := newFixture(t)
	orig := []byte("0123456789abcdef")
	r := rec("v", 16, 6, 20, journal.Range{Off: 2, Data: []byte("XY")}, journal.Range{Off: 17, Data: []byte("Q")})
	want := []byte("01XY45\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00Q\x00\x00")
	torn := [][]byte{
		orig,                       // nothing applied
		[]byte("01XY456789abcdef"), // first range only
		[]byte("01XY45"),           // cut, not grown
		append([]byte("01XY45"), make([]byte, 14)...), // grown, second range missing
		want, // all applied
	}
	for i, state := range torn {
		f.put(t, "v", state)
		if err := recovery.Apply(ctx, f.st, r); err != nil {
			t.Fatal(err)
		}
		if err := recovery.Apply(ctx, f.st, r); err != nil {
			t.Fatal(err)
		}
		if got := f.get(t, "v"); !bytes.Equal(got, want) {
			t.Fatalf("torn state %d: got %q, want %q", i, got, want)
		}
	}
	// A value shorter than the record's cut point was changed outside
	// rangetx: refuse rather than guess.
	f.put(t, "v", []byte("01"))
	if err := recovery.Apply(ctx, f.st, r); !errors.Is(err, recovery.ErrValueMismatch) {
		t.Fatalf("Apply on a too-short value = %v", err)
	}
}

// TestRunRefusesCorruptJournal: a flipped bit anywhere in a record is
// detected, named, and nothing at all is applied — not even from a healthy
// journal beside it.
func TestRunRefusesCorruptJournal(t *testing.T) {
	for _, bit := range []int{0, 40, 200, 8*30 + 3, 1000} {
		f := newFixture(t)
		f.put(t, "a", []byte("aaaaaaaaaa"))
		healthy := testutil.DeadJournal(t, f.jdir, rec("a", 10, 10, 10, journal.Range{Off: 0, Data: []byte("H")}))
		bad := testutil.DeadJournal(t, f.jdir, rec("a", 10, 10, 10, journal.Range{Off: 5, Data: []byte("BAD")}))
		testutil.FlipBit(t, f.jdir, bad, 1, bit)
		rep, err := recovery.Run(ctx, f.cfg)
		if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), bad) {
			t.Fatalf("bit %d: Run = %v, want ErrCorrupt naming journal %s", bit, err, bad)
		}
		if got := f.get(t, "a"); string(got) != "aaaaaaaaaa" {
			t.Fatalf("bit %d: a corrupt journal led to a write: %q", bit, got)
		}
		found := false
		for _, j := range rep.Journals {
			found = found || (j.ID == bad && j.Corrupt != "")
		}
		if !found {
			t.Fatalf("bit %d: report does not name the corrupt journal: %+v", bit, rep)
		}
		if ids, _ := journal.List(f.jdir); len(ids) != 2 {
			t.Fatalf("bit %d: journals were removed: %v (healthy %s)", bit, ids, healthy)
		}
	}
}

func TestRunLeavesLiveJournals(t *testing.T) {
	f := newFixture(t)
	f.put(t, "a", []byte("aaaa"))
	j, err := journal.Create(f.jdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r := rec("a", 4, 4, 4, journal.Range{Off: 0, Data: []byte("L")})
	if _, err := j.Append(ctx, &r); err != nil {
		t.Fatal(err)
	}
	rep, err := recovery.Run(ctx, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Journals) != 1 || !rep.Journals[0].Live || rep.Replayed != 0 {
		t.Fatalf("report = %+v", rep)
	}
	if got := f.get(t, "a"); string(got) != "aaaa" {
		t.Fatalf("recovery touched a live journal's value: %q", got)
	}
}

func TestRunRemovesDeadOwnersTempFiles(t *testing.T) {
	f := newFixture(t)
	live, err := journal.Create(f.jdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	dead := uuid.NewString()
	deadTemp := filepath.Join(f.root, "d", "."+"v"+store.TempMarker+dead+".0a1b")
	liveTemp := filepath.Join(f.root, "d", "."+"w"+store.TempMarker+live.ID()+".0a1b")
	os.MkdirAll(filepath.Dir(deadTemp), 0o755)
	for _, p := range []string{deadTemp, liveTemp} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := recovery.Run(ctx, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(deadTemp); !os.IsNotExist(err) {
		t.Fatal("a dead owner's temporary file survived recovery")
	}
	if _, err := os.Stat(liveTemp); err != nil {
		t.Fatal("recovery removed a live owner's temporary file")
	}
	if len(rep.TempRemoved) != 1 {
		t.Fatalf("report = %+v", rep)
	}
}

// TestSettleNeedsOnlyTheKey: Settle replays one key's entries and leaves
// the others for their own lock holders.
func TestSettleOneKey(t *testing.T) {
	f := newFixture(t)
	f.put(t, "a", []byte("aaaa"))
	f.put(t, "b", []byte("bbbb"))
	id := testutil.DeadJournal(t, f.jdir,
		rec("a", 4, 4, 4, journal.Range{Off: 0, Data: []byte("A")}),
		rec("b", 4, 4, 4, journal.Range{Off: 0, Data: []byte("B")}))
	n, err := recovery.Settle(ctx, f.st, f.jdir, id, "a")
	if err != nil || n != 1 {
		t.Fatalf("Settle = %d, %v", n, err)
	}
	if string(f.get(t, "a")) != "Aaaa" || string(f.get(t, "b")) != "bbbb" {
		t.Fatal("Settle touched the wrong key")
	}
	if n, err := recovery.Settle(ctx, f.st, f.jdir, id, "a"); err != nil || n != 0 {
		t.Fatalf("second Settle = %d, %v", n, err)
	}
	if n, err := recovery.Settle(ctx, f.st, f.jdir, id, "b"); err != nil || n != 1 {
		t.Fatalf("Settle b = %d, %v", n, err)
	}
	if ids, _ := journal.List(f.jdir); len(ids) != 0 {
		t.Fatalf("empty journal not removed: %v", ids)
	}
	if n, err := recovery.Settle(ctx, f.st, f.jdir, id, "b"); err != nil || n != 0 {
		t.Fatalf("Settle of a removed journal = %d, %v", n, err)
	}
}

// TestApplySequenceAfterShrink: replaying a key's entries again over the
// state an interrupted replay left — here already shorter than the first
// record's cut — gives the same result.
func TestApplySequenceAfterShrink(t *testing.T) {
	f := newFixture(t)
	r1 := rec("v", 10, 10, 10, journal.Range{Off: 1, Data: []byte("AB")})
	r2 := rec("v", 10, 4, 6, journal.Range{Off: 5, Data: []byte("Z")})
	want := "0AB3\x00Z"
	for _, state := range []string{"0123456789", "0AB3456789", "0AB3", "0AB3\x00\x00", want} {
		f.put(t, "v", []byte(state))
		if err := recovery.Apply(ctx, f.st, r1, r2); err != nil {
			t.Fatalf("from %q: %v", state, err)
		}
		if got := f.get(t, "v"); string(got) != want {
			t.Fatalf("from %q: got %q, want %q", state, got, want)
		}
	}
}

// TestRunFencesUnsettledValue: a value whose entries cannot be replayed is
// reported and fenced; the other values of the same journal are settled.
func TestRunFencesUnsettledValue(t *testing.T) {
	f := newFixture(t)
	f.put(t, "bad", []byte("ab")) // shorter than its record's cut: changed outside rangetx
	f.put(t, "good", []byte("gggg"))
	id := testutil.DeadJournal(t, f.jdir,
		rec("bad", 10, 10, 10, journal.Range{Off: 0, Data: []byte("X")}),
		rec("good", 4, 4, 4, journal.Range{Off: 0, Data: []byte("G")}))
	rep, err := recovery.Run(ctx, f.cfg)
	if !errors.Is(err, recovery.ErrUnsettled) || !errors.Is(err, recovery.ErrValueMismatch) {
		t.Fatalf("Run = %v, want ErrUnsettled wrapping ErrValueMismatch", err)
	}
	if got := f.get(t, "good"); string(got) != "Gggg" {
		t.Fatalf("good = %q: one bad value stopped the others", got)
	}
	if got := f.get(t, "bad"); string(got) != "ab" {
		t.Fatalf("bad = %q", got)
	}
	if len(rep.Journals) != 1 || rep.Journals[0].Failed["bad"] == "" || rep.Journals[0].Removed {
		t.Fatalf("report = %+v", rep)
	}
	if m, _ := f.cfg.Locker.Marker("bad"); m != id {
		t.Fatalf("bad's marker = %q, want the journal %s (fenced)", m, id)
	}

	// Entries still pending mean nobody committed to the value since, so
	// a marker naming another journal is stale (a power loss reverted it)
	// and the fence replaces it.
	f.put(t, "bad2", []byte("ab"))
	other := "0193a0e4-7b1c-7d2e-9f00-0123456789ab"
	unlock, err := f.cfg.Locker.Lock(ctx, "bad2")
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.Locker.SetMarker("bad2", other)
	unlock()
	testutil.DeadJournal(t, f.jdir, rec("bad2", 10, 10, 10, journal.Range{Off: 0, Data: []byte("X")}))
	if _, err := recovery.Run(ctx, f.cfg); !errors.Is(err, recovery.ErrUnsettled) {
		t.Fatalf("Run = %v", err)
	}
	if m, _ := f.cfg.Locker.Marker("bad2"); m == other || m == "" {
		t.Fatalf("bad2's marker = %q: a stale marker disabled the fence", m)
	}
}

// TestRunRemovesOrphanOwners: owner files a process killed inside
// journal.Create or Journal.Remove left behind are deleted and reported;
// a live journal's files and a dead journal's are not touched by the
// sweep.
func TestRunRemovesOrphanOwners(t *testing.T) {
	f := newFixture(t)
	f.put(t, "a", []byte("aaaa"))
	dead := testutil.DeadJournal(t, f.jdir, rec("a", 4, 4, 4, journal.Range{Off: 0, Data: []byte("b")}))
	live, err := journal.Create(f.jdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	killedCreate := uuid.NewString() // owner file made, no .db yet
	if err := os.WriteFile(filepath.Join(f.jdir, killedCreate+".owner"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	half, err := journal.Create(f.jdir, nil) // Remove killed between its deletions
	if err != nil {
		t.Fatal(err)
	}
	half.Close()
	if err := os.Remove(filepath.Join(f.jdir, half.ID()+".db")); err != nil {
		t.Fatal(err)
	}

	rep, err := recovery.Run(ctx, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{killedCreate, half.ID()}
	slices.Sort(want)
	if !slices.Equal(rep.OrphanOwners, want) {
		t.Fatalf("OrphanOwners = %v, want %v", rep.OrphanOwners, want)
	}
	if len(rep.Journals) != 2 || rep.Journals[0].ID != dead || !rep.Journals[0].Removed || !rep.Journals[1].Live {
		t.Fatalf("report = %+v", rep)
	}
	ents, err := os.ReadDir(f.jdir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if wantNames := []string{live.ID() + ".db", live.ID() + ".owner", live.ID() + ".seg0", live.ID() + ".seg1"}; !slices.Equal(names, wantNames) {
		t.Fatalf("journal dir = %v, want %v", names, wantNames)
	}
	if string(f.get(t, "a")) != "baaa" {
		t.Fatalf("a = %q", f.get(t, "a"))
	}
	if rep, err := recovery.Run(ctx, f.cfg); err != nil || rep.OrphanOwners != nil {
		t.Fatalf("second run: %+v, %v", rep, err)
	}
}
