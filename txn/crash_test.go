package txn_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/txn"
)

// The crash tests re-run this test binary as a child that commits one
// transaction and is SIGKILLed at a named point of the commit protocol.
const childEnv = "RANGETX_TXN_CHILD"

func TestMain(m *testing.M) {
	if root := os.Getenv(childEnv); root != "" {
		os.Exit(childCommit(root, os.Getenv("RANGETX_TXN_MODE")))
	}
	os.Exit(m.Run())
}

const crashKey = "crash/value"
const crashSize = 1 << 20

func oldValue() []byte { return bytes.Repeat([]byte("o"), crashSize) }

// newValue is oldValue after the child's transaction: two ranges far
// apart and growth by 8 KiB with a range at the new end.
func newValue() []byte {
	v := append(oldValue(), make([]byte, 8192)...)
	copy(v[100:], bytes.Repeat([]byte("A"), 4096))
	copy(v[crashSize/2:], bytes.Repeat([]byte("B"), 4096))
	copy(v[crashSize+4096:], bytes.Repeat([]byte("C"), 4096))
	return v
}

func childCommit(root, mode string) int {
	m, err := txn.ParseMode(mode)
	if err != nil {
		return 3
	}
	e, err := txn.Open(ctx, root, &txn.Options{Mode: m})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	err = txn.Do(ctx, e, crashKey, func(tx *txn.Tx) error {
		if err := tx.Resize(crashSize + 8192); err != nil {
			return err
		}
		for _, w := range []struct {
			off int64
			c   string
		}{{100, "A"}, {crashSize / 2, "B"}, {crashSize + 4096, "C"}} {
			if _, err := tx.WriteAt(bytes.Repeat([]byte(w.c), 4096), w.off); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	e.Close()
	return 0
}

// runChild runs the child with extra environment and reports whether it
// was killed by SIGKILL (as opposed to exiting normally).
func runChild(t *testing.T, root, mode string, env ...string) (killed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+root, "RANGETX_TXN_MODE="+mode)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	return false
}

// crashCases: for each crash point, whether the transaction is committed
// (a crash there must keep it) or not (a crash must leave the old value).
var crashCases = []struct {
	mode      string
	point     string
	committed bool
}{
	{"journal", crashpoint.JournalBeforeAppend, false},
	{"journal", crashpoint.JournalAfterAppend, true},
	{"journal", crashpoint.JournalMidApply, true},
	{"journal", crashpoint.JournalAfterSync, true},
	{"journal", crashpoint.JournalAfterMark, true},
	{"copy", crashpoint.CopyBeforeReplace, false},
	{"copy", crashpoint.CopyAfterReplace, true},
}

func expected(committed bool) []byte {
	if committed {
		return newValue()
	}
	return oldValue()
}

func setupCrashRoot(t *testing.T) string {
	root := t.TempDir()
	e := openLocal(t, root, txn.ModeAuto)
	put(t, e, crashKey, oldValue())
	e.Close()
	return root
}

// journalsLeft lists the journals in root other than the given engines'.
func journalsLeft(t *testing.T, root string, except ...*txn.Engine) []string {
	_, jdir, _ := txn.Layout(root)
	ids, err := journal.List(jdir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, id := range ids {
		mine := false
		for _, e := range except {
			mine = mine || e.JournalID() == id
		}
		if !mine {
			left = append(left, id)
		}
	}
	return left
}

// TestCrashThenOpen: a writer SIGKILLed at each point of each protocol;
// then Open runs recovery. The value is exactly old or new as the point
// dictates, and the dead journal is gone.
func TestCrashThenOpen(t *testing.T) {
	for _, c := range crashCases {
		t.Run(c.mode+"/"+c.point, func(t *testing.T) {
			root := setupCrashRoot(t)
			if !runChild(t, root, c.mode, crashpoint.Env+"="+c.point) {
				t.Fatal("child was not killed at the crash point")
			}
			e := openLocal(t, root, txn.ModeAuto)
			if got := get(t, e, crashKey); !bytes.Equal(got, expected(c.committed)) {
				t.Fatalf("after crash at %s and recovery: value is neither the expected old nor new state", c.point)
			}
			if left := journalsLeft(t, root, e); len(left) != 0 {
				t.Fatalf("journals left after recovery: %v", left)
			}
			assertNoTemp(t, root)
		})
	}
}

// TestCrashThenNextHolder: an engine that was already open when the writer
// died settles the dead writer's entries when it next takes the value's
// lock — as a writer and as a reader — counts them in Stats, and a later
// recovery never rolls its own commit back.
func TestCrashThenNextHolder(t *testing.T) {
	for _, c := range crashCases {
		for _, via := range []string{"writer", "reader"} {
			t.Run(c.mode+"/"+c.point+"/"+via, func(t *testing.T) {
				root := setupCrashRoot(t)
				live := openLocal(t, root, txn.ModeJournal)
				if !runChild(t, root, c.mode, crashpoint.Env+"="+c.point) {
					t.Fatal("child was not killed at the crash point")
				}
				want := expected(c.committed)
				if via == "reader" {
					if got := get(t, live, crashKey); !bytes.Equal(got, want) {
						t.Fatal("reader after a dead writer saw a state that is neither old nor new")
					}
				}
				err := txn.Do(ctx, live, crashKey, func(tx *txn.Tx) error {
					got := make([]byte, len(want))
					if n, _ := tx.ReadAt(got, 0); n != len(want) || !bytes.Equal(got, want) {
						return fmt.Errorf("next holder saw a state that is neither old nor new")
					}
					_, err := tx.WriteAt([]byte("later"), 200)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				copy(want[200:], "later")
				// Stats.Settled counts the entries replayed: the dead
				// writer's one, unless it died after its watermark.
				settled := int64(0)
				if c.mode == "journal" && c.committed && c.point != crashpoint.JournalAfterMark {
					settled = 1
				}
				if got := live.Stats().Settled; got != settled {
					t.Fatalf("Stats().Settled = %d, want %d", got, settled)
				}
				// A dead copy-mode writer leaves an empty journal, which
				// only recovery removes; a journal-mode one is settled.
				if left := journalsLeft(t, root, live); len(left) != 0 && c.mode == "journal" && c.committed {
					t.Fatalf("the dead journal is still there after settling: %v", left)
				}
				live.Close()
				e := openLocal(t, root, txn.ModeAuto)
				if got := get(t, e, crashKey); !bytes.Equal(got, want) {
					t.Fatal("recovery after a later commit rolled it back")
				}
			})
		}
	}
}

// TestCrashDuringRecovery: recovery itself is killed halfway through a
// replay; the next recovery finishes the job.
func TestCrashDuringRecovery(t *testing.T) {
	root := setupCrashRoot(t)
	if !runChild(t, root, "journal", crashpoint.Env+"="+crashpoint.JournalAfterAppend) {
		t.Fatal("writer was not killed")
	}
	// This child's Open replays the entry and dies after the first range.
	if !runChild(t, root, "journal", crashpoint.Env+"="+crashpoint.RecoveryMidReplay) {
		t.Fatal("recovering child was not killed")
	}
	e := openLocal(t, root, txn.ModeAuto)
	if got := get(t, e, crashKey); !bytes.Equal(got, newValue()) {
		t.Fatal("after a crash during recovery, the value is not the committed one")
	}
	if left := journalsLeft(t, root, e); len(left) != 0 {
		t.Fatalf("journals left: %v", left)
	}
}

func assertNoTemp(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && bytes.Contains([]byte(d.Name()), []byte(".rangetx-tmp.")) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}
