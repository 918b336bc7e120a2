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
	"testing"
	"time"

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

// worker is one running writer process.
type worker struct {
	cmd  *exec.Cmd
	done chan error
}

func startWorker(t *testing.T, root, mode string, w, first, last int, acked *[8]int, mu *sync.Mutex) *worker {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workerEnv+"="+strconv.Itoa(w), "MP_ROOT="+root, "MP_MODE="+mode,
		"MP_FIRST="+strconv.Itoa(first), "MP_LAST="+strconv.Itoa(last))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wk := &worker{cmd, make(chan error, 1)}
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
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, stderr.String())
		}
		wk.done <- err
	}()
	return wk
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
	var ws []*worker
	for w := range workers {
		ws = append(ws, startWorker(t, root, "auto", w, 1, txs, &acked, &mu))
	}
	for w, wk := range ws {
		if err := <-wk.done; err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
	}
	for w := range workers {
		if acked[w] != txs {
			t.Fatalf("worker %d acknowledged %d of %d", w, acked[w], txs)
		}
	}
	verifyMP(t, readValue(t, root), workers, acked, txs)
}

// TestMultiProcessKills: the same with random writers SIGKILLed mid-run and
// restarted, then `rangetx recover`: every acknowledged write present,
// nothing torn, no journal left behind.
func TestMultiProcessKills(t *testing.T) {
	for _, c := range []struct {
		mode           string
		workers, txs   int
		kills          int
		minGap, maxGap time.Duration
	}{
		{"journal", 8, 50, 16, 10 * time.Millisecond, 60 * time.Millisecond},
		{"copy", 4, 12, 6, 20 * time.Millisecond, 120 * time.Millisecond},
	} {
		t.Run(c.mode, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			root := setupMP(t)
			var acked [8]int
			var mu sync.Mutex
			ws := make([]*worker, c.workers)
			for w := range c.workers {
				ws[w] = startWorker(t, root, c.mode, w, 1, c.txs, &acked, &mu)
			}
			kills := 0
			for kills < c.kills {
				time.Sleep(c.minGap + time.Duration(rng.Int64N(int64(c.maxGap-c.minGap))))
				var running []int
				for w, wk := range ws {
					if wk != nil {
						running = append(running, w)
					}
				}
				if len(running) == 0 {
					break
				}
				w := running[rng.IntN(len(running))]
				ws[w].cmd.Process.Kill()
				<-ws[w].done
				kills++
				mu.Lock()
				next := acked[w] + 1
				mu.Unlock()
				ws[w] = nil
				if next <= c.txs {
					ws[w] = startWorker(t, root, c.mode, w, next, c.txs, &acked, &mu)
				}
			}
			for w, wk := range ws {
				if wk == nil {
					continue
				}
				if err := <-wk.done; err != nil {
					t.Fatalf("worker %d: %v", w, err)
				}
			}
			r := ok(t, rangetx(t, nil, nil, "recover", "--root", root))
			t.Logf("%d kills; recover: %s", kills, strings.TrimSpace(r.stdout))
			verifyMP(t, readValue(t, root), c.workers, acked, c.txs)
			_, jdir, _ := txn.Layout(root)
			if ids, _ := journal.List(jdir); len(ids) != 0 {
				t.Fatalf("journals left after recover: %v", ids)
			}
		})
	}
}
