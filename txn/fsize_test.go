//go:build linux

package txn_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// The file-size tests re-run this test binary as a child that lowers its
// own RLIMIT_FSIZE and then commits one transaction. Go ignores SIGXFSZ,
// so a write or truncate past the limit fails with EFBIG.
const fsizeChildEnv = "RANGETX_TXN_FSIZE_CHILD"

func init() {
	if spec := os.Getenv(fsizeChildEnv); spec != "" {
		os.Exit(fsizeChild(spec))
	}
}

const fsizeKey = "limited/value"

// fsizeSpec is the child's transaction on fsizeKey: resize to Size, then
// the writes, in Mode, under RLIMIT_FSIZE = Limit.
type fsizeSpec struct {
	Root   string
	Mode   string
	Limit  uint64
	Size   int64
	Writes []fsizeWrite
}

type fsizeWrite struct {
	Off  int64
	Len  int
	Seed byte
}

// apply returns b after the spec's transaction.
func (sp fsizeSpec) apply(b []byte) []byte {
	b = bytes.Clone(b)
	if int64(len(b)) > sp.Size {
		b = b[:sp.Size]
	}
	b = append(b, make([]byte, sp.Size-int64(len(b)))...)
	for _, w := range sp.Writes {
		copy(b[w.Off:], pattern(w.Len, w.Seed))
	}
	return b
}

// fsizeResult is what the child saw.
type fsizeResult struct {
	Err           string // from the commit
	EFBIG         bool   // it wraps syscall.EFBIG
	NeedsRecovery bool   // it wraps txn.ErrNeedsRecovery
	Appended      int    // journal records made durable for fsizeKey
	Stopped       bool   // a Get afterwards returned ErrNeedsRecovery
	Unchanged     bool   // a Get afterwards returned the value as before
	PutErr        string // from a small Put of another value afterwards
	TempLeft      []string
}

func fsizeChild(spec string) int {
	var sp fsizeSpec
	if err := json.Unmarshal([]byte(spec), &sp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	mode, err := txn.ParseMode(sp.Mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	rl.Cur = sp.Limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	e, err := txn.Open(ctx, sp.Root, quietOptions(mode))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer e.Close()
	before, err := e.Get(ctx, fsizeKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	var appended atomic.Int64
	crashpoint.Install(func(name, key string) error {
		if name == crashpoint.JournalAppended && key == fsizeKey {
			appended.Add(1)
		}
		return nil
	})
	err = txn.Do(ctx, e, fsizeKey, func(tx *txn.Tx) error {
		if err := tx.Resize(sp.Size); err != nil {
			return err
		}
		for _, w := range sp.Writes {
			if _, err := tx.WriteAt(pattern(w.Len, w.Seed), w.Off); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		// The in-place apply follows the acknowledgement; its failure
		// stops the engine, and Flush reports it.
		err = e.Flush(ctx)
	}
	var res fsizeResult
	if err != nil {
		res.Err = err.Error()
	}
	res.EFBIG = errors.Is(err, syscall.EFBIG)
	res.NeedsRecovery = errors.Is(err, txn.ErrNeedsRecovery)
	res.Appended = int(appended.Load())
	got, err := e.Get(ctx, fsizeKey)
	res.Stopped = errors.Is(err, txn.ErrNeedsRecovery)
	res.Unchanged = err == nil && bytes.Equal(got, before)
	if err := e.Put(ctx, "other", strings.NewReader("other value")); err != nil {
		res.PutErr = err.Error()
	}
	filepath.WalkDir(sp.Root, func(p string, d os.DirEntry, err error) error {
		if _, ok := store.ParseTempName(d.Name()); err == nil && ok {
			res.TempLeft = append(res.TempLeft, p)
		}
		return nil
	})
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 3
	}
	return 0
}

// runFsizeChild runs the child's transaction and returns what it saw.
func runFsizeChild(t *testing.T, sp fsizeSpec) fsizeResult {
	t.Helper()
	spec, err := json.Marshal(sp)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+string(spec))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.Bytes())
	}
	var res fsizeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child said %q: %v\n%s", out, err, stderr.Bytes())
	}
	t.Logf("child: %+v", res)
	return res
}

// TestFileSizeLimit: a commit that a file-size limit (RLIMIT_FSIZE) cuts
// short, in a child process; the parent, without the limit, then checks
// and recovers the store.
//
//   - copy/value-growth: the patched copy cannot grow past the limit. The
//     commit fails with an error wrapping EFBIG before anything is visible:
//     the value is unchanged, no temporary file is left, the engine goes on.
//   - journal/value-growth: the small record fits in the journal (the
//     commit point passes, Commit returns nil) but resizing the value in
//     place fails with EFBIG. The engine stops (Flush returns
//     ErrNeedsRecovery wrapping EFBIG); recovery without the limit applies
//     the durable record: the value is new.
//   - journal/segment-growth: the after-images are larger than the limit,
//     so the journal's segment file cannot take them. Nothing was written
//     (the error wraps EFBIG, not ErrNeedsRecovery); the engine goes on.
//   - journal/journal-growth: a small record that bbolt keeps inline, but
//     the limit is below the size bbolt grows its file to. The engine
//     stops (ErrNeedsRecovery; bbolt reports the cause as text only, so
//     only the message says "file too large"); nothing was durable and
//     recovery leaves the value old.
//
// Every case ends with the value old or new as stated, no journal left,
// and the store usable.
func TestFileSizeLimit(t *testing.T) {
	growth := []fsizeWrite{{Off: 100, Len: 3, Seed: 'N'}, {Off: 1<<20 - 4096, Len: 4096, Seed: 'T'}}
	cases := []struct {
		name       string
		initial    int
		spec       fsizeSpec
		committed  bool // the value is new after recovery
		efbig      bool // the error wraps EFBIG
		stopsAfter bool // the error wraps ErrNeedsRecovery and the engine stopped
	}{
		{"copy/value-growth", 256 << 10,
			fsizeSpec{Mode: "copy", Limit: 512 << 10, Size: 1 << 20, Writes: growth}, false, true, false},
		{"journal/value-growth", 256 << 10,
			fsizeSpec{Mode: "journal", Limit: 512 << 10, Size: 1 << 20, Writes: growth}, true, true, true},
		{"journal/segment-growth", 2 << 20,
			fsizeSpec{Mode: "journal", Limit: 512 << 10, Size: 2 << 20, Writes: []fsizeWrite{{Off: 0, Len: 600 << 10, Seed: 'J'}}}, false, true, false},
		{"journal/journal-growth", 16 << 10,
			fsizeSpec{Mode: "journal", Limit: 32 << 10, Size: 16 << 10, Writes: []fsizeWrite{{Off: 0, Len: 12 << 10, Seed: 'J'}}}, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			e := openLocal(t, root, txn.ModeAuto)
			old := pattern(c.initial, 0)
			put(t, e, fsizeKey, old)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			sp := c.spec
			sp.Root = root
			res := runFsizeChild(t, sp)

			if res.Err == "" {
				t.Fatal("the commit succeeded despite the file-size limit")
			}
			if res.EFBIG != c.efbig {
				t.Errorf("error wraps EFBIG: %v, want %v", res.EFBIG, c.efbig)
			}
			if !strings.Contains(res.Err, syscall.EFBIG.Error()) {
				t.Errorf("error %q does not name the cause", res.Err)
			}
			if res.NeedsRecovery != c.stopsAfter || res.Stopped != c.stopsAfter {
				t.Errorf("ErrNeedsRecovery: %v, engine stopped: %v; want both %v", res.NeedsRecovery, res.Stopped, c.stopsAfter)
			}
			if c.committed != (res.Appended == 1) || res.Appended > 1 {
				t.Errorf("%d records durable; want the record durable: %v", res.Appended, c.committed)
			}
			if !c.stopsAfter && (!res.Unchanged || res.PutErr != "") {
				t.Errorf("engine not usable after the failed commit: value unchanged %v, Put error %q", res.Unchanged, res.PutErr)
			}
			if len(res.TempLeft) != 0 {
				t.Errorf("temporary files left: %v", res.TempLeft)
			}

			want := old
			if c.committed {
				want = sp.apply(old)
			}
			// Before recovery nothing has reached the value: copy mode
			// failed before its rename, journal mode before or at its
			// first step in place (the resize).
			if got := rawValue(t, root, fsizeKey); !bytes.Equal(got, old) {
				t.Fatal("the value changed before recovery")
			}
			e = openLocal(t, root, txn.ModeAuto)
			if got := get(t, e, fsizeKey); !bytes.Equal(got, want) {
				t.Fatalf("after recovery the value is not the %s one", map[bool]string{true: "new", false: "old"}[c.committed])
			}
			if left := journalsLeft(t, root, e); len(left) != 0 {
				t.Fatalf("journals left after recovery: %v", left)
			}
			if got, err := e.Get(ctx, "other"); c.stopsAfter != errors.Is(err, store.ErrNotFound) || err == nil && string(got) != "other value" {
				t.Fatalf("the child's later Put: %q, %v", got, err)
			}
			if err := writeTx(e, fsizeKey, []byte("after"), 10); err != nil {
				t.Fatalf("transaction after recovery: %v", err)
			}
			flush(t, e)
			if got := rawValue(t, root, fsizeKey); !bytes.Equal(got, patched(want, []byte("after"), 10)) {
				t.Fatal("the transaction after recovery is not in the value")
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			assertJournalDirEmpty(t, root)
			assertNoTemp(t, root)
		})
	}
}
