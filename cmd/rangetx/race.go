package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

// raceKill is how one writer of the shard race dies, the same in both runs.
type raceKill struct {
	worker int
	// midWrite: killed while writing its midWrite-th update into the
	// shard file (rangetx: in place, after the journal commit; naive: half
	// the file written).
	midWrite int
	// afterUpdate: killed from outside the moment it reports update
	// afterUpdate done (acknowledged, or refused by a naive writer),
	// wherever it is by then.
	afterUpdate int
}

var raceKills = []raceKill{
	{worker: 1, midWrite: 4},
	{worker: 4, midWrite: 9},
	{worker: 6, afterUpdate: 20},
}

// raceRun is one run of the workload, naive or through rangetx.
type raceRun struct {
	Acked    int `json:"acked"`    // updates acknowledged
	Failed   int `json:"failed"`   // naive updates refused because the shard read did not decode
	Killed   int `json:"killed"`   // writers killed
	Settled  int `json:"settled"`  // killed writers' journal entries replayed by the next writer of their shard
	Replayed int `json:"replayed"` // journal entries rangetx recover replayed after the run
	raceOutcome
}

// raceReport is the shard race's result.
type raceReport struct {
	Workers int     `json:"workers"`
	Shards  int     `json:"shards"`
	Chunks  int     `json:"chunks"`
	Updates int     `json:"updates"` // planned, over all writers
	Naive   raceRun `json:"naive"`
	Rangetx raceRun `json:"rangetx"`
	Seconds float64 `json:"seconds"`
}

// runShardRace is "rangetx shard race [--root DIR] [--json]": the race
// users of sharded arrays hit, run twice on the same array definition —
// once with a naive read-modify-write of the shard files, once through
// shard.PutChunk — with the same writers killed at the same points. The
// rangetx run must lose nothing; the command fails if it does.
func runShardRace(ctx context.Context, ev env, args []string) error {
	f := newFlags("shard race", true)
	asJSON := f.Bool("json", false, "print the report as JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	root := strings.TrimSpace(*f.root)
	if root == "" {
		root = ev.getenv("RANGETX_ROOT")
	}
	if root == "" {
		if root, err = os.MkdirTemp("", "rangetx-race-"); err != nil {
			return err
		}
		defer os.RemoveAll(root)
	}
	start := time.Now()
	a := raceArrayDef
	rep := raceReport{Workers: raceWorkers, Chunks: len(raceChunks(a)), Updates: raceWorkers * len(racePlan(a, 0))}
	g := a.ShardGrid()
	rep.Shards = g[0] * g[1]
	out := ev.stdout
	if *asJSON {
		out = io.Discard
	}
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	say("rangetx shard race: stores under %s", root)
	say("  array %s: %s %s in %d shards of %s, each %d gzip inner chunks of %s (an update appends its chunk and rewrites the index)",
		raceArray, a.DType, fmtShape(a.Shape), rep.Shards, fmtShape(a.ShardShape), a.Layout().NumChunks(), fmtShape(a.ChunkShape))
	say("  %d writer processes, started together; each owns %d inner chunks in every shard and writes each %d times (%d updates each, %d in all)",
		raceWorkers, a.Layout().NumChunks()/raceWorkers, raceRounds, len(racePlan(a, 0)), rep.Updates)
	for _, k := range raceKills {
		if k.midWrite > 0 {
			say("  writer %d is SIGKILLed in the middle of writing update %d into its shard", k.worker, k.midWrite)
		} else {
			say("  writer %d is SIGKILLed wherever it is when it reports update %d done", k.worker, k.afterUpdate)
		}
	}

	for _, naive := range []bool{true, false} {
		dir := filepath.Join(root, "rangetx")
		if naive {
			dir = filepath.Join(root, "naive")
		}
		run, err := raceOnce(ctx, ev, dir, a, naive)
		if err != nil {
			return err
		}
		if naive {
			rep.Naive = run
			say("")
			say("  naive read-modify-write (read the shard file, replace the chunk, write the file back, fsync):")
			say("    %d updates acknowledged, %d refused because the shard they read did not decode (torn, or caught mid-write); %d writers killed",
				run.Acked, run.Failed, run.Killed)
		} else {
			rep.Rangetx = run
			say("")
			say("  rangetx (shard.PutChunk: each update one journal-mode transaction on its shard):")
			say("    %d updates acknowledged, %d writers killed; the killed writers' committed entries were replayed by the next writer", run.Acked, run.Killed)
			say("    of their shard (%d) and by rangetx recover after the run (%d)", run.Settled, run.Replayed)
		}
		say("    shards that do not decode:                            %d of %d", run.Undecodable, rep.Shards)
		say("    inner chunks missing their last acknowledged write:   %d of %d", run.Lost, rep.Chunks)
		if run.Lost > 0 {
			say("      in shards that do not decode:                       %d", run.LostInTorn)
			say("      overwritten by another writer's stale copy:         %d", run.Lost-run.LostInTorn)
		}
		if run.Unexpected > 0 {
			say("    inner chunks holding garbage or a version never written: %d", run.Unexpected)
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	if *asJSON {
		enc := json.NewEncoder(ev.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	if r := rep.Rangetx; r.Undecodable+r.Lost+r.Unexpected > 0 {
		return fmt.Errorf("verification FAILED: through rangetx %d shards do not decode, %d inner chunks lost, %d unexpected",
			r.Undecodable, r.Lost, r.Unexpected)
	}
	say("  through rangetx every acknowledged inner chunk is present and every shard decodes; done in %s",
		time.Since(start).Round(time.Millisecond))
	return nil
}

// fmtShape formats a shape as 64x64.
func fmtShape(s []int) string { return strings.ReplaceAll(fmtInts(s), ",", "x") }

// raceOnce creates the array in dir (which must not hold one), runs the
// writers with their kills, recovers (rangetx) and checks the shard files.
func raceOnce(ctx context.Context, ev env, dir string, a shard.Array, naive bool) (raceRun, error) {
	var run raceRun
	e, err := txn.Open(ctx, dir, &txn.Options{Logger: quietLogger(ev)})
	if err != nil {
		return run, err
	}
	err = shard.CreateArray(ctx, e, raceArray, a)
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return run, err
	}

	writers := make([]*raceWriter, raceWorkers)
	for w := range writers {
		rw, err := startRaceWriter(ctx, dir, w, naive)
		if err != nil {
			for _, rw := range writers[:w] {
				rw.cmd.Process.Kill()
				rw.cmd.Wait()
			}
			return run, err
		}
		writers[w] = rw
	}
	for _, rw := range writers { // all ready, then all go
		if err := rw.waitReady(); err != nil {
			return run, err
		}
	}
	for _, rw := range writers {
		io.WriteString(rw.stdin, "go\n")
	}
	var wg sync.WaitGroup
	errs := make([]error, raceWorkers)
	for w, rw := range writers {
		wg.Go(func() { errs[w] = rw.finish() })
	}
	wg.Wait()

	acked, inflight := map[int]int{}, map[int]int{}
	for w, rw := range writers {
		if errs[w] != nil {
			return run, errs[w]
		}
		plan := racePlan(a, w)
		for _, n := range rw.acks {
			u := plan[n-1]
			acked[u.id] = max(acked[u.id], u.version)
		}
		run.Acked += len(rw.acks)
		run.Failed += rw.failed
		run.Settled += rw.settled
		if rw.killed {
			run.Killed++
			if next := rw.lastDone; next < len(plan) {
				inflight[plan[next].id] = plan[next].version
			}
		}
	}
	if !naive {
		rep, err := recoverRoot(ctx, dir, quietLogger(ev), nil)
		if err != nil {
			return run, err
		}
		run.Replayed = rep.Replayed
	}
	run.raceOutcome, err = raceCheck(dir, a, acked, inflight)
	return run, err
}

// raceWriter is one writer process of the shard race.
type raceWriter struct {
	w        int
	naive    bool
	kill     raceKill
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    *bufio.Scanner
	stderr   strings.Builder
	errDone  chan struct{}
	acks     []int // update numbers acknowledged
	failed   int
	settled  int // entries of dead writers it replayed
	lastDone int // highest update number acknowledged or refused
	killed   bool
	mu       sync.Mutex // guards killed against the stderr reader
}

func startRaceWriter(ctx context.Context, dir string, w int, naive bool) (*raceWriter, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	rw := &raceWriter{w: w, naive: naive, errDone: make(chan struct{})}
	for _, k := range raceKills {
		if k.worker == w {
			rw.kill = k
		}
	}
	args := []string{raceWorkerCmd, "--root", dir, "--worker", strconv.Itoa(w)}
	rw.cmd = exec.CommandContext(ctx, exe)
	rw.cmd.Env = os.Environ()
	if naive {
		args = append(args, "--naive")
		if rw.kill.midWrite > 0 {
			args = append(args, "--tear-at", strconv.Itoa(rw.kill.midWrite))
		}
	} else if rw.kill.midWrite > 0 {
		rw.cmd.Env = append(rw.cmd.Env, fmt.Sprintf("%s=%s@%d:pause", crashpoint.Env, crashpoint.JournalMidApply, rw.kill.midWrite))
	}
	rw.cmd.Args = append([]string{exe}, args...)
	if rw.stdin, err = rw.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := rw.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := rw.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := rw.cmd.Start(); err != nil {
		return nil, err
	}
	rw.lines = bufio.NewScanner(stdout)
	go func() { // kill at the crash point
		defer close(rw.errDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "crashpoint ") {
				rw.die()
			} else {
				rw.stderr.WriteString(sc.Text() + "\n")
			}
		}
	}()
	return rw, nil
}

func (rw *raceWriter) die() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.killed = true
	rw.cmd.Process.Kill()
}

// waitReady waits for the writer's "ready".
func (rw *raceWriter) waitReady() error {
	if rw.lines.Scan() && rw.lines.Text() == "ready" {
		return nil
	}
	rw.cmd.Process.Kill()
	return rw.finish()
}

// finish reads the writer's acknowledgements until it exits or is killed.
func (rw *raceWriter) finish() error {
	for rw.lines.Scan() {
		line := rw.lines.Text()
		if s, ok := strings.CutPrefix(line, "ack "); ok {
			n, _ := strconv.Atoi(s)
			rw.acks = append(rw.acks, n)
			rw.done(n)
		} else if s, ok := strings.CutPrefix(line, "settled "); ok {
			rw.settled, _ = strconv.Atoi(s)
		} else if s, ok := strings.CutPrefix(line, "fail "); ok {
			n, _, _ := strings.Cut(s, ":")
			rw.failed++
			rw.done(atoi(n))
		}
	}
	<-rw.errDone
	err := rw.cmd.Wait()
	rw.mu.Lock()
	killed := rw.killed
	rw.mu.Unlock()
	switch {
	case killed:
		return nil
	case err != nil:
		return fmt.Errorf("writer %d: %w: %s", rw.w, err, strings.TrimSpace(rw.stderr.String()))
	case rw.kill != (raceKill{}) && !rw.naive:
		// A naive writer may find every shard it tries torn, and so
		// never write again: it then misses its kill point.
		return fmt.Errorf("writer %d finished without reaching its kill point", rw.w)
	}
	return nil
}

// done notes that update n returned, and kills the writer if it is to die
// then.
func (rw *raceWriter) done(n int) {
	rw.lastDone = n
	if n == rw.kill.afterUpdate {
		rw.die()
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
