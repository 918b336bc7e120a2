package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/txn"
)

// Invariant 4: many processes, disjoint ranges of one value.
const (
	workerEnv = "RANGETX_MP_WORKER"
	mpKey     = "mp/value"
	mpSize    = 16 << 20
	mpBlock   = 4 << 10
	mpRegion  = mpSize / 8 // one region per worker, up to 8 workers
)

// mpBlocks is where worker w's transaction s writes: two blocks half a
// region apart.
func mpBlocks(w, s int) [2]int64 {
	start := int64(w)*mpRegion + int64(s)*mpBlock
	return [2]int64{start, start + mpRegion/2}
}

// mpData is the self-describing content of one block, ending in a CRC.
func mpData(w, s, part int) []byte {
	b := make([]byte, mpBlock)
	binary.LittleEndian.PutUint32(b[0:], uint32(w))
	binary.LittleEndian.PutUint32(b[4:], uint32(s))
	binary.LittleEndian.PutUint32(b[8:], uint32(part))
	for i := 12; i < len(b)-4; i++ {
		b[i] = byte(i*7 + w*13 + s*31 + part)
	}
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	return b
}

// workerMain commits transactions first..last of worker w, printing
// "ack s" after each returns nil.
func workerMain() int {
	w, _ := strconv.Atoi(os.Getenv(workerEnv))
	first, _ := strconv.Atoi(os.Getenv("MP_FIRST"))
	last, _ := strconv.Atoi(os.Getenv("MP_LAST"))
	mode, _ := txn.ParseMode(os.Getenv("MP_MODE"))
	ctx := context.Background()
	e, err := txn.Open(ctx, os.Getenv("MP_ROOT"), &txn.Options{Mode: mode})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	for s := first; s <= last; s++ {
		err := txn.Do(ctx, e, mpKey, func(tx *txn.Tx) error {
			for part, off := range mpBlocks(w, s) {
				if _, err := tx.WriteAt(mpData(w, s, part), off); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(os.Stdout, "ack %d\n", s)
	}
	return 0
}

// exit is how a writer process ended.
type exit struct {
	w      int
	killed bool // by SIGKILL, from the parent or from a crash point
	err    error
}

// startWorker runs worker w's transactions first..last in a child process
// and reports its end on exits; extraEnv may arm a crash point.
func startWorker(t *testing.T, root, mode string, w, first, last int, acked *[8]int, mu *sync.Mutex, exits chan<- exit, extraEnv ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workerEnv+"="+strconv.Itoa(w), "MP_ROOT="+root, "MP_MODE="+mode,
		"MP_FIRST="+strconv.Itoa(first), "MP_LAST="+strconv.Itoa(last))
	cmd.Env = append(cmd.Env, extraEnv...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				n, _ := strconv.Atoi(s)
				mu.Lock()
				acked[w] = n
				mu.Unlock()
			}
		}
		err := cmd.Wait()
		killed := false
		if ee, ok := err.(*exec.ExitError); ok {
			ws, _ := ee.Sys().(syscall.WaitStatus)
			killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
		}
		if err != nil && !killed {
			err = fmt.Errorf("%w: %s", err, stderr.String())
		}
		exits <- exit{w, killed, err}
	}()
	return cmd
}

// verifyMP checks the value against the acknowledgements: every
// acknowledged transaction present, the one after it (in flight at a kill)
// entirely present or entirely absent, nothing later, no torn block.
func verifyMP(t *testing.T, v []byte, workers int, acked [8]int, total int) {
	t.Helper()
	if len(v) != mpSize {
		t.Fatalf("value is %d bytes, want %d", len(v), mpSize)
	}
	zero := make([]byte, mpBlock)
	for w := range workers {
		for s := 1; s <= total; s++ {
			var present [2]bool
			for part, off := range mpBlocks(w, s) {
				got := v[off : off+mpBlock]
				switch {
				case bytes.Equal(got, mpData(w, s, part)):
					present[part] = true
				case !bytes.Equal(got, zero):
					t.Fatalf("worker %d tx %d part %d: torn or foreign bytes", w, s, part)
				}
			}
			switch {
			case present[0] != present[1]:
				t.Fatalf("worker %d tx %d: only one of its two ranges is present (not atomic)", w, s)
			case s <= acked[w] && !present[0]:
				t.Fatalf("worker %d tx %d was acknowledged but is missing (acked up to %d)", w, s, acked[w])
			case s > acked[w]+1 && present[0]:
				t.Fatalf("worker %d tx %d is present but was never attempted", w, s)
			}
		}
	}
}

func setupMP(t *testing.T) string {
	root := t.TempDir()
	f := writeFile(t, t.TempDir(), "zeros", make([]byte, mpSize))
	ok(t, rangetx(t, nil, nil, "put", "--root", root, mpKey, f))
	return root
}

func readValue(t *testing.T, root string) []byte {
	v, err := os.ReadFile(filepath.Join(root, mpKey))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMultiProcess: 8 processes × 50 transactions into disjoint ranges of
// one 16 MiB value end with every range correct.
func TestMultiProcess(t *testing.T) {
	const workers, txs = 8, 50
	root := setupMP(t)
	var acked [8]int
	var mu sync.Mutex
	exits := make(chan exit, workers)
	for w := range workers {
		startWorker(t, root, "auto", w, 1, txs, &acked, &mu, exits)
	}
	for range workers {
		if x := <-exits; x.err != nil {
			t.Fatalf("worker %d: %v", x.w, x.err)
		}
	}
	for w := range workers {
		if acked[w] != txs {
			t.Fatalf("worker %d acknowledged %d of %d", w, acked[w], txs)
		}
	}
	verifyMP(t, readValue(t, root), workers, acked, txs)
}

// TestMultiProcessKills: the same with writers SIGKILLed mid-run — by the
// parent at random moments, and by themselves at random named points inside
// the commit protocol — and restarted, then `rangetx recover`: every
// acknowledged write present, nothing torn, no journal left behind.
func TestMultiProcessKills(t *testing.T) {
	for _, c := range []struct {
		mode         string
		workers, txs int
		kills        int
		points       []string
	}{
		{"journal", 8, 50, 24, []string{crashpoint.JournalBeforeAppend, crashpoint.JournalAfterAppend,
			crashpoint.JournalMidApply, crashpoint.JournalAfterSync, crashpoint.JournalAfterMark}},
		{"copy", 4, 12, 8, []string{crashpoint.CopyBeforeReplace, crashpoint.CopyAfterReplace}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			root := setupMP(t)
			var acked [8]int
			var mu sync.Mutex
			exits := make(chan exit, c.workers)
			running := map[int]*exec.Cmd{}
			kills, pointKills := 0, 0
			armed := map[int]bool{}
			start := func(w, first int) {
				var env []string
				// Every commit passes these points, so an armed writer
				// with three transactions left dies: the quota of kills
				// does not depend on the machine's speed.
				armed[w] = kills < c.kills && c.txs-first >= 3
				if armed[w] {
					point := c.points[rng.IntN(len(c.points))]
					env = append(env, fmt.Sprintf("%s=%s@%d", crashpoint.Env, point, 1+rng.IntN(3)))
				}
				running[w] = startWorker(t, root, c.mode, w, first, c.txs, &acked, &mu, exits, env...)
			}
			for w := range c.workers {
				start(w, 1)
			}
			gap := func() time.Duration { return time.Duration(5+rng.IntN(60)) * time.Millisecond }
			timer := time.NewTimer(gap())
			for len(running) > 0 {
				select {
				case x := <-exits:
					delete(running, x.w)
					if x.err != nil && !x.killed {
						t.Fatalf("worker %d: %v", x.w, x.err)
					}
					if !x.killed {
						continue
					}
					kills++
					if armed[x.w] {
						pointKills++
					}
					mu.Lock()
					next := acked[x.w] + 1
					mu.Unlock()
					if next <= c.txs {
						start(x.w, next)
					}
				case <-timer.C:
					if kills < c.kills && len(running) > 0 {
						ws := make([]int, 0, len(running))
						for w := range running {
							ws = append(ws, w)
						}
						running[ws[rng.IntN(len(ws))]].Process.Kill()
					}
					timer.Reset(gap())
				}
			}
			if kills < c.kills {
				t.Fatalf("only %d kills happened, want %d", kills, c.kills)
			}
			r := ok(t, rangetx(t, nil, nil, "recover", "--root", root))
			t.Logf("%d kills (%d at named crash points); recover: %s", kills, pointKills, strings.TrimSpace(r.stdout))
			verifyMP(t, readValue(t, root), c.workers, acked, c.txs)
			_, jdir, _ := txn.Layout(root)
			if ids, _ := journal.List(jdir); len(ids) != 0 {
				t.Fatalf("journals left after recover: %v", ids)
			}
		})
	}
}
