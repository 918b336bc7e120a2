package txn_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/internal/powerloss"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/store/vfs"
	"github.com/rangetx/rangetx/txn"
)

// TestPowerLossPipelined is the power-loss test with the commit pipeline
// full: several goroutines commit on three values at once, so at a crash
// some transactions are queued (not durable), some durable but not applied
// in place, some being applied, and some applied but not watermarked.
//
// Every transaction on a value reads the value's sequence header (the first
// 8 bytes, little endian) and the whole value through the transaction —
// which must be the state its predecessor left, queued or not — and writes
// header seq+1 plus changes that are a deterministic function of (key,
// seq), so the model can recompute the value after any number S of
// transactions on it (ppModel.state).
//
// Crash instants come before every so many file operations of the value
// store (a random gap, on whatever goroutine makes the operation: the
// applier, a copy commit) and at random moments. At each, the committer is
// held between two batches (ppHold), the acknowledged commits are read,
// and three crash images are built (durable only; a random keep/drop/tear
// mix; and in turn durable with lost markers, random with lost markers,
// or everything). After the workload each image is recovered by a fresh
// engine and every value must be exactly state(key, S) for its own header
// S, with S at least the number acknowledged at the crash and at most the
// number that had called Commit: a whole prefix of the value's
// transactions, never a mix, never losing an acknowledged one. Then one
// more transaction on each value commits, and closing leaves neither a
// journal nor a temporary file. The recoveries of some images are crashed
// in turn and recovered again.
//
// A powerloss.Checker watches the protocol's ordering rules throughout,
// live and in every recovery, with its watermark rule replaced by an exact
// one for the live pipeline (ppMarks).
func TestPowerLossPipelined(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode txn.Mode // the engine's default
		copy int      // 1 in copy transactions is forced to ModeCopy (0: none)
		gap  int64    // mean file operations between snapshots
	}{
		{"journal", txn.ModeJournal, 0, 5},
		// Copy commits drain their value's pipeline while the other values'
		// commits keep queueing; ModeAuto also copies the large writes.
		// Copies make about twice the file operations.
		{"mixed", txn.ModeAuto, 5, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &ppRun{t: t, mode: tc.mode, copyEvery: tc.copy, gap: tc.gap, seed: 0x5eed + uint64(tc.copy)}
			r.run()
		})
	}
}

const (
	ppGoroutines   = 6
	ppPerGoroutine = 25
	ppBaseSize     = 64 << 10
	ppMaxSize      = 160 << 10 // above it a transaction shrinks the value
	ppOpSnapshots  = 30        // at most, before file operations
	ppTimeSnaps    = 15        // at most, at random moments
	ppNestEvery    = 12        // crash the recovery of every so many images
	ppShow         = 8         // failures reported in full
)

var ppKeys = []string{"p/a", "p/b", "q"}

// ppOp is the change transaction seq makes to a value of size size:
// an optional resize, then ranges, then the header seq+1 at 0.
type ppOp struct {
	resize int64 // -1: none
	ranges []ppRange
}

type ppRange struct {
	off  int64
	data []byte
}

func ppKeySeed(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

// ppOpFor is the deterministic change of transaction seq on key, given the
// value's size before it.
func ppOpFor(key string, seq uint64, size int64) ppOp {
	r := rand.New(rand.NewPCG(ppKeySeed(key), seq))
	op := ppOp{resize: -1}
	switch x := r.IntN(20); {
	case size > ppMaxSize || x == 0 && size > 8<<10:
		// Shrink, never below 4 KiB (the header stays).
		op.resize = size - 1 - r.Int64N(min(size-4<<10, 24<<10))
	case x < 4:
		op.resize = size + 1 + r.Int64N(8<<10) // grow a bit
	}
	end := size
	if op.resize >= 0 {
		end = op.resize
	}
	n := 1 + r.IntN(2)
	for range n {
		l := 1 + r.IntN(4096)
		if r.IntN(8) == 0 {
			l = 4096 + r.IntN(16<<10) // large: ModeAuto copies these
		}
		off := 8 + r.Int64N(end-8+1024) // may reach past the end: growth
		d := make([]byte, l)
		for i := range d {
			d[i] = byte(r.Uint32())
		}
		op.ranges = append(op.ranges, ppRange{off, d})
	}
	return op
}

func ppHeader(seq uint64) []byte { return binary.LittleEndian.AppendUint64(nil, seq) }

// apply returns b changed by transaction seq (b is not modified).
func (o ppOp) apply(b []byte, seq uint64) []byte {
	b = bytes.Clone(b)
	if o.resize >= 0 {
		b = ppResize(b, o.resize)
	}
	for _, rg := range o.ranges {
		if end := rg.off + int64(len(rg.data)); end > int64(len(b)) {
			b = ppResize(b, end)
		}
		copy(b[rg.off:], rg.data)
	}
	copy(b, ppHeader(seq+1))
	return b
}

// stage makes the same change in tx.
func (o ppOp) stage(tx *txn.Tx, seq uint64) error {
	if o.resize >= 0 {
		if err := tx.Resize(o.resize); err != nil {
			return err
		}
	}
	for _, rg := range o.ranges {
		if _, err := tx.WriteAt(rg.data, rg.off); err != nil {
			return err
		}
	}
	_, err := tx.WriteAt(ppHeader(seq+1), 0)
	return err
}

func ppResize(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

// ppInitial is key's value as Put before the workload: header 0.
func ppInitial(key string) []byte {
	r := rand.New(rand.NewPCG(ppKeySeed(key), ^uint64(0)))
	b := make([]byte, ppBaseSize)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b, ppHeader(0))
	return b
}

// ppModel holds the states of each value, computed on demand:
// states[key][s] is the value after s transactions on it. Safe for
// concurrent use; the states are never modified.
type ppModel struct {
	mu     sync.Mutex
	states map[string][][]byte
}

// ppModelLimit bounds the states computed, against a garbage header.
const ppModelLimit = 4 * ppGoroutines * ppPerGoroutine

func (m *ppModel) state(key string, s uint64) []byte {
	if s > ppModelLimit {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states = map[string][][]byte{}
	}
	h := m.states[key]
	if h == nil {
		h = [][]byte{ppInitial(key)}
	}
	for uint64(len(h)) <= s {
		seq := uint64(len(h) - 1)
		cur := h[seq]
		h = append(h, ppOpFor(key, seq, int64(len(cur))).apply(cur, seq))
	}
	m.states[key] = h
	return h[s]
}

// ppImage is one crash image, to be recovered after the workload.
type ppImage struct {
	n       int
	snap    int
	sim     *powerloss.Sim
	im      powerloss.Image
	where   string            // the moment of the crash
	acked   map[string]uint64 // acknowledged transactions per key at the crash
	started map[string]uint64 // transactions that had called Commit per key, read after the image
	pending map[string]int    // the live Checker's durable, unapplied records
	stats   txn.Stats
}

type ppRun struct {
	t         *testing.T
	mode      txn.Mode
	copyEvery int
	gap       int64
	seed      uint64
	base      string // real directory holding the images
	model     ppModel
	sim       *powerloss.Sim
	e         *txn.Engine
	chk       *powerloss.Checker
	marks     ppMarks
	route     atomic.Pointer[func(name, key string)]

	mu      sync.Mutex
	acked   map[string]uint64
	started map[string]uint64

	hold ppHold

	// The hook.
	ops         atomic.Int64
	next        atomic.Int64
	busy        atomic.Bool
	hmu         sync.Mutex // guards stopped, rng, images and the counts below
	stopped     bool       // the workload is over: no more snapshots
	rng         *rand.Rand
	images      []*ppImage
	snaps       int   // taken
	opSnaps     int   // of which before a file operation
	tmSnaps     int   // of which at a random moment
	inflight    int   // snapshots with two or more commits in the pipeline
	maxInflight int64 // most commits in the pipeline at a snapshot
	queued      int   // snapshots with commits queued, not durable
	unapplied   int   // snapshots with durable commits waiting for the applier
	unacked     int   // snapshots where some key had commits not yet acknowledged
	snapTime    time.Duration

	recoveries int
	inner      int // recoveries of crashed recoveries
	bad        int
}

func (r *ppRun) run() {
	t := r.t
	ctx := context.Background()
	r.base = t.TempDir()
	r.acked, r.started = map[string]uint64{}, map[string]uint64{}
	r.rng = rand.New(rand.NewPCG(r.seed, 1))
	sim, err := powerloss.New(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	r.sim = sim
	r.chk = powerloss.NewChecker(sim, nil)
	r.marks = ppMarks{r: r, seqs: map[string][]uint64{}, renames: map[string]uint64{},
		dropped: map[string]int{}, dur: map[string][]byte{}}
	live := func(name, key string) {
		r.chk.Journal(name, key)
		r.marks.journal(name, key)
	}
	r.route.Store(&live)
	r.hold.arrived = make(chan struct{}, 1)
	r.hold.got = make(chan func(), 1)
	defer crashpoint.Install(func(name, key string) error {
		if name == crashpoint.JournalAppend || name == crashpoint.JournalMark {
			r.hold.gate() // the start of a journal Write: nothing of it written yet
		}
		(*r.route.Load())(name, key)
		return nil
	})()

	// Small segments, so the journal starts over in one segment file and
	// then the other several times during the workload (about 700 KiB of
	// after-images; batches above 16 KiB go to segments).
	e, err := txn.Open(ctx, sim.Root, &txn.Options{FS: sim.FS, Mode: r.mode, Logger: quietLogger(),
		Journal: &journal.Options{SegmentBytes: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	closed := false
	defer func() {
		if !closed { // a t.Fatal: no more snapshots, let the engine go
			sim.FS.SetHook(nil)
			r.hmu.Lock()
			r.stopped = true
			r.hmu.Unlock()
			e.Close()
		}
	}()
	for _, key := range ppKeys {
		if err := e.Put(ctx, key, bytes.NewReader(ppInitial(key))); err != nil {
			t.Fatal(err)
		}
	}

	r.next.Store(1 + r.rng.Int64N(2*r.gap))
	sim.FS.SetHook(r.hook)
	// Crash instants of a second kind: at random moments, whatever the
	// goroutines are doing (in journal mode only the applier makes file
	// operations, and it may lag far behind the commits).
	stopTimer := make(chan struct{})
	timerDone := make(chan struct{})
	go func() {
		defer close(timerDone)
		rng := rand.New(rand.NewPCG(r.seed, 1<<32))
		for {
			select {
			case <-stopTimer:
				return
			case <-time.After(time.Duration(rng.Int64N(int64(3 * time.Millisecond)))):
			}
			r.trySnapshot("a random moment", func() bool { return r.tmSnaps < ppTimeSnaps }, func() { r.tmSnaps++ })
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range ppGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.seed, uint64(g)+2))
			for i := range ppPerGoroutine {
				key := ppKeys[rng.IntN(len(ppKeys))]
				if err := r.transact(ctx, rng, key); err != nil {
					t.Errorf("goroutine %d, transaction %d on %q: %v", g, i, key, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	work := time.Since(start)
	close(stopTimer)
	<-timerDone
	// Crashes go on while the applier catches up: Flush waits for it.
	if err := e.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	sim.FS.SetHook(nil)
	// A hook call may still be under way on the applier's goroutines.
	r.hmu.Lock()
	r.stopped = true
	r.hmu.Unlock()
	r.hold.wg.Wait() // a PauseCommits outstanding returns now: the pipeline is quiet
	drain := time.Since(start) - work
	ops := sim.FS.Ops()

	// Everything committed: the values are the model's, through the engine
	// and, after Flush, in the files themselves.
	st := e.Stats()
	files := sim.Values()
	total := uint64(0)
	for _, key := range ppKeys {
		n := r.acked[key]
		total += n
		if r.started[key] != n {
			t.Errorf("%q: %d transactions reached Commit, %d acknowledged", key, r.started[key], n)
		}
		want := r.model.state(key, n)
		var got []byte
		if err := e.View(ctx, key, func(rd io.ReaderAt, size int64) error {
			got = make([]byte, size)
			_, err := rd.ReadAt(got, 0)
			return err
		}); err != nil {
			t.Errorf("view %q: %v", key, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%q after the workload: %s", key, r.describe(key, got, 0, n))
		}
		if !bytes.Equal(files[key], want) {
			t.Errorf("%q's file after Flush: %s", key, r.describe(key, files[key], 0, n))
		}
	}
	if total != ppGoroutines*ppPerGoroutine {
		t.Errorf("%d transactions acknowledged, want %d", total, ppGoroutines*ppPerGoroutine)
	}
	t.Logf("workload: %d transactions (%v each key) in %v, applied in place %v later; %d file operations; stats %+v",
		total, r.acked, work.Round(time.Millisecond), drain.Round(time.Millisecond), ops, st)
	if st.Commits == 0 || st.Groups >= st.Commits || st.MaxGroup < 2 {
		t.Errorf("no group commit: %d journal commits in %d groups, largest %d", st.Commits, st.Groups, st.MaxGroup)
	}
	if err := e.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	closed = true
	// The Checker's watermark rule only catches a value left unsynced
	// once all its records are retired; ppMarks checks every watermark
	// exactly: what it covers must be durable in the value.
	for _, v := range r.chk.Violations() {
		t.Errorf("protocol (live workload): %s", v)
	}
	r.marks.mu.Lock()
	for i, v := range r.marks.violations {
		if i == ppShow {
			t.Errorf("protocol (live workload): and %d more", len(r.marks.violations)-i)
			break
		}
		t.Errorf("protocol (live workload): %s", v)
	}
	t.Logf("watermarks: %d records dropped, each checked against the value's durable bytes; %d advances while newer records were being applied",
		r.marks.checked, r.marks.unsynced)
	r.marks.mu.Unlock()

	// Recover every image.
	vstart := time.Now()
	for _, img := range r.images {
		r.recoveries++
		if err := r.verify(img, img.n%ppNestEvery == 0); err != nil {
			if r.bad++; r.bad > ppShow {
				continue
			}
			t.Errorf("image %d (snapshot %d, %s, at %s; acked %v, started %v, pipeline %+v): %v",
				img.n, img.snap, img.im, img.where, img.acked, img.started, img.stats, err)
		}
	}
	if r.bad > ppShow {
		t.Errorf("and %d more images failed", r.bad-ppShow)
	}
	t.Logf("%d snapshots (%d before file operations, %d at random moments; committer held %d times at a batch's start, %d times idle; %v paused): %d with commits queued, %d with durable commits waiting for the applier, %d with ≥2 commits in the pipeline (at most %d), %d with commits not yet acknowledged",
		r.snaps, r.opSnaps, r.tmSnaps, r.hold.gated, r.hold.paused, r.snapTime.Round(time.Millisecond), r.queued, r.unapplied, r.inflight, r.maxInflight, r.unacked)
	t.Logf("%d images, %d recoveries plus %d of crashed recoveries in %v; %d violations",
		len(r.images), r.recoveries, r.inner, time.Since(vstart).Round(time.Millisecond), r.bad)
	if r.snaps < 20 {
		t.Errorf("only %d snapshots taken", r.snaps)
	}
	if r.inflight == 0 {
		t.Errorf("no snapshot caught two or more commits in the pipeline")
	}
}

// transact runs one transaction on key and records it as acknowledged.
func (r *ppRun) transact(ctx context.Context, rng *rand.Rand, key string) error {
	tx, err := r.e.Begin(ctx, key)
	if err != nil {
		return err
	}
	size, err := tx.Size()
	if err != nil {
		tx.Rollback()
		return err
	}
	cur := make([]byte, size)
	if _, err := tx.ReadAt(cur, 0); err != nil {
		tx.Rollback()
		return fmt.Errorf("read: %w", err)
	}
	if size < 8 {
		tx.Rollback()
		return fmt.Errorf("value of %d bytes", size)
	}
	seq := binary.LittleEndian.Uint64(cur)
	r.mu.Lock()
	acked, started := r.acked[key], r.started[key]
	r.mu.Unlock()
	// The turn passed on in its predecessor's Commit: the transaction
	// sees the predecessor, acknowledged or still in the pipeline.
	if seq != started {
		tx.Rollback()
		return fmt.Errorf("transaction sees header %d; %d transactions called Commit before it, %d acknowledged", seq, started, acked)
	}
	if want := r.model.state(key, seq); !bytes.Equal(cur, want) {
		tx.Rollback()
		return fmt.Errorf("transaction reads %s", r.describe(key, cur, seq, seq))
	}
	op := ppOpFor(key, seq, size)
	if err := op.stage(tx, seq); err != nil {
		tx.Rollback()
		return err
	}
	if r.copyEvery > 0 && rng.IntN(r.copyEvery) == 0 {
		if err := tx.SetMode(txn.ModeCopy); err != nil {
			tx.Rollback()
			return err
		}
	}
	r.mu.Lock()
	r.started[key] = max(r.started[key], seq+1)
	r.mu.Unlock()
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit of seq %d: %w", seq+1, err)
	}
	r.mu.Lock()
	r.acked[key] = max(r.acked[key], seq+1)
	r.mu.Unlock()
	return nil
}

// hook sees every mutating file operation of the live store (on whatever
// goroutine makes it: a transaction's, the applier's) before it is applied.
func (r *ppRun) hook(op vfs.Op) {
	r.chk.Op(op)
	r.marks.op(op)
	n := r.ops.Add(1)
	if n < r.next.Load() {
		return
	}
	r.trySnapshot("before "+op.String(), func() bool { return r.opSnaps < ppOpSnapshots }, func() {
		r.opSnaps++
		r.next.Store(n + 1 + r.rng.Int64N(2*r.gap))
	})
}

// trySnapshot takes a snapshot unless one is under way on another
// goroutine (whose operations meanwhile only go to the Checker), the
// workload is over or more is false; count records it (both run under
// r.hmu). It reports whether it took one.
func (r *ppRun) trySnapshot(where string, more func() bool, count func()) bool {
	if !r.busy.CompareAndSwap(false, true) {
		return false
	}
	defer r.busy.Store(false)
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if r.stopped || !more() {
		return false
	}
	count()
	r.snapshot(where)
	return true
}

// snapshot builds the crash images of this instant. The committer is held
// (ppHold) between batches, so the journal's files stay as they are while
// they are copied, every acknowledged commit is in them, and the Checker's
// count of durable records matches them. The caller holds r.hmu.
func (r *ppRun) snapshot(where string) {
	start := time.Now()
	defer r.hold.hold(r.e)()
	r.snaps++
	r.mu.Lock()
	acked := cloneMap(r.acked)
	r.mu.Unlock()
	pending := r.chk.Pending()
	st := r.e.Stats()
	third := []powerloss.Image{
		{Mode: vfs.DropUnsynced, LoseMarkers: true},
		{Mode: vfs.RandomUnsynced, Seed: r.rng.Uint64(), LoseMarkers: true},
		{Mode: vfs.KeepUnsynced},
	}[r.snaps%3]
	var imgs []*ppImage
	for _, im := range []powerloss.Image{
		{Mode: vfs.DropUnsynced},
		{Mode: vfs.RandomUnsynced, Seed: r.rng.Uint64()},
		third,
	} {
		n := len(r.images) + len(imgs)
		s, err := r.sim.Crash(filepath.Join(r.base, fmt.Sprintf("img-%d", n)), im)
		if err != nil {
			r.t.Errorf("snapshot %d: build image %s: %v", r.snaps, im, err)
			continue
		}
		imgs = append(imgs, &ppImage{n: n, snap: r.snaps, sim: s, im: im, where: where,
			acked: acked, pending: pending, stats: st})
	}
	// Read after the images: any transaction whose change they hold had
	// called Commit by now.
	r.mu.Lock()
	started := cloneMap(r.started)
	r.mu.Unlock()
	for _, img := range imgs {
		img.started = started
	}
	r.images = append(r.images, imgs...)
	if st.Queued+st.Unapplied >= 2 {
		r.inflight++
	}
	r.maxInflight = max(r.maxInflight, st.Queued+st.Unapplied)
	if st.Queued > 0 {
		r.queued++
	}
	if st.Unapplied > 0 {
		r.unapplied++
	}
	for _, key := range ppKeys {
		if started[key] > acked[key] {
			r.unacked++
			break
		}
	}
	r.snapTime += time.Since(start)
}

func cloneMap(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// verify recovers one image with a fresh engine and checks the result
// (recoverCheck) while a Checker watches the recovery and everything after
// it. With nested it also crashes that recovery before each of its file
// operations (the first few, then ever more sparsely), and recovers and
// checks each of those images too: a dead journal holding many records per
// value, across segments, replayed and interrupted.
func (r *ppRun) verify(img *ppImage, nested bool) error {
	defer os.RemoveAll(img.sim.Root)
	chk := powerloss.NewChecker(img.sim, img.pending)
	route := chk.Journal
	r.route.Store(&route)
	ignore := func(string, string) {}
	defer r.route.Store(&ignore)
	var errs []string
	var inOpen atomic.Bool // the hook below crashes only the recovery in Open
	ops, n, at, nestedBad := 0, 0, 1, 0
	img.sim.FS.SetHook(func(op vfs.Op) {
		chk.Op(op)
		if !nested || !inOpen.Load() {
			return
		}
		if ops++; ops != at {
			return
		}
		at += max(1, at/2) // 1, 2, 3, 4, 6, 9, 13, 19, 28, ...
		n++
		r.inner++
		sub := filepath.Join(r.base, fmt.Sprintf("img-%d-r%d", img.n, n))
		defer os.RemoveAll(sub)
		simg, err := img.sim.Crash(sub, powerloss.Image{Mode: vfs.RandomUnsynced, Seed: uint64(n)})
		if err == nil {
			r.route.Store(&ignore)
			err = r.recoverCheck(simg, img, nil)
			r.route.Store(&route)
		}
		if err != nil {
			if nestedBad++; nestedBad <= 2 {
				errs = append(errs, fmt.Sprintf("recovery crashed before its operation %d, %v (random%d): %v", ops, op, n, err))
			}
		}
	})
	defer img.sim.FS.SetHook(nil)
	if nestedBad > 2 {
		errs = append(errs, fmt.Sprintf("and %d more crashed recoveries failed", nestedBad-2))
	}
	if err := r.recoverCheck(img.sim, img, &inOpen); err != nil {
		errs = append(errs, err.Error())
	}
	for _, v := range chk.Violations() {
		errs = append(errs, "protocol: "+v)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// recoverCheck opens an engine on sim (a crash image of img, or of its
// recovery), which runs recovery, and checks: every value is a whole
// prefix of its transactions, at least the acknowledged ones; no temporary
// file is left; a further transaction on each value commits; closing
// leaves no journal. inOpen, if not nil, is set while Open runs.
func (r *ppRun) recoverCheck(sim *powerloss.Sim, img *ppImage, inOpen *atomic.Bool) error {
	ctx := context.Background()
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	result := func() error {
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	}

	if inOpen != nil {
		inOpen.Store(true)
	}
	e, err := txn.Open(ctx, sim.Root, &txn.Options{FS: sim.FS, Logger: quietLogger()})
	if inOpen != nil {
		inOpen.Store(false)
	}
	if err != nil {
		fail("recovery: %v", err)
		return result()
	}
	vals := sim.Values()
	seqs := map[string]uint64{}
	for key := range vals {
		if !slices.Contains(ppKeys, key) {
			fail("unexpected value %q after recovery", key)
		}
	}
	for _, key := range ppKeys {
		got, ok := vals[key]
		if !ok {
			fail("%q missing after recovery", key)
			continue
		}
		if len(got) < 8 {
			fail("%q: %d bytes after recovery", key, len(got))
			continue
		}
		s := binary.LittleEndian.Uint64(got)
		switch {
		case s < img.acked[key]:
			fail("%q: header %d, but %d were acknowledged: %s", key, s, img.acked[key],
				r.describe(key, got, img.acked[key], img.started[key]))
		case s > img.started[key]:
			fail("%q: header %d, but only %d transactions had called Commit: %s", key, s, img.started[key],
				r.describe(key, got, img.acked[key], img.started[key]))
		case !bytes.Equal(got, r.model.state(key, s)):
			fail("%q: header %d but not state %d (acked %d, started %d): %s", key, s, s, img.acked[key], img.started[key],
				r.describe(key, got, img.acked[key], img.started[key]))
		default:
			seqs[key] = s
		}
	}
	if tmps := sim.Temps(); len(tmps) > 0 {
		fail("temporary files left after recovery: %v", tmps)
	}
	// One more transaction on each value that recovered well.
	for _, key := range ppKeys {
		s, ok := seqs[key]
		if !ok {
			continue
		}
		err := txn.Do(ctx, e, key, func(tx *txn.Tx) error {
			size, err := tx.Size()
			if err != nil {
				return err
			}
			cur := make([]byte, size)
			if _, err := tx.ReadAt(cur, 0); err != nil {
				return err
			}
			if !bytes.Equal(cur, r.model.state(key, s)) {
				return fmt.Errorf("transaction after recovery reads %s", r.describe(key, cur, s, s))
			}
			return ppOpFor(key, s, size).stage(tx, s)
		})
		if err != nil {
			fail("%q: transaction after recovery: %v", key, err)
			delete(seqs, key)
		}
	}
	if err := e.Close(); err != nil {
		fail("close: %v", err)
	}
	vals = sim.Values()
	for key, s := range seqs {
		if !bytes.Equal(vals[key], r.model.state(key, s+1)) {
			fail("%q after the transaction following recovery and Close: %s", key, r.describe(key, vals[key], s+1, s+1))
		}
	}
	if tmps := sim.Temps(); len(tmps) > 0 {
		fail("temporary files left after close: %v", tmps)
	}
	ents, err := os.ReadDir(filepath.Join(sim.Root, txn.JournalDir))
	if err != nil {
		fail("read journal directory: %v", err)
	}
	for _, d := range ents {
		if strings.HasSuffix(d.Name(), ".db") {
			fail("journal %s left after recovery and close", d.Name())
		}
	}
	return result()
}

// describe says how got differs from key's states lo..hi: which whole
// state it is if any, else where it first differs from state lo (or the
// state its header names) and which states agree with it there.
func (r *ppRun) describe(key string, got []byte, lo, hi uint64) string {
	if got == nil {
		return "value missing"
	}
	var hdr uint64
	if len(got) >= 8 {
		hdr = binary.LittleEndian.Uint64(got)
	}
	top := min(max(hi, hdr)+1, ppModelLimit)
	for s := uint64(0); s <= top; s++ {
		if bytes.Equal(got, r.model.state(key, s)) {
			return fmt.Sprintf("%d bytes, header %d, equal to state %d (want %d..%d)", len(got), hdr, s, lo, hi)
		}
	}
	ref := lo
	if hdr >= lo && hdr <= top {
		ref = hdr
	}
	want := r.model.state(key, ref)
	at := 0
	for at < len(got) && at < len(want) && got[at] == want[at] {
		at++
	}
	end := min(at+64, len(got))
	var agree []uint64
	for s := uint64(0); s <= top; s++ {
		if w := r.model.state(key, s); end <= len(w) && at < end && bytes.Equal(got[at:end], w[at:end]) {
			agree = append(agree, s)
		}
	}
	return fmt.Sprintf("%d bytes, header %d, no state 0..%d (want %d..%d); differs from state %d (%d bytes) first at offset %d; the 64 bytes there match states %v",
		len(got), hdr, top, lo, hi, ref, len(want), at, agree)
}

// ppMarks checks every watermark the live engine records exactly: when a
// batch drops a value's journal records (their watermark passed them), the
// value's durable bytes as of the batch's start must already hold them —
// be the whole state after at least those transactions.
//
// The journal reports only keys, so the transaction (seq) of each journal
// record is worked out from the order of events: records of one value are
// appended and dropped in the order of its transactions, and a copy commit
// (a rename over the value) happens only when none of the value's records
// is pending, so the i-th journal record of a value appended after c copy
// commits on it is its transaction i+c. It runs on the committer's
// goroutine (journal events) and the store's callers (op).
type ppMarks struct {
	r *ppRun

	mu         sync.Mutex
	seqs       map[string][]uint64 // key → seq of each journal record, in LSN order
	renames    map[string]uint64   // key → copy commits so far
	dropped    map[string]int      // key → records dropped so far
	dur        map[string][]byte   // key → durable bytes at its latest JournalMark
	checked    int
	unsynced   int
	violations []string
}

func (m *ppMarks) valuePath(key string) string {
	return filepath.Join(m.r.sim.Root, filepath.FromSlash(key))
}

func (m *ppMarks) op(op vfs.Op) {
	if op.Kind != vfs.OpRename {
		return
	}
	for _, key := range ppKeys {
		if filepath.Clean(op.NewPath) == m.valuePath(key) {
			m.mu.Lock()
			m.renames[key]++
			m.mu.Unlock()
		}
	}
}

func (m *ppMarks) journal(name, key string) {
	if !slices.Contains(ppKeys, key) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch name {
	case crashpoint.JournalAppended:
		m.seqs[key] = append(m.seqs[key], uint64(len(m.seqs[key]))+m.renames[key])
	case crashpoint.JournalMark:
		// Before the batch's bbolt transaction. The durable bytes come
		// from a crash image, taken atomically: the applier may be
		// writing the value right now.
		if m.r.sim.FS.Unsynced(m.valuePath(key)) {
			m.unsynced++
		}
		b, err := m.r.sim.FS.Crash(vfs.DropUnsynced, 0).ReadFile(m.valuePath(key))
		if err != nil {
			m.violations = append(m.violations, fmt.Sprintf("watermark of %q: read its durable value: %v", key, err))
		}
		m.dur[key] = b
	case crashpoint.JournalDropped:
		// After the batch's bbolt transaction, once per record dropped.
		i := m.dropped[key]
		m.dropped[key]++
		m.checked++
		if i >= len(m.seqs[key]) {
			m.violations = append(m.violations, fmt.Sprintf("watermark of %q dropped record %d, only %d appended", key, i+1, len(m.seqs[key])))
			return
		}
		need := m.seqs[key][i] + 1
		b := m.dur[key]
		if len(b) < 8 {
			m.violations = append(m.violations, fmt.Sprintf("watermark of %q: durable value of %d bytes", key, len(b)))
			return
		}
		if s := binary.LittleEndian.Uint64(b); s < need || !bytes.Equal(b, m.r.model.state(key, s)) {
			m.violations = append(m.violations, fmt.Sprintf("watermark of %q passed its transaction %d while the value's durable bytes were: %s",
				key, need, m.r.describe(key, b, need, need)))
		}
	}
}

// ppHold holds the live engine's committer between two batches for a
// snapshot.
//
// txn.PauseCommits alone does not do under load: it waits for a moment
// when the committer is not writing a batch, and a committer that always
// finds more queued goes from one batch to the next without such a moment
// (it takes the next batch under the same lock hold in which it ended the
// last), so PauseCommits can wait until the workload is over. So the
// snapshot also closes a gate at the start of the journal's Write (the
// JournalAppend and JournalMark checks come before anything of the batch
// is written): whichever comes first — PauseCommits returning, the
// committer idle; or the committer arriving at the gate with a new batch
// taken but nothing of it written — holds the committer between batches.
// They exclude each other: at the gate the committer is committing, and
// paused it does not start a batch. A PauseCommits outstanding when the
// gate won resumes the committer as soon as it returns.
type ppHold struct {
	wg      sync.WaitGroup // outstanding PauseCommits calls
	arrived chan struct{}  // the committer waits at the gate (buffered 1)
	got     chan func()    // PauseCommits returned to the waiting snapshot (buffered 1)

	mu          sync.Mutex
	open        chan struct{} // non-nil: the gate is closed until this is
	want        bool          // a snapshot waits for PauseCommits
	outstanding bool          // a PauseCommits call is under way
	gated       int           // snapshots held at the gate
	paused      int           // snapshots held by PauseCommits
}

// gate runs on the committer at the start of each journal Write.
func (h *ppHold) gate() {
	h.mu.Lock()
	open := h.open
	h.mu.Unlock()
	if open == nil {
		return
	}
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	<-open
}

// hold holds e's committer between batches and returns the function that
// lets it go.
func (h *ppHold) hold(e *txn.Engine) (release func()) {
	select {
	case <-h.arrived: // stale
	default:
	}
	h.mu.Lock()
	open := make(chan struct{})
	h.open = open
	h.want = true
	if !h.outstanding {
		h.outstanding = true
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			resume := txn.PauseCommits(e)
			h.mu.Lock()
			defer h.mu.Unlock()
			h.outstanding = false
			if h.want {
				h.want = false
				h.got <- resume
			} else {
				resume()
			}
		}()
	}
	h.mu.Unlock()
	var resume func()
	select {
	case resume = <-h.got:
		h.mu.Lock()
		h.paused++
		h.mu.Unlock()
	case <-h.arrived:
		h.mu.Lock()
		h.want = false // PauseCommits cannot have returned: the committer is committing
		h.gated++
		h.mu.Unlock()
	}
	return func() {
		h.mu.Lock()
		h.open = nil
		h.mu.Unlock()
		close(open)
		if resume != nil {
			resume()
		}
	}
}
