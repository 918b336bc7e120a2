package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

// raceKill is how one writer of the shard race dies, the same in every run.
type raceKill struct {
	worker int
	// midWrite: killed halfway through writing a shard. Through rangetx,
	// in the middle of the in-place write of the midWrite-th commit its
	// engine applies (after that commit's commit point; the writer goes on
	// committing meanwhile). Without rangetx, halfway through writing the
	// file in its first write from update midWrite on.
	midWrite int
	// afterUpdate: killed from outside as soon as the harness reads its
	// report of update afterUpdate, wherever the writer is by then.
	afterUpdate int
}

var raceKills = []raceKill{
	{worker: 1, midWrite: 4},
	{worker: 4, midWrite: 9},
	{worker: 6, afterUpdate: 20},
}

// raceRun is one run of the workload by one method.
type raceRun struct {
	Acked    int `json:"acked"`    // updates acknowledged
	Failed   int `json:"failed"`   // updates refused because the shard read did not decode (without rangetx)
	Killed   int `json:"killed"`   // writers killed
	Settled  int `json:"settled"`  // rangetx: killed writers' journal entries replayed by the next writer of their shard
	Replayed int `json:"replayed"` // rangetx: journal entries rangetx recover replayed after the run
	raceOutcome
}

// raceReport is the shard race's result.
type raceReport struct {
	Workers int     `json:"workers"`
	Shards  int     `json:"shards"`
	Chunks  int     `json:"chunks"`
	Updates int     `json:"updates"`      // planned, over all writers
	InPlace raceRun `json:"naive"`        // read-modify-write, file rewritten in place
	Rename  raceRun `json:"naive_rename"` // read-modify-write, file replaced by rename
	Rangetx raceRun `json:"rangetx"`
	Seconds float64 `json:"seconds"`
}

// runShardRace is "rangetx shard race [--root DIR] [--json]": the race
// users of sharded arrays hit, run three times on the same array definition,
// with the same writers killed at the same points: twice with a
// read-modify-write of the shard files (rewritten in place, and replaced
// through a renamed temporary file), once through shard.PutChunk. The
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
	root, remove, err := f.demoRoot(ev, "rangetx-race-")
	if err != nil {
		return err
	}
	defer remove()
	for _, m := range raceMethods {
		if _, err := os.Lstat(filepath.Join(root, string(m))); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: --root %s already holds %s (from an earlier run?): give a new directory", errUsage, root, m)
		}
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
			say("  writer %d is SIGKILLed halfway through writing a shard (around its update %d)", k.worker, k.midWrite)
		} else {
			say("  writer %d is SIGKILLed as soon as it reports update %d, wherever it is then", k.worker, k.afterUpdate)
		}
	}

	for _, m := range raceMethods {
		run, err := raceOnce(ctx, ev, filepath.Join(root, string(m)), a, m)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		say("")
		switch m {
		case raceInPlace:
			rep.InPlace = run
			say("  without rangetx, in place (read the shard file, replace the chunk, rewrite the file, fsync):")
		case raceRename:
			rep.Rename = run
			say("  without rangetx, by rename (read the shard file, replace the chunk, write a new file, fsync, rename it over):")
		case raceRangetx:
			rep.Rangetx = run
			say("  rangetx (shard.PutChunk: each update one journal-mode transaction on its shard):")
		}
		say("    %d updates acknowledged, %d refused because the shard read did not decode; %d writers killed", run.Acked, run.Failed, run.Killed)
		if m == raceRangetx {
			say("    the killed writers' committed entries were replayed by the next writer of their shard (%d) and by rangetx recover (%d)",
				run.Settled, run.Replayed)
		}
		say("    shards that do not decode:                            %d of %d", run.Undecodable, rep.Shards)
		say("    inner chunks missing their last acknowledged write:   %d of %d", run.Lost, rep.Chunks)
		if run.Lost > 0 {
			say("      in shards that do not decode:                       %d", run.LostInTorn)
			say("      holding bytes that decode to no version:            %d", run.LostGarbled)
			say("      holding an older version (another writer's copy):   %d", run.LostStale)
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

// raceOnce creates the array in dir, runs the writers with their kills,
// recovers (rangetx) and checks the shard files.
func raceOnce(ctx context.Context, ev env, dir string, a shard.Array, m raceMethod) (raceRun, error) {
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

	var writers []*raceWriter
	stopAll := func() {
		for _, rw := range writers {
			rw.die()
			rw.finish()
		}
	}
	for w := range raceWorkers {
		rw, err := startRaceWriter(ctx, dir, w, m)
		if err != nil {
			stopAll()
			return run, err
		}
		writers = append(writers, rw)
	}
	for _, rw := range writers { // all ready, then all go
		if err := rw.waitReady(); err != nil {
			stopAll()
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
	if err := errors.Join(errs...); err != nil {
		return run, err
	}

	acked, inflight := map[int]int{}, map[int]int{}
	for w, rw := range writers {
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
			// A writer makes its updates one at a time and reports each
			// as soon as it returns, so only the update after the last
			// one reported can have been stored without a report.
			if next := rw.lastDone; next < len(plan) {
				inflight[plan[next].id] = plan[next].version
			}
		}
	}
	if m == raceRangetx {
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
	method   raceMethod
	plan     int // its number of updates
	kill     raceKill
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    *bufio.Scanner
	stderr   strings.Builder // what it printed besides the crash point
	errDone  chan struct{}   // closed when stderr is read to its end
	acks     []int           // update numbers acknowledged
	failed   int
	settled  int // entries of dead writers its engine replayed, as of its last report
	lastDone int // highest update number reported
	bad      error

	mu     sync.Mutex // guards killed and waited
	killed bool
	waited bool
}

func startRaceWriter(ctx context.Context, dir string, w int, m raceMethod) (*raceWriter, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	rw := &raceWriter{w: w, method: m, plan: len(racePlan(raceArrayDef, w)), errDone: make(chan struct{})}
	for _, k := range raceKills {
		if k.worker == w {
			rw.kill = k
		}
	}
	args := []string{raceWorkerCmd, "--root", dir, "--worker", strconv.Itoa(w), "--method", string(m)}
	// Only the crash point armed here, never one from the caller's
	// environment.
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, crashpoint.Env+"=") {
			environ = append(environ, kv)
		}
	}
	if rw.kill.midWrite > 0 {
		if m == raceRangetx {
			environ = append(environ, fmt.Sprintf("%s=%s@%d:pause", crashpoint.Env, crashpoint.JournalMidApply, rw.kill.midWrite))
		} else {
			args = append(args, "--tear-at", strconv.Itoa(rw.kill.midWrite))
		}
	}
	rw.cmd = exec.CommandContext(ctx, exe, args...)
	rw.cmd.Env = environ
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

// die SIGKILLs the writer, unless it was already waited for.
func (rw *raceWriter) die() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if !rw.waited {
		rw.killed = true
		rw.cmd.Process.Kill()
	}
}

// waitReady waits for the writer's "ready".
func (rw *raceWriter) waitReady() error {
	if rw.lines.Scan() && rw.lines.Text() == "ready" {
		return nil
	}
	rw.die()
	if err := rw.finish(); err != nil {
		return err
	}
	return fmt.Errorf("writer %d did not start", rw.w)
}

// finish reads the writer's reports until it exits or is killed, and
// waits for it. A killed writer must have died of its SIGKILL, silently.
func (rw *raceWriter) finish() error {
	for rw.lines.Scan() {
		if err := rw.report(rw.lines.Text()); err != nil && rw.bad == nil {
			rw.bad = err
		}
	}
	<-rw.errDone
	err := rw.cmd.Wait()
	rw.mu.Lock()
	rw.waited = true
	killed := rw.killed
	rw.mu.Unlock()
	if ws, ok := rw.cmd.ProcessState.Sys().(syscall.WaitStatus); killed && !(ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
		// The kill came too late: the writer had exited on its own.
		killed = false
		rw.mu.Lock()
		rw.killed = false
		rw.mu.Unlock()
	} else if killed {
		err = nil
	}
	msg := strings.TrimSpace(rw.stderr.String())
	switch {
	case rw.bad != nil:
		return fmt.Errorf("writer %d: %w", rw.w, rw.bad)
	case err != nil:
		return fmt.Errorf("writer %d: %w: %s", rw.w, err, msg)
	case msg != "":
		return fmt.Errorf("writer %d printed: %s", rw.w, msg)
	case !killed && rw.kill.midWrite > 0 && rw.method == raceRangetx:
		// Without rangetx a writer may find every shard it tries torn,
		// and so never write again: it then misses its kill point.
		return fmt.Errorf("writer %d finished without reaching its kill point", rw.w)
	}
	return nil
}

// report takes one line of the writer's output: "ack N [SETTLED]" or
// "fail N: cause".
func (rw *raceWriter) report(line string) error {
	verb, rest, _ := strings.Cut(line, " ")
	var fields []string
	switch verb {
	case "ack":
		fields = strings.Fields(rest)
	case "fail":
		n, _, _ := strings.Cut(rest, ":")
		fields = []string{n}
	default:
		return fmt.Errorf("unexpected output %q", line)
	}
	if len(fields) == 0 {
		return fmt.Errorf("unexpected output %q", line)
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n != rw.lastDone+1 || n > rw.plan {
		return fmt.Errorf("report %q out of order after update %d", line, rw.lastDone)
	}
	rw.lastDone = n
	if verb == "fail" {
		rw.failed++
	} else {
		rw.acks = append(rw.acks, n)
		if len(fields) > 1 {
			rw.settled, _ = strconv.Atoi(fields[1])
		}
	}
	if n == rw.kill.afterUpdate {
		rw.die()
	}
	return nil
}
