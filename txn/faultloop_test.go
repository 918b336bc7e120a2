package txn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/internal/powerloss"
	"github.com/rangetx/rangetx/store/vfs"
	"github.com/rangetx/rangetx/txn"
)

// The fault loops fail the N-th file operation of a transaction — for every
// N, with EIO, ENOSPC and EFBIG, once and persistently, in each mode — and
// check each outcome: the transaction's error names the cause; without
// ErrNeedsRecovery nothing was written and the engine still works; with it
// the engine refuses work; a restart (and, separately, a power loss right
// after the fault) recovers the value to old or new, and to new whenever
// Commit returned nil. Then the same for faults during recovery.

var faultErrs = []syscall.Errno{syscall.EIO, syscall.ENOSPC, syscall.EFBIG}

const faultKey = "f/value"

// faultSetup is a Sim holding faultKey (old contents) and an engine on it
// whose file system fails as fault says while armed is set.
type faultSetup struct {
	sim   *powerloss.Sim
	e     *txn.Engine
	old   []byte
	fault *vfs.Fault
	armed *atomic.Bool
	// syncFailed holds paths whose sync failed; a later sync of one of
	// them by the same engine would be a retried fsync.
	mu         sync.Mutex
	syncFailed map[string]bool
	retried    []string
}

func newFaultSetup(t *testing.T, mode txn.Mode, fault *vfs.Fault) *faultSetup {
	t.Helper()
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "root")
	sim, err := powerloss.New(root)
	if err != nil {
		t.Fatal(err)
	}
	s := &faultSetup{sim: sim, fault: fault, armed: new(atomic.Bool), syncFailed: map[string]bool{}}
	s.old = bytes.Repeat([]byte("old-"), 16<<10/4)
	match := fault.Match
	fault.Match = func(op vfs.Op) bool { return s.armed.Load() && (match == nil || match(op)) }
	fsys := vfs.Inject(sim.FS, func(op vfs.Op) error {
		err := fault.Rule(op)
		if op.Kind == vfs.OpSync || op.Kind == vfs.OpSyncData {
			s.mu.Lock()
			if err != nil {
				s.syncFailed[op.Path] = true
			} else if s.syncFailed[op.Path] {
				s.retried = append(s.retried, op.Path)
			}
			s.mu.Unlock()
		}
		return err
	})
	s.e, err = txn.Open(ctx, root, &txn.Options{FS: fsys, Mode: mode, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.e.Put(ctx, faultKey, bytes.NewReader(s.old)); err != nil {
		t.Fatal(err)
	}
	return s
}

// faultTx is the transaction under fault: two ranges far apart and growth.
func faultTx(tx *txn.Tx) error {
	if err := tx.Resize(20 << 10); err != nil {
		return err
	}
	if _, err := tx.WriteAt(bytes.Repeat([]byte("A"), 3000), 100); err != nil {
		return err
	}
	_, err := tx.WriteAt(bytes.Repeat([]byte("B"), 5000), 15000)
	return err
}

func faultNew(old []byte) []byte {
	b := append(bytes.Clone(old), make([]byte, 20<<10-len(old))...)
	copy(b[100:], bytes.Repeat([]byte("A"), 3000))
	copy(b[15000:], bytes.Repeat([]byte("B"), 5000))
	return b
}

// countOps returns how many file operations faultTx performs in mode.
func countOps(t *testing.T, mode txn.Mode) int64 {
	f := &vfs.Fault{}
	s := newFaultSetup(t, mode, f)
	defer s.e.Close()
	s.armed.Store(true)
	if err := txn.Do(context.Background(), s.e, faultKey, faultTx); err != nil {
		t.Fatal(err)
	}
	if err := s.e.Flush(context.Background()); err != nil { // the in-place apply follows the acknowledgement
		t.Fatal(err)
	}
	s.armed.Store(false)
	return f.Count()
}

func TestFaultEveryOperation(t *testing.T) {
	cases, bad := 0, 0
	for _, mode := range []txn.Mode{txn.ModeJournal, txn.ModeCopy} {
		n := countOps(t, mode)
		if n < 8 {
			t.Fatalf("%s: only %d operations counted", mode, n)
		}
		for _, errno := range faultErrs {
			for _, persistent := range []bool{false, true} {
				for i := int64(1); i <= n; i++ {
					cases++
					name := fmt.Sprintf("%s/%v/persistent=%v/op%d", mode, errno, persistent, i)
					if err := runFault(t, mode, &vfs.Fault{N: i, Err: errno, Persistent: persistent}); err != nil {
						bad++
						t.Errorf("%s: %v", name, err)
					}
				}
			}
		}
	}
	t.Logf("fault injection: %d cases, %d violations", cases, bad)
}

func runFault(t *testing.T, mode txn.Mode, f *vfs.Fault) error {
	ctx := context.Background()
	s := newFaultSetup(t, mode, f)
	defer s.e.Close()
	want := faultNew(s.old)
	s.armed.Store(true)
	err := txn.Do(ctx, s.e, faultKey, faultTx)
	var ferr error // a fault in the in-place apply, which follows the acknowledgement
	if err == nil {
		ferr = s.e.Flush(ctx)
	}
	s.armed.Store(false)
	if !f.Fired() {
		return fmt.Errorf("fault never fired")
	}
	stopped := errors.Is(err, txn.ErrNeedsRecovery) || errors.Is(ferr, txn.ErrNeedsRecovery)
	if err != nil && !errors.Is(err, f.Err) {
		return fmt.Errorf("error does not name the injected %v: %v", f.Err, err)
	}
	if ferr != nil && (!errors.Is(ferr, f.Err) || !stopped) {
		return fmt.Errorf("flush after an acknowledged commit = %v, want ErrNeedsRecovery naming the injected %v", ferr, f.Err)
	}
	cur, rerr := s.sim.FS.ReadFile(filepath.Join(s.sim.Root, faultKey))
	switch {
	case err == nil && ferr == nil && (rerr != nil || !bytes.Equal(cur, want)):
		return fmt.Errorf("commit and flush returned nil but the value is not new")
	case err != nil && !stopped && (rerr != nil || !bytes.Equal(cur, s.old)):
		return fmt.Errorf("commit failed without ErrNeedsRecovery (%v) but the value changed", err)
	}
	// The engine stays usable, or refuses work.
	probe := txn.Do(ctx, s.e, "f/probe", func(tx *txn.Tx) error {
		_, err := tx.WriteAt([]byte("probe"), 0)
		return err
	})
	if stopped != errors.Is(probe, txn.ErrNeedsRecovery) || (!stopped && probe != nil) {
		return fmt.Errorf("after %v, the next transaction returned %v", err, probe)
	}
	s.mu.Lock()
	retried := s.retried
	s.mu.Unlock()
	if len(retried) > 0 {
		return fmt.Errorf("a failed sync was retried on %v", retried)
	}
	okState := func(got []byte) bool {
		return bytes.Equal(got, want) || (err != nil && bytes.Equal(got, s.old))
	}
	// A power loss right after the fault, then recovery.
	img, ierr := s.sim.Crash(filepath.Join(t.TempDir(), "img"), powerloss.Image{Mode: vfs.DropUnsynced})
	if ierr != nil {
		return ierr
	}
	if got, rerr := recoverValue(img); rerr != nil || !okState(got) {
		return fmt.Errorf("after a power loss: recovery %v, value ok=%v", rerr, okState(got))
	}
	// A restart: close (a stopped engine's close may report the fault)
	// and open again on the same files, faults off.
	s.e.Close()
	same := &powerloss.Sim{Root: s.sim.Root, FS: s.sim.FS}
	if got, rerr := recoverValue(same); rerr != nil || !okState(got) {
		return fmt.Errorf("after a restart: recovery %v, value ok=%v", rerr, okState(got))
	}
	return nil
}

// recoverValue opens an engine on sim (running recovery), reads faultKey,
// commits one more transaction and closes, checking no journal is left.
func recoverValue(sim *powerloss.Sim) ([]byte, error) {
	ctx := context.Background()
	e, err := txn.Open(ctx, sim.Root, &txn.Options{FS: sim.FS, Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	got, err := e.Get(ctx, faultKey)
	if err == nil {
		err = txn.Do(ctx, e, faultKey, func(tx *txn.Tx) error { return nil })
	}
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if tmps := sim.Temps(); len(tmps) > 0 {
		return nil, fmt.Errorf("temporary files left: %v", tmps)
	}
	ents, err := os.ReadDir(filepath.Join(sim.Root, txn.JournalDir))
	if err != nil {
		return nil, err
	}
	for _, d := range ents {
		if filepath.Ext(d.Name()) == ".db" {
			return nil, fmt.Errorf("journal %s left", d.Name())
		}
	}
	return got, nil
}

// pendingImage returns a power-loss image taken right after faultTx's
// journal record became durable: recovery must replay it.
func pendingImage(t *testing.T) (*powerloss.Sim, []byte) {
	t.Helper()
	s := newFaultSetup(t, txn.ModeJournal, &vfs.Fault{})
	defer s.e.Close()
	var img *powerloss.Sim
	var ierr error
	dst := filepath.Join(t.TempDir(), "pending")
	uninstall := crashpoint.Install(func(name, key string) error {
		if name == crashpoint.JournalAppended && key == faultKey && img == nil {
			img, ierr = s.sim.Crash(dst, powerloss.Image{Mode: vfs.DropUnsynced})
		}
		return nil
	})
	err := txn.Do(context.Background(), s.e, faultKey, faultTx)
	uninstall()
	if err != nil || ierr != nil || img == nil {
		t.Fatalf("commit %v, image %v", err, ierr)
	}
	return img, faultNew(s.old)
}

func TestFaultDuringRecovery(t *testing.T) {
	ctx := context.Background()
	base, want := pendingImage(t)
	clone := func(name string) *powerloss.Sim {
		c, err := base.Crash(filepath.Join(t.TempDir(), name), powerloss.Image{Mode: vfs.KeepUnsynced})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	openWith := func(sim *powerloss.Sim, f *vfs.Fault) error {
		e, err := txn.Open(ctx, sim.Root, &txn.Options{FS: vfs.Inject(sim.FS, f.Rule), Logger: quietLogger()})
		if err == nil {
			// Reading the value settles it if Open fenced it.
			_, err = e.Get(ctx, faultKey)
			err = errors.Join(err, e.Close())
		}
		return err
	}
	counter := &vfs.Fault{}
	if err := openWith(clone("count"), counter); err != nil {
		t.Fatal(err)
	}
	n := counter.Count()
	if n < 5 {
		t.Fatalf("recovery did only %d file operations", n)
	}
	cases, bad := 0, 0
	for _, errno := range faultErrs {
		for _, persistent := range []bool{false, true} {
			for i := int64(1); i <= n; i++ {
				cases++
				sim := clone(fmt.Sprintf("c%d", cases))
				f := &vfs.Fault{N: i, Err: errno, Persistent: persistent}
				ferr := openWith(sim, f)
				if ferr != nil && !errors.Is(ferr, errno) {
					t.Errorf("%v op %d: error does not name the fault: %v", errno, i, ferr)
				}
				// Power loss after the failed recovery, then a clean one.
				img, err := sim.Crash(filepath.Join(t.TempDir(), fmt.Sprintf("p%d", cases)), powerloss.Image{Mode: vfs.DropUnsynced})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []*powerloss.Sim{img, sim} {
					if got, err := recoverValue(s); err != nil || !bytes.Equal(got, want) {
						bad++
						t.Errorf("%v persistent=%v op %d (recovery: %v): clean recovery %v, value new=%v",
							errno, persistent, i, ferr, err, bytes.Equal(got, want))
					}
				}
			}
		}
	}
	t.Logf("faults during recovery: %d cases, %d violations", cases, bad)
}
