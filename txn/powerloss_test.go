package txn_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/internal/powerloss"
	"github.com/rangetx/rangetx/store/vfs"
	"github.com/rangetx/rangetx/txn"
)

// A plStep is one step of the scripted power-loss workload: a Put of a
// whole value, or a transaction that optionally resizes and then writes.
type plStep struct {
	key    string
	put    []byte // a Put when non-nil
	resize int64  // -1: no resize
	writes []plWrite
}

type plWrite struct {
	off int64
	n   int
}

// plScript exercises every shape a commit takes: ranges far apart and
// across sector boundaries, growth, shrinking, a new value, and a second
// value interleaved with the first.
func plScript(rng *rand.Rand) []plStep {
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	return []plStep{
		{key: "a/v", put: fill(64 << 10), resize: -1},
		{key: "b", put: fill(16 << 10), resize: -1},
		{key: "a/v", resize: -1, writes: []plWrite{{100, 4096}, {50000, 5000}}},
		{key: "a/v", resize: 80 << 10, writes: []plWrite{{78000, 3000}}},
		{key: "b", resize: 8 << 10, writes: []plWrite{{0, 700}, {7000, 600}}},
		{key: "c/new", resize: 10000, writes: []plWrite{{0, 10000}}},
		{key: "a/v", resize: 32 << 10, writes: []plWrite{{0, 512}, {28000, 4000}}},
		{key: "b", resize: 20000, writes: []plWrite{{0, 8192}, {19000, 1000}}},
	}
}

// plModel applies steps to plain byte slices: states[key][i] is key's value
// after its i-th step (nil: absent).
type plModel struct {
	states map[string][][]byte
	acked  map[string]int
}

func newPLModel(steps []plStep, data func(key string, i, w, n int) []byte) *plModel {
	m := &plModel{states: map[string][][]byte{}, acked: map[string]int{}}
	for i, s := range steps {
		hist := m.states[s.key]
		if hist == nil {
			hist = [][]byte{nil}
		}
		cur := bytes.Clone(hist[len(hist)-1])
		if s.put != nil {
			cur = bytes.Clone(s.put)
		}
		if s.resize >= 0 {
			cur = resized(cur, s.resize)
		}
		for w, wr := range s.writes {
			d := data(s.key, i, w, wr.n)
			if end := wr.off + int64(len(d)); end > int64(len(cur)) {
				cur = resized(cur, end)
			}
			copy(cur[wr.off:], d)
		}
		m.states[s.key] = append(hist, cur)
	}
	return m
}

func resized(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

// plData is the deterministic content of write w of step i.
func plData(key string, i, w, n int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), uint64(w)+uint64(len(key))<<32))
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// plRun is one power-loss enumeration: the workload runs once on a Sim; at
// every crash point (before each mutating file operation, after each durable
// journal step, and at the end) the test builds several crash images,
// recovers each with a fresh engine and checks it, while a Checker watches
// the protocol's ordering rules throughout.
type plRun struct {
	t       *testing.T
	mode    txn.Mode
	base    string // real directory holding the images
	model   *plModel
	sim     *powerloss.Sim
	chk     *powerloss.Checker
	route   *func(name, key string) // where journal steps go now
	images  []powerloss.Image
	nested  int // enumerate crashes during recovery at every nested-th point
	inKey   string
	durable bool // the in-flight transaction's record is durable
	points  int
	trials  int
	inner   int // recoveries of crashed recoveries
	bad     int
	verify  bool // false while a nested verification runs
}

func TestPowerLossEnumerated(t *testing.T) {
	for _, mode := range []txn.Mode{txn.ModeJournal, txn.ModeCopy} {
		t.Run(mode.String(), func(t *testing.T) {
			r := newPLRun(t, mode)
			r.run()
			t.Logf("%s: %d crash points × %d images = %d recoveries, plus %d crashed recoveries recovered; %d violations",
				mode, r.points, len(r.images), r.trials, r.inner, r.bad)
			if r.points < 40 {
				t.Errorf("only %d crash points enumerated", r.points)
			}
		})
	}
}

func newPLRun(t *testing.T, mode txn.Mode) *plRun {
	images := []powerloss.Image{
		{Mode: vfs.DropUnsynced},
		{Mode: vfs.KeepUnsynced},
		{Mode: vfs.DropUnsynced, LoseMarkers: true},
		{Mode: vfs.RandomUnsynced, Seed: 1},
		{Mode: vfs.RandomUnsynced, Seed: 2, LoseMarkers: true},
		{Mode: vfs.RandomUnsynced, Seed: 3},
	}
	return &plRun{t: t, mode: mode, base: t.TempDir(), images: images, nested: 5, verify: true}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (r *plRun) run() {
	t := r.t
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	sim, err := powerloss.New(root)
	if err != nil {
		t.Fatal(err)
	}
	r.sim = sim
	r.chk = powerloss.NewChecker(sim, nil)
	steps := plScript(rand.New(rand.NewPCG(7, 7)))
	r.model = newPLModel(steps, plData)

	route := func(name, key string) { r.chk.Journal(name, key) }
	r.route = &route
	defer crashpoint.Install(func(name, key string) error {
		(*r.route)(name, key)
		if name == crashpoint.JournalAppended && r.verify {
			if key == r.inKey {
				r.durable = true
			}
			r.point("after " + name + " " + key)
		}
		return nil
	})()

	e, err := txn.Open(ctx, root, &txn.Options{FS: sim.FS, Mode: r.mode, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sim.FS.SetHook(func(op vfs.Op) {
		r.chk.Op(op)
		if r.verify && op.Kind.Mutates() {
			r.point("before " + op.String())
		}
	})
	for i, s := range steps {
		r.inKey, r.durable = s.key, false
		if s.put != nil {
			err = e.Put(ctx, s.key, bytes.NewReader(s.put))
		} else {
			err = txn.Do(ctx, e, s.key, func(tx *txn.Tx) error {
				if s.resize >= 0 {
					if err := tx.Resize(s.resize); err != nil {
						return err
					}
				}
				for w, wr := range s.writes {
					if _, err := tx.WriteAt(plData(s.key, i, w, wr.n), wr.off); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, s.key, err)
		}
		r.model.acked[s.key]++
		r.inKey = ""
		// One step at a time, so crash points enumerate in one order:
		// the in-place apply and watermark of this step finish now.
		if err := e.Flush(ctx); err != nil {
			t.Fatalf("step %d (%s): flush: %v", i, s.key, err)
		}
	}
	r.point("end")
	sim.FS.SetHook(nil)
	for _, v := range r.chk.Violations() {
		t.Errorf("protocol: %s", v)
	}
}

// point is one crash point: every image of a crash now must recover to an
// acceptable state.
func (r *plRun) point(where string) {
	r.points++
	for _, im := range r.images {
		r.trials++
		if err := r.check(im, r.points%r.nested == 0 && im.Mode == vfs.DropUnsynced); err != nil {
			r.bad++
			r.t.Errorf("crash point %d (%s), image %s: %v", r.points, where, im, err)
		}
	}
}

// check builds one crash image and verifies its recovery. With nested, it
// also crashes that recovery before each of its file operations and
// verifies each of those images with a second recovery.
func (r *plRun) check(im powerloss.Image, nested bool) error {
	dst := filepath.Join(r.base, fmt.Sprintf("img-%d", r.trials))
	defer os.RemoveAll(dst)
	img, err := r.sim.Crash(dst, im)
	if err != nil {
		return fmt.Errorf("build image: %w", err)
	}
	r.verify = false
	defer func() { r.verify = true }()
	// The recovery is watched by its own Checker, which inherits the
	// workload's durable, unapplied records.
	chk := powerloss.NewChecker(img, r.chk.Pending())
	saved := *r.route
	*r.route = chk.Journal
	defer func() { *r.route = saved }()
	var errs []error
	n := 0
	img.FS.SetHook(func(op vfs.Op) {
		chk.Op(op)
		if !nested || !op.Kind.Mutates() {
			return
		}
		// Crash the recovery itself before this operation.
		n++
		r.inner++
		sub := filepath.Join(r.base, fmt.Sprintf("img-%d-r%d", r.trials, n))
		defer os.RemoveAll(sub)
		simg, err := img.Crash(sub, powerloss.Image{Mode: vfs.RandomUnsynced, Seed: uint64(n)})
		if err == nil {
			inner := *r.route
			*r.route = func(string, string) {}
			err = r.recoverAndVerify(simg)
			*r.route = inner
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("recovery crashed before %v: %w", op, err))
		}
	})
	err = r.recoverAndVerify(img)
	img.FS.SetHook(nil)
	for _, v := range chk.Violations() {
		errs = append(errs, fmt.Errorf("recovery protocol: %s", v))
	}
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

// recoverAndVerify opens an engine on a crash image (which runs recovery),
// checks every value is an acceptable state, that no temporary file is
// left, that a new transaction commits, and that closing leaves no journal.
func (r *plRun) recoverAndVerify(img *powerloss.Sim) error {
	ctx := context.Background()
	e, err := txn.Open(ctx, img.Root, &txn.Options{FS: img.FS, Logger: quietLogger()})
	img.FS.SetHook(nil) // crashes enumerated inside recovery end with it
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	got := img.Values()
	for key, hist := range r.model.states {
		ok := r.acceptable(key, hist)
		if !ok(got[key]) {
			e.Close()
			return fmt.Errorf("value %q: %d bytes, not an acceptable state (acked %d of %d)",
				key, len(got[key]), r.model.acked[key], len(hist)-1)
		}
	}
	if tmps := img.Temps(); len(tmps) > 0 {
		e.Close()
		return fmt.Errorf("temporary files left after recovery: %v", tmps)
	}
	if err := txn.Do(ctx, e, "a/v", func(tx *txn.Tx) error {
		_, err := tx.WriteAt([]byte("after"), 0)
		return err
	}); err != nil {
		e.Close()
		return fmt.Errorf("transaction after recovery: %w", err)
	}
	if err := e.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(img.Root, txn.JournalDir))
	if err != nil {
		return err
	}
	for _, d := range ents {
		if strings.HasSuffix(d.Name(), ".db") {
			return fmt.Errorf("journal %s left after recovery and close", d.Name())
		}
	}
	return nil
}

// acceptable returns the test for key's recovered value: the state after
// its acknowledged steps, or, if a step on key was in flight, after that
// one too — and only after it once its journal record was durable.
func (r *plRun) acceptable(key string, hist [][]byte) func([]byte) bool {
	acked := r.model.acked[key]
	var want [][]byte
	if !(key == r.inKey && r.durable) {
		want = append(want, hist[acked])
	}
	if key == r.inKey {
		want = append(want, hist[acked+1])
	}
	return func(got []byte) bool {
		for _, w := range want {
			if (w == nil) == (got == nil) && bytes.Equal(w, got) {
				return true
			}
		}
		return false
	}
}
