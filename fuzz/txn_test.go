package fuzz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/internal/powerloss"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/store/vfs"
	"github.com/rangetx/rangetx/txn"
)

// FuzzTxn decodes an operation sequence from the input — begin, write-at,
// resize, read-at, commit, rollback, a simulated power loss between
// transactions, a commit interrupted by a power loss at its k-th file
// operation, and copy-range (which makes the commit a copy) — and runs it on two engines at once: one on the memory store,
// one on the local store over the simulated file system, comparing both
// with a plain byte-slice model after every step.
func FuzzTxn(f *testing.F) {
	f.Add([]byte{0, 0, 1, 10, 4, 1, 2, 3, 4})
	f.Add([]byte{0, 1, 1, 200, 40, 9, 2, 50, 4, 6, 7, 0, 1, 1, 0, 8, 3, 3, 0, 20, 5})
	f.Add([]byte{0, 2, 2, 255, 1, 7, 7, 4, 0, 2, 2, 3, 1, 1, 5, 9, 4, 7, 1, 0, 0, 1, 9, 9, 9, 9, 7, 3, 6, 1})
	f.Add([]byte{7, 5, 0, 0, 1, 0, 100, 3, 7, 2, 0, 0, 1, 60, 100, 1, 7, 9})
	f.Add([]byte{0, 0, 1, 9, 9, 200, 7, 4, 0, 0, 8, 5, 5, 1, 90, 3, 0, 30, 7, 3, 1, 8, 0, 0, 2, 50, 4})
	f.Fuzz(func(t *testing.T, prog []byte) {
		h := newTxnHarness(t)
		defer h.close()
		for len(prog) > 0 && h.steps < 64 {
			prog = h.step(prog)
		}
		h.endTx(false)
		h.checkAll("end")
	})
}

var fuzzKeys = []string{"k0", "d/k1", "d/e/k2"}

const (
	maxFuzzOff = 96 << 10
	maxFuzzLen = 9 << 10
)

type txnHarness struct {
	t     *testing.T
	ctx   context.Context
	model map[string][]byte // committed state; absent = missing
	steps int

	mem    *txn.Engine
	sim    *powerloss.Sim
	local  *txn.Engine
	images int

	// The open transaction, if any, on both engines.
	key     string
	base    []byte // the value as the transaction began
	staged  []byte // nil: value missing and untouched
	memTx   *txn.Tx
	localTx *txn.Tx
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTxnHarness(t *testing.T) *txnHarness {
	h := &txnHarness{t: t, ctx: context.Background(), model: map[string][]byte{}}
	var err error
	if h.mem, err = txn.New(store.NewMemory(), lock.NewMemory(), nil, &txn.Options{Logger: quiet()}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(scratchDir(t), "root")
	if h.sim, err = powerloss.New(root); err != nil {
		t.Fatal(err)
	}
	h.openLocal()
	return h
}

// scratchDir returns a directory for the engine's own files, removed when t
// ends. The values live in memory (vfs.MemFS) whatever it is; the journal
// and lock files are real, and on a RAM file system, where there is one,
// their fsyncs cost nothing, which multiplies the executions per second.
// The journal's own durability is not what FuzzTxn tests.
func scratchDir(t *testing.T) string {
	dir, err := os.MkdirTemp(ramDir(), "fuzztxn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func ramDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func (h *txnHarness) openLocal() {
	var err error
	if h.local, err = txn.Open(h.ctx, h.sim.Root, &txn.Options{FS: h.sim.FS, Logger: quiet()}); err != nil {
		h.t.Fatalf("open (recovery) failed: %v", err)
	}
}

func (h *txnHarness) close() {
	h.mem.Close()
	h.local.Close()
}

// arg reads one byte of the program (0 once it runs out).
func arg(p *[]byte) int {
	if len(*p) == 0 {
		return 0
	}
	b := (*p)[0]
	*p = (*p)[1:]
	return int(b)
}

func (h *txnHarness) step(prog []byte) []byte {
	h.steps++
	op := arg(&prog) % 9
	switch op {
	case 0: // begin
		h.endTx(false)
		h.begin(fuzzKeys[arg(&prog)%len(fuzzKeys)])
	case 1: // write-at
		off := int64(arg(&prog)*arg(&prog)) * (maxFuzzOff / 65025)
		n := (arg(&prog)*37 + 1) % maxFuzzLen
		fill := byte(arg(&prog))
		h.write(off, bytes.Repeat([]byte{fill, fill ^ 0x5a, byte(h.steps)}, n/3+1)[:n])
	case 2: // resize
		h.resize(int64(arg(&prog)*arg(&prog)) * (maxFuzzOff / 65025))
	case 3: // read-at
		h.read(int64(arg(&prog)*300), arg(&prog)*40)
	case 4: // commit
		h.endTx(true)
	case 5: // rollback
		h.endTx(false)
	case 6: // power loss between operations, then recovery
		h.endTx(false)
		h.crash(uint64(arg(&prog)))
	case 7: // commit, with a power loss before its k-th file operation
		k := arg(&prog)%24 + 1
		h.crashingCommit(k, uint64(arg(&prog)))
	case 8: // copy-range from the value as the transaction began
		dst := int64(arg(&prog)*arg(&prog)) * (maxFuzzOff / 65025)
		h.copyRange(dst, int64(arg(&prog)*300), int64((arg(&prog)*37+1)%maxFuzzLen))
	}
	return prog
}

// copyRange copies up to n bytes of the value as the transaction began,
// from src (taken modulo its size, plus one), to dst.
func (h *txnHarness) copyRange(dst, src, n int64) {
	if !h.inTx() {
		return
	}
	src %= int64(len(h.base)) + 1
	n = min(n, int64(len(h.base))-src)
	for _, tx := range []*txn.Tx{h.memTx, h.localTx} {
		if err := tx.CopyRange(dst, src, n); err != nil {
			h.t.Fatalf("copy %d from %d to %d: %v", n, src, dst, err)
		}
	}
	if n == 0 {
		return
	}
	if end := dst + n; end > int64(len(h.staged)) {
		h.staged = grow(h.staged, end)
	}
	copy(h.staged[dst:], h.base[src:src+n])
}

func (h *txnHarness) begin(key string) {
	var err error
	if h.memTx, err = h.mem.Begin(h.ctx, key); err != nil {
		h.t.Fatalf("memory begin %q: %v", key, err)
	}
	if h.localTx, err = h.local.Begin(h.ctx, key); err != nil {
		h.t.Fatalf("local begin %q: %v", key, err)
	}
	h.key = key
	h.base = bytes.Clone(h.model[key])
	h.staged = bytes.Clone(h.model[key])
	if h.staged == nil {
		if _, ok := h.model[key]; ok {
			h.staged = []byte{}
		}
	}
}

func (h *txnHarness) inTx() bool { return h.memTx != nil }

func (h *txnHarness) write(off int64, p []byte) {
	if !h.inTx() {
		return
	}
	for _, tx := range []*txn.Tx{h.memTx, h.localTx} {
		if n, err := tx.WriteAt(p, off); err != nil || n != len(p) {
			h.t.Fatalf("write %d at %d: %d, %v", len(p), off, n, err)
		}
	}
	if end := off + int64(len(p)); end > int64(len(h.staged)) {
		h.staged = grow(h.staged, end)
	}
	copy(h.staged[off:], p)
}

func grow(b []byte, n int64) []byte {
	if b == nil {
		b = []byte{}
	}
	if n <= int64(len(b)) {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

func (h *txnHarness) resize(n int64) {
	if !h.inTx() {
		return
	}
	for _, tx := range []*txn.Tx{h.memTx, h.localTx} {
		if err := tx.Resize(n); err != nil {
			h.t.Fatalf("resize %d: %v", n, err)
		}
	}
	h.staged = grow(h.staged, n)
}

func (h *txnHarness) read(off int64, n int) {
	if !h.inTx() {
		return
	}
	want := make([]byte, 0, n)
	if off < int64(len(h.staged)) {
		want = append(want, h.staged[off:min(int64(len(h.staged)), off+int64(n))]...)
	}
	for name, tx := range map[string]*txn.Tx{"memory": h.memTx, "local": h.localTx} {
		got := make([]byte, n)
		m, err := tx.ReadAt(got, off)
		if m != len(want) || !bytes.Equal(got[:m], want) {
			h.t.Fatalf("%s read %d at %d: got %d bytes (%v), want %d", name, n, off, m, err, len(want))
		}
		if m < n && err != io.EOF {
			h.t.Fatalf("%s short read without io.EOF: %v", name, err)
		}
	}
}

// endTx commits or rolls back the open transaction on both engines.
func (h *txnHarness) endTx(commit bool) {
	if !h.inTx() {
		return
	}
	mtx, ltx := h.memTx, h.localTx
	h.memTx, h.localTx = nil, nil
	if !commit {
		if err := errors.Join(mtx.Rollback(), ltx.Rollback()); err != nil {
			h.t.Fatalf("rollback: %v", err)
		}
		h.checkAll("rollback")
		return
	}
	if err := errors.Join(mtx.Commit(), ltx.Commit()); err != nil {
		h.t.Fatalf("commit %q: %v", h.key, err)
	}
	if h.staged != nil {
		h.model[h.key] = h.staged
	}
	h.checkAll("commit")
}

// crash replaces the local engine by one recovered from a power-loss image
// taken now, between transactions: every acknowledged commit must be there.
func (h *txnHarness) crash(seed uint64) {
	h.images++
	img, err := h.sim.Crash(filepath.Join(scratchDir(h.t), fmt.Sprint("img", h.images)),
		powerloss.Image{Mode: vfs.RandomUnsynced, Seed: seed, LoseMarkers: seed%2 == 0})
	if err != nil {
		h.t.Fatal(err)
	}
	h.local.Close()
	h.sim = img
	h.openLocal()
	h.checkAll("power loss")
}

// crashingCommit commits the open transaction on both engines, but the
// local store loses power before the commit's k-th mutating file operation
// (if it has that many): after recovery the value is old or new, and the
// model follows whichever it is.
func (h *txnHarness) crashingCommit(k int, seed uint64) {
	if !h.inTx() {
		return
	}
	var img *powerloss.Sim
	var ierr error
	n := 0
	// Once the journal record is durable, the commit must survive.
	var appended, durable bool
	uninstall := crashpoint.Install(func(name, key string) error {
		if name == crashpoint.JournalAppended && key == h.key {
			appended = true
		}
		return nil
	})
	h.sim.FS.SetHook(func(op vfs.Op) {
		if !op.Kind.Mutates() {
			return
		}
		if n++; n == k && img == nil {
			h.images++
			durable = appended
			img, ierr = h.sim.Crash(filepath.Join(scratchDir(h.t), fmt.Sprint("img", h.images)),
				powerloss.Image{Mode: vfs.RandomUnsynced, Seed: seed})
		}
	})
	key, old := h.key, h.model[h.key]
	_, existed := h.model[key]
	h.endTx(true)
	h.sim.FS.SetHook(nil)
	uninstall()
	if ierr != nil {
		h.t.Fatal(ierr)
	}
	if img == nil {
		return // the commit had fewer than k operations
	}
	h.local.Close()
	h.sim = img
	h.openLocal()
	got, err := h.local.Get(h.ctx, key)
	switch {
	case err == nil && bytes.Equal(got, h.model[key]):
	case durable:
		h.t.Fatalf("a power loss after %q's journal record was durable lost the commit (%d bytes, %v)", key, len(got), err)
	case existed && err == nil && bytes.Equal(got, old):
		h.model[key] = old
		h.resetMem(key, old, true)
	case !existed && errors.Is(err, store.ErrNotFound):
		delete(h.model, key)
		h.resetMem(key, nil, false)
	default:
		h.t.Fatalf("after a power loss mid-commit %q is neither old nor new (%d bytes, %v)", key, len(got), err)
	}
	h.checkAll("power loss mid-commit")
}

// resetMem makes the memory engine agree with a commit the power loss undid.
func (h *txnHarness) resetMem(key string, v []byte, exists bool) {
	var err error
	if exists {
		err = h.mem.Put(h.ctx, key, bytes.NewReader(v))
	} else {
		err = h.mem.Delete(h.ctx, key)
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

// checkAll compares every key on both engines with the model.
func (h *txnHarness) checkAll(when string) {
	for _, key := range fuzzKeys {
		want, exists := h.model[key]
		for name, e := range map[string]*txn.Engine{"memory": h.mem, "local": h.local} {
			got, err := e.Get(h.ctx, key)
			switch {
			case !exists && !errors.Is(err, store.ErrNotFound):
				h.t.Fatalf("%s: %s: %q should be missing, got %d bytes, %v", when, name, key, len(got), err)
			case exists && (err != nil || !bytes.Equal(got, want)):
				h.t.Fatalf("%s: %s: %q differs from the model (%d vs %d bytes, %v)", when, name, key, len(got), len(want), err)
			}
		}
	}
}
