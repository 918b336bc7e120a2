package crashtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/rangetx/rangetx/txn"
	"golang.org/x/sync/errgroup"
)

// WorkerConfig describes one writer.
type WorkerConfig struct {
	Root        string // the store's root
	AckDir      string // where the acknowledgement log goes
	Model       *Model
	Worker      int // slot number
	Incarnation int // how many times this slot was started before
	// MaxTx stops the worker after that many acknowledged transactions;
	// 0 runs until ctx ends.
	MaxTx int
	// Goroutines is how many goroutines of the worker commit at once
	// through its one engine, so that transactions on one value queue
	// behind each other in the commit pipeline and share its groups.
	// Default (0) DefaultGoroutines.
	Goroutines int
	// Out receives the worker's protocol lines: "open REPLAYED TEMPREMOVED
	// JOURNAL" once the engine is open (its recovery done), and "violation
	// TEXT" before it stops on a violation.
	Out    io.Writer
	Logger *slog.Logger // the engine's logger; nil: slog.Default()
}

// DefaultGoroutines is WorkerConfig.Goroutines' default.
const DefaultGoroutines = 3

// RunWorker opens an engine on the store (which runs recovery) and commits
// transactions into randomly chosen values, from cfg.Goroutines goroutines
// at once, until ctx ends or MaxTx are acknowledged. Each transaction reads the value header, checks that the
// last transaction it names is whole, and writes the next one of the model
// (see Model.Plan) in the commit mode the plan asks for; once Commit
// returns nil it is acknowledged in the worker's log. Each transaction is
// also traced to cfg.Logger at level info ("crashtest: begin" with the
// sequence number and mode, "crashtest: committed"), so the engine's own
// log lines fall into a timeline. A violation seen on the way is an error
// wrapping ErrViolation, also printed to Out.
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	err := runWorker(ctx, cfg, out)
	if errors.Is(err, ErrViolation) {
		fmt.Fprintf(out, "violation %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	if ctx.Err() != nil && !errors.Is(err, ErrViolation) {
		return nil
	}
	return err
}

func runWorker(ctx context.Context, cfg WorkerConfig, out io.Writer) error {
	m := cfg.Model
	e, err := txn.Open(ctx, cfg.Root, &txn.Options{Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer e.Close()
	rep := e.Recovered()
	fmt.Fprintf(out, "open %d %d %s\n", rep.Replayed, len(rep.TempRemoved), e.JournalID())
	acks, err := createAckLog(filepath.Join(cfg.AckDir, ackLogName(cfg.Worker, cfg.Incarnation)))
	if err != nil {
		return err
	}
	defer acks.close()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	g := cfg.Goroutines
	if g <= 0 {
		g = DefaultGoroutines
	}
	var left atomic.Int64 // transactions still to start when MaxTx > 0
	left.Store(int64(cfg.MaxTx))
	var wg errgroup.Group
	for gi := range g {
		rng := rand.New(rand.NewPCG(mix(m.Seed, 0x3077)^uint64(gi), uint64(cfg.Worker)<<32|uint64(cfg.Incarnation)))
		wg.Go(func() error {
			for cfg.MaxTx == 0 || left.Add(-1) >= 0 {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err := commitOne(ctx, e, m, rng, acks, log, cfg.Worker); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return wg.Wait()
}

// commitOne commits the next transaction of a randomly chosen value and
// acknowledges it.
func commitOne(ctx context.Context, e *txn.Engine, m *Model, rng *rand.Rand, acks *ackLog, log *slog.Logger, worker int) error {
	i := rng.IntN(len(m.Values))
	key := m.Values[i].Key
	var seq uint64
	err := txn.Do(ctx, e, key, func(tx *txn.Tx) error {
		p, err := m.next(i, tx)
		if err != nil {
			return err
		}
		seq = p.Seq
		log.Info("crashtest: begin", "key", key, "seq", seq, "mode", p.Mode, "resize", p.Resize)
		if err := tx.SetMode(p.Mode); err != nil {
			return err
		}
		if p.Resize {
			if err := tx.Resize(p.Size); err != nil {
				return err
			}
		}
		for _, r := range p.Ranges {
			if _, err := tx.WriteAt(m.Data(p, r), r.Off); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("crashtest: worker %d: %s: %w", worker, key, err)
	}
	log.Info("crashtest: committed", "key", key, "seq", seq)
	return acks.ack(key, seq)
}

// next checks value i as tx sees it and returns the transaction that
// follows the last one applied.
func (m *Model) next(i int, tx *txn.Tx) (Plan, error) {
	size, err := tx.Size()
	if err != nil {
		return Plan{}, err
	}
	h, err := m.CheckLast(i, tx, size)
	if err != nil {
		return Plan{}, err
	}
	return m.Plan(i, h.Seq+1, size), nil
}

// WorkerArgs returns the arguments that make WorkerMain run cfg (all but
// Out, Logger and MaxTx).
func WorkerArgs(cfg WorkerConfig) []string {
	sizes := make([]string, len(cfg.Model.Values))
	for i, v := range cfg.Model.Values {
		sizes[i] = strconv.FormatInt(v.Size, 10)
	}
	return []string{
		"--root", cfg.Root, "--acks", cfg.AckDir,
		"--seed", strconv.FormatUint(cfg.Model.Seed, 10), "--mode", cfg.Model.Mode,
		"--sizes", strings.Join(sizes, ","),
		"--worker", strconv.Itoa(cfg.Worker), "--incarnation", strconv.Itoa(cfg.Incarnation),
		"--goroutines", strconv.Itoa(cfg.Goroutines),
	}
}

// WorkerMain is the body of a worker process: it parses arguments made by
// WorkerArgs and runs RunWorker with Out = stdout and the engine logging
// (from level info: what recovery replayed, and where) to stderr.
func WorkerMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("crashtest-worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg WorkerConfig
	fs.StringVar(&cfg.Root, "root", "", "store root")
	fs.StringVar(&cfg.AckDir, "acks", "", "acknowledgement log directory")
	seed := fs.Uint64("seed", 0, "model seed")
	mode := fs.String("mode", ModeAll, "harness mode")
	sizes := fs.String("sizes", "", "initial value sizes")
	fs.IntVar(&cfg.Worker, "worker", 0, "slot number")
	fs.IntVar(&cfg.Incarnation, "incarnation", 0, "incarnation")
	fs.IntVar(&cfg.MaxTx, "max-tx", 0, "stop after this many transactions")
	fs.IntVar(&cfg.Goroutines, "goroutines", 0, "goroutines committing at once")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("crashtest-worker: %w", err)
	}
	if cfg.Root == "" || cfg.AckDir == "" || fs.NArg() != 0 {
		return errors.New("crashtest-worker: want --root, --acks and no positional arguments")
	}
	sz, err := ParseSizes(*sizes)
	if err != nil {
		return err
	}
	if cfg.Model, err = NewModel(*seed, *mode, sz); err != nil {
		return err
	}
	cfg.Out = stdout
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return RunWorker(ctx, cfg)
}
