package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"
)

// Config is what Run runs.
type Config struct {
	Plan       Plan
	Scenarios  []int        // scenario numbers; empty runs all
	Contenders []Contender  // empty runs Contenders()
	Dir        string       // where each cell's temporary directory goes; "" is os.TempDir()
	Worker     []string     // command line that runs WorkerMain, for multi-process cells
	WorkerEnv  []string     // extra environment of Worker
	Logger     *slog.Logger // progress, one line per cell; nil discards

	// Timer, if set, is started in each cell just before the writers
	// start, after the setup, and stopped when the last write has ended,
	// before the cleanup. A *testing.B is one.
	Timer interface {
		StartTimer()
		StopTimer()
	}
}

// Result is the outcome of one cell: one contender at one parameter value
// of one scenario.
type Result struct {
	Scenario  int           `json:"scenario"`
	Contender string        `json:"contender"`
	Param     string        `json:"param"`
	Values    int           `json:"values"`
	ValueSize int64         `json:"value_size"`
	WriteSize int64         `json:"write_size"`
	Writers   int           `json:"writers"` // in all processes
	Procs     int           `json:"procs"`
	Writes    int           `json:"writes"`
	Seconds   float64       `json:"seconds"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	TxPerSec  float64       `json:"tx_per_s"`
	MBPerSec  float64       `json:"mb_per_s"`
	Skipped   string        `json:"skipped,omitempty"` // why the contender cannot run this cell
	Error     string        `json:"error,omitempty"`
}

// OK reports whether the cell ran and measured something.
func (r Result) OK() bool { return r.Skipped == "" && r.Error == "" && r.Writes > 0 }

// Run runs every selected cell: for each scenario, for each parameter
// value, for each contender, in a fresh temporary directory that it removes
// afterwards. A cell that fails is reported in its Result; Run itself fails
// only on a bad Config or when ctx ends.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	contenders := cfg.Contenders
	if len(contenders) == 0 {
		contenders = Contenders()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var results []Result
	for _, sc := range cfg.Plan.selectScenarios(cfg.Scenarios) {
		for _, cell := range sc.Cells {
			if err := cell.Workload.Validate(); err != nil {
				return results, fmt.Errorf("scenario %d: %w", sc.ID, err)
			}
			for _, c := range contenders {
				start := time.Now()
				r := RunCell(ctx, cfg, sc.ID, cell, c)
				if err := ctx.Err(); err != nil {
					return results, err
				}
				attrs := []any{"scenario", sc.ID, "param", cell.Param, "contender", c.Name(),
					"writes", r.Writes, "p50", r.P50, "tx_per_s", round(r.TxPerSec), "took", time.Since(start).Round(time.Millisecond)}
				switch {
				case r.Skipped != "":
					attrs = append(attrs, "skipped", r.Skipped)
				case r.Error != "":
					attrs = append(attrs, "error", r.Error)
				}
				log.Info("bench cell", attrs...)
				results = append(results, r)
			}
		}
	}
	return results, nil
}

func (cfg Config) startTimer() {
	if cfg.Timer != nil {
		cfg.Timer.StartTimer()
	}
}

func (cfg Config) stopTimer() {
	if cfg.Timer != nil {
		cfg.Timer.StopTimer()
	}
}

func round(f float64) float64 { return math.Round(f*10) / 10 }

// RunCell runs one cell: it sets the contender up in a fresh directory
// under cfg.Dir, runs the cell's workload within cfg.Plan.Limits and
// removes the directory.
func RunCell(ctx context.Context, cfg Config, scenario int, cell Cell, c Contender) Result {
	wl := cell.Workload
	r := Result{Scenario: scenario, Contender: c.Name(), Param: cell.Param, Values: wl.Values,
		ValueSize: wl.ValueSize, WriteSize: wl.WriteSize, Writers: wl.Writers * max(1, wl.Procs), Procs: max(1, wl.Procs)}
	lat, elapsed, err := measure(ctx, cfg, wl, c)
	switch {
	case errors.Is(err, ErrSkip):
		r.Skipped = skipReason(err)
	case err != nil:
		r.Error = err.Error()
	default:
		s := Summarize(lat, elapsed)
		r.Writes, r.Seconds, r.P50, r.P99 = s.Writes, s.Elapsed.Seconds(), s.P50, s.P99
		r.TxPerSec, r.MBPerSec = s.TxPerSec(), s.MBPerSec(wl.WriteSize)
	}
	return r
}

// skipReason is the text of a skip error after "skipped: ".
func skipReason(err error) string { return strings.TrimPrefix(err.Error(), ErrSkip.Error()+": ") }

func measure(ctx context.Context, cfg Config, wl Workload, c Contender) (lat []time.Duration, elapsed time.Duration, err error) {
	dir, err := os.MkdirTemp(cfg.Dir, "rangetx-bench-")
	if err != nil {
		return nil, 0, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = fmt.Errorf("bench: %w", rerr)
		}
	}()
	t, err := c.Setup(ctx, dir, wl.Values, wl.ValueSize)
	if err != nil {
		return nil, 0, err
	}
	if wl.Procs > 1 {
		if err := t.Close(); err != nil {
			return nil, 0, err
		}
		return runProcs(ctx, cfg, wl, c, dir)
	}
	cfg.startTimer()
	lat, elapsed, err = drive(ctx, t, wl, 0, cfg.Plan.Limits)
	cfg.stopTimer()
	return lat, elapsed, errors.Join(err, t.Close())
}
