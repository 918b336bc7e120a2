package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// The worker protocol: the parent starts Procs workers, each attaches to the
// values and prints "ready"; when all are ready the parent writes "go" to
// each; each runs its writers and prints one JSON workerResult line.
const (
	workerReady = "ready"
	workerGo    = "go"
)

type workerResult struct {
	Latencies []time.Duration `json:"lat_ns"`
	Elapsed   time.Duration   `json:"elapsed_ns"`
	Skipped   string          `json:"skipped,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// workerArgs is the command line of worker proc.
func workerArgs(c Contender, dir string, wl Workload, proc int, lim Limits) []string {
	// This process's share of n writes.
	per := func(n int) int {
		if proc < n%wl.Procs {
			return n/wl.Procs + 1
		}
		return n / wl.Procs
	}
	return []string{
		"--contender", c.Name(), "--dir", dir,
		"--values", strconv.Itoa(wl.Values), "--value-size", strconv.FormatInt(wl.ValueSize, 10),
		"--write-size", strconv.FormatInt(wl.WriteSize, 10), "--writers", strconv.Itoa(wl.Writers),
		"--procs", strconv.Itoa(wl.Procs), "--proc", strconv.Itoa(proc), "--place", strconv.Itoa(int(wl.Place)),
		"--budget", lim.Budget.String(), "--min", strconv.Itoa(per(lim.Min)), "--max", strconv.Itoa(per(lim.Max)),
	}
}

// runProcs runs the workload in wl.Procs worker processes on the values
// that c.Setup made under dir. The latencies are all the workers'; the
// elapsed time is the longest worker's, from "go" to its last write.
func runProcs(ctx context.Context, cfg Config, wl Workload, c Contender, dir string) (lat []time.Duration, elapsed time.Duration, err error) {
	probe, err := c.Attach(ctx, dir) // a contender that cannot share values says so here
	if err != nil {
		return nil, 0, err
	}
	if err := probe.Close(); err != nil {
		return nil, 0, err
	}
	if len(cfg.Worker) == 0 {
		return nil, 0, fmt.Errorf("%w: no worker command for multi-process cells", ErrSkip)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		out    *bufio.Scanner
		stderr bytes.Buffer
	}
	procs := make([]*proc, wl.Procs)
	defer func() { // on every path: no worker outlives the cell
		if err != nil {
			cancel() // kills them
		}
		for _, p := range procs {
			if p == nil {
				continue
			}
			p.stdin.Close()
			if werr := p.cmd.Wait(); werr != nil && err == nil {
				err = fmt.Errorf("worker: %w: %s", werr, bytes.TrimSpace(p.stderr.Bytes()))
			}
		}
	}()
	for i := range procs {
		args := append(append([]string(nil), cfg.Worker[1:]...), workerArgs(c, dir, wl, i, cfg.Plan.Limits)...)
		p := &proc{cmd: exec.CommandContext(ctx, cfg.Worker[0], args...)}
		p.cmd.Env = append(os.Environ(), cfg.WorkerEnv...)
		p.cmd.Stderr = &p.stderr
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			return nil, 0, fmt.Errorf("worker: %w", err)
		}
		stdout, err := p.cmd.StdoutPipe()
		if err != nil {
			return nil, 0, fmt.Errorf("worker: %w", err)
		}
		p.out = bufio.NewScanner(stdout)
		p.out.Buffer(nil, 64<<20)
		if err := p.cmd.Start(); err != nil {
			return nil, 0, fmt.Errorf("worker: %w", err)
		}
		procs[i] = p
	}
	line := func(p *proc) ([]byte, error) {
		if !p.out.Scan() {
			return nil, fmt.Errorf("worker %d exited early: %w", p.cmd.Process.Pid, errors.Join(p.out.Err(), io.ErrUnexpectedEOF))
		}
		return p.out.Bytes(), nil
	}
	for _, p := range procs {
		if l, err := line(p); err != nil || string(l) != workerReady {
			return nil, 0, errors.Join(err, fmt.Errorf("worker: want %q, got %q", workerReady, l))
		}
	}
	cfg.startTimer()
	defer cfg.stopTimer() // runs first: before the workers are waited for
	for _, p := range procs {
		if _, err := io.WriteString(p.stdin, workerGo+"\n"); err != nil {
			return nil, 0, fmt.Errorf("worker: %w", err)
		}
	}
	for _, p := range procs {
		l, err := line(p)
		if err != nil {
			return nil, 0, err
		}
		var wr workerResult
		if err := json.Unmarshal(l, &wr); err != nil {
			return nil, 0, fmt.Errorf("worker result: %w", err)
		}
		switch {
		case wr.Skipped != "":
			return nil, 0, fmt.Errorf("%w: %s", ErrSkip, wr.Skipped)
		case wr.Error != "":
			return nil, 0, errors.New(wr.Error)
		}
		lat = append(lat, wr.Latencies...)
		elapsed = max(elapsed, wr.Elapsed)
	}
	return lat, elapsed, nil
}

// WorkerMain is the body of a worker process of a multi-process cell; its
// arguments come from the parent. It attaches to the values, prints
// "ready", waits for "go" on stdin, runs its writers and prints its result
// as one JSON line.
func WorkerMain(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("contender", "", "contender name")
	dir := fs.String("dir", "", "directory the values are in")
	var wl Workload
	var lim Limits
	var proc, place int
	fs.IntVar(&wl.Values, "values", 1, "values")
	fs.Int64Var(&wl.ValueSize, "value-size", 0, "bytes per value")
	fs.Int64Var(&wl.WriteSize, "write-size", WriteSize, "bytes per write")
	fs.IntVar(&wl.Writers, "writers", 1, "writers in this process")
	fs.IntVar(&wl.Procs, "procs", 1, "processes")
	fs.IntVar(&proc, "proc", 0, "this process's number")
	fs.IntVar(&place, "place", int(Owned), "placement")
	fs.DurationVar(&lim.Budget, "budget", 0, "time budget")
	fs.IntVar(&lim.Min, "min", 1, "minimum writes")
	fs.IntVar(&lim.Max, "max", 1, "maximum writes")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	wl.Place = Placement(place)
	c, err := SelectContenders(*name)
	if err != nil || len(c) != 1 {
		return fmt.Errorf("bench worker: contender %q: %w", *name, err)
	}
	var res workerResult
	t, err := c[0].Attach(ctx, *dir)
	if err != nil {
		if !errors.Is(err, ErrSkip) {
			return fmt.Errorf("bench worker: %w", err)
		}
		res.Skipped = skipReason(err)
	}
	if _, err := fmt.Fprintln(stdout, workerReady); err != nil {
		return err
	}
	if sc := bufio.NewScanner(stdin); !sc.Scan() || sc.Text() != workerGo {
		return errors.Join(errors.New("bench worker: no go"), sc.Err())
	}
	if t != nil {
		res.Latencies, res.Elapsed, err = drive(ctx, t, wl, proc*wl.Writers, lim)
		if err = errors.Join(err, t.Close()); err != nil {
			res.Error = err.Error()
		}
	}
	return json.NewEncoder(stdout).Encode(res)
}
