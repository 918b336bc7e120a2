package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/txn"
)

// The demo's embedded default workload.
const (
	demoKey       = "demo/shard"
	demoSize      = 64 << 20
	demoWorkers   = 4
	demoTxs       = 25
	demoBlock     = 4 << 10 // bytes per range; each transaction writes two
	demoKillAtTx  = 10      // the killed writer dies inside this transaction
	demoWorkerCmd = "demo-worker"
)

// demoBase is the value's initial content at byte i.
func demoBase(b []byte, off int64) {
	for i := range b {
		x := uint64(off + int64(i))
		b[i] = byte(x*31 + x>>12)
	}
}

// demoRanges returns where writer w's transaction s writes: two blocks far
// apart in w's own quarter of the value.
func demoRanges(w, s int) [2]int64 {
	region := int64(demoSize / demoWorkers)
	slot := int64(s%64) * demoBlock
	start := int64(w) * region
	return [2]int64{start + slot, start + region/2 + slot}
}

// demoBlockData is the self-describing content of one block: writer,
// transaction, part, then bytes derived from them, then a CRC.
func demoBlockData(w, s, part int) []byte {
	b := make([]byte, demoBlock)
	copy(b, fmt.Sprintf("rangetx demo w=%d tx=%d part=%d ", w, s, part))
	seed := uint32(w*1_000_003 + s*7919 + part)
	for i := 64; i < len(b)-4; i++ {
		seed = seed*1664525 + 1013904223
		b[i] = byte(seed >> 24)
	}
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	return b
}

// demoExpected is the value after writer w's transactions 1..n[w].
func demoExpected(n [demoWorkers]int) []byte {
	v := make([]byte, demoSize)
	demoBase(v, 0)
	for w := range demoWorkers {
		for s := 1; s <= n[w]; s++ {
			for part, off := range demoRanges(w, s) {
				copy(v[off:], demoBlockData(w, s, part))
			}
		}
	}
	return v
}

func runDemo(ctx context.Context, ev env, args []string) error {
	f := newFlags("demo", true)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	root, remove, err := f.demoRoot(ev, "rangetx-demo-")
	if err != nil {
		return err
	}
	defer remove()
	out := ev.stdout
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	start := time.Now()
	say("rangetx demo: store at %s", root)

	// 1. A 64 MiB value, written atomically.
	e, err := txn.Open(ctx, root, &txn.Options{Logger: quietLogger(ev)})
	if err != nil {
		return err
	}
	base := make([]byte, demoSize)
	demoBase(base, 0)
	if err := e.Put(ctx, demoKey, bytes.NewReader(base)); err != nil {
		e.Close()
		return err
	}
	e.Close()
	say("  wrote %s: %d MiB", demoKey, demoSize>>20)

	// 2. Writer processes updating disjoint ranges; writer 0 is killed in
	// the middle of a commit: journal committed, value half written.
	say("  %d writer processes, %d transactions each, 2 ranges of %d KiB per transaction (journal mode)",
		demoWorkers, demoTxs, demoBlock>>10)
	var acked [demoWorkers]int
	killed := make(chan demoWriter, demoWorkers)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for w := range demoWorkers {
		wg.Go(func() {
			killAt := 0
			if w == 0 {
				killAt = demoKillAtTx
			}
			n, dw, err := runDemoWriter(ctx, root, w, 1, killAt)
			mu.Lock()
			defer mu.Unlock()
			acked[w] = n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if dw.pid != 0 {
				killed <- dw
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if len(killed) != 1 {
		return fmt.Errorf("writer 0 never reached its crash point")
	}
	dw := <-killed
	say("  writer 0 (pid %d) was SIGKILLed inside transaction %d, after its journal commit, with one of its two ranges written",
		dw.pid, demoKillAtTx)
	_, jdir, _ := txn.Layout(root)
	if ids, _ := journal.List(jdir); !slices.Contains(ids, dw.journal) {
		say("  the next writer to lock the value found writer 0's journal named in the lock file and replayed the entry first")
	} else {
		say("  nobody locked the value after writer 0 died: its entry waits for recovery")
	}
	say("  writers acknowledged %v transactions", acked)

	// 3. One more writer killed mid-commit, with nobody after it: what a
	// killed job leaves on disk without recovery is a torn value.
	from, killAt := demoKillAtTx+1, demoTxs-demoKillAtTx
	n, dw, err := runDemoWriter(ctx, root, 0, from, killAt)
	if err != nil {
		return err
	}
	if dw.pid == 0 {
		return fmt.Errorf("writer 0 never reached its second crash point")
	}
	// The writer applies each commit, after acknowledging it, before the
	// next, so it died in the middle of applying its killAt-th.
	last := from + killAt - 1
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(demoKey)))
	if err != nil {
		return err
	}
	torn := demoRanges(0, last)
	first := bytes.Equal(raw[torn[0]:torn[0]+demoBlock], demoBlockData(0, last, 0))
	second := bytes.Equal(raw[torn[1]:torn[1]+demoBlock], demoBlockData(0, last, 1))
	say("  writer 0 restarted, acknowledged up to transaction %d, and was SIGKILLed inside transaction %d (pid %d)", n, last, dw.pid)
	say("  on disk now, that transaction's two ranges are new=%t and new=%t: a torn value", first, second)

	// 4. Recovery replays the committed journal entry.
	rep, err := recoverRoot(ctx, root, quietLogger(ev), nil)
	if err != nil {
		return err
	}
	say("  rangetx recover: replayed %d journal entr%s, removed %d temporary files", rep.Replayed, plural(rep.Replayed), len(rep.TempRemoved))

	// 5. Every byte checked against a model of the acknowledged writes:
	// both killed transactions were committed to the journal, so both
	// must be present, and so must everything acknowledged. The one
	// transaction after those may be there too: the kill may have come
	// after its commit point and before its acknowledgement.
	acked[0] = max(n, last)
	e, err = txn.Open(ctx, root, &txn.Options{Logger: quietLogger(ev)})
	if err != nil {
		return err
	}
	got, err := e.Get(ctx, demoKey)
	e.Close()
	if err != nil {
		return err
	}
	want := demoExpected(acked)
	if !bytes.Equal(got, want) && acked[0] < demoTxs {
		acked[0]++
		if next := demoExpected(acked); bytes.Equal(got, next) {
			want = next
		}
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		return fmt.Errorf("verification FAILED: first difference at byte %d", i)
	}
	say("  verified all %d bytes: every acknowledged transaction is present, both interrupted ones are whole, nothing torn", len(got))
	say("  done in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// demoWriter identifies a writer process the demo killed.
type demoWriter struct {
	pid     int
	journal string
}

// runDemoWriter runs writer w's transactions first..demoTxs in a child
// process. If killAt > 0 the child is SIGKILLed in the middle of applying
// the killAt-th transaction it runs (in place, after its journal commit
// and its acknowledgement). It returns the last transaction acknowledged.
func runDemoWriter(ctx context.Context, root string, w, first, killAt int) (int, demoWriter, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, demoWriter{}, err
	}
	cmd := exec.CommandContext(ctx, exe, demoWorkerCmd, "--root", root, "--worker", strconv.Itoa(w), "--first", strconv.Itoa(first))
	cmd.Env = os.Environ()
	if killAt > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%s@%d:pause", crashpoint.Env, crashpoint.JournalMidApply, killAt))
	}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return 0, demoWriter{}, err
	}
	var dw demoWriter
	var msg strings.Builder
	stderrDone := make(chan struct{})
	go func() { // kill at the crash point
		defer close(stderrDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "crashpoint ") {
				dw.pid = cmd.Process.Pid
				cmd.Process.Kill()
			} else {
				msg.WriteString(sc.Text() + "\n")
			}
		}
	}()
	n := first - 1
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "ack "); ok {
			n, _ = strconv.Atoi(s)
		} else if id, ok := strings.CutPrefix(line, "journal "); ok {
			dw.journal = id
		}
	}
	<-stderrDone
	err = cmd.Wait()
	if dw.pid != 0 {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("writer %d: %w: %s", w, err, msg.String())
	}
	return n, dw, err
}

func plural(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

// runDemoWorker is one demo writer process: it prints "ack N" after
// transaction N commits, and waits for it to be written in place before
// the next.
func runDemoWorker(ctx context.Context, ev env, args []string) error {
	f := newFlags(demoWorkerCmd, true)
	w := f.Int("worker", 0, "writer number")
	first := f.Int("first", 1, "first transaction number")
	if _, err := f.parse(args); err != nil {
		return err
	}
	e, err := openEngine(ctx, ev, f, txn.ModeJournal, false)
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Fprintf(ev.stdout, "journal %s\n", e.JournalID())
	for s := *first; s <= demoTxs; s++ {
		err := txn.Do(ctx, e, demoKey, func(tx *txn.Tx) error {
			for part, off := range demoRanges(*w, s) {
				if _, err := tx.WriteAt(demoBlockData(*w, s, part), off); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(ev.stdout, "ack %d\n", s)
		// Each transaction is written in place before the next begins,
		// so the demo can kill a writer in the middle of one specific
		// transaction's in-place write, with nothing committed after it.
		if err := e.Flush(ctx); err != nil {
			return err
		}
	}
	return nil
}
