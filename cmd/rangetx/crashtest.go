package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/rangetx/rangetx/internal/crashtest"
)

// crashtestWorkerCmd is the hidden command a crash test starts its writer
// processes with (this same executable).
const crashtestWorkerCmd = "crashtest-worker"

// runCrashtest runs the crash-consistency harness of internal/crashtest:
//
//	rangetx crashtest --root DIR --workers W --kills N [--mode journal|copy|auto|all] [--seed S] [--json]
//
// DIR is created if missing and must be empty otherwise (exit 2); it is left
// in place for inspection (DIR/store, DIR/acks). --mode defaults to all
// (each transaction picks journal, copy or auto at random); --seed defaults
// to a random seed below 2^53, printed for replay. The hidden --sizes LIST
// (e.g. 4k,256k) replaces the default value sizes 4k,256k,4M,64M. The
// report is "name: value" lines, or one JSON object with --json; a progress
// line goes to stderr every 10 seconds. Exit status 1 if any violation was
// found or the run was interrupted.
func runCrashtest(ctx context.Context, ev env, args []string) error {
	f := newFlags("crashtest", true)
	workers := f.Int("workers", 0, "writer processes")
	kills := f.Int("kills", 0, "kills to make")
	mode := f.String("mode", crashtest.ModeAll, "journal, copy, auto or all")
	seed := f.Uint64("seed", 0, "seed (default random)")
	sizeList := f.String("sizes", "", "initial value sizes, e.g. 4k,256k,4M,64M")
	asJSON := f.Bool("json", false, "print the report as JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	// Not from RANGETX_ROOT: the directory must be a fresh one, never a
	// store that happens to be configured.
	dir := strings.TrimSpace(*f.root)
	switch {
	case dir == "":
		return fmt.Errorf("%w: --root DIR is required", errUsage)
	case *workers < 1:
		return fmt.Errorf("%w: --workers W (at least 1) is required", errUsage)
	case *kills < 1:
		return fmt.Errorf("%w: --kills N (at least 1) is required", errUsage)
	}
	seeded := false
	f.Visit(func(fl *flag.Flag) { seeded = seeded || fl.Name == "seed" })
	if !seeded {
		*seed = rand.Uint64() >> 11 // exact in a JSON number
	}
	sizes := crashtest.DefaultSizes
	if *sizeList != "" {
		if sizes, err = crashtest.ParseSizes(*sizeList); err != nil {
			return fmt.Errorf("%w: --sizes: %v", errUsage, err)
		}
	}
	if _, err := crashtest.NewModel(*seed, *mode, sizes); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := crashtest.CheckDir(dir); err != nil {
		return fmt.Errorf("%w: --root: %v", errUsage, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rep, err := crashtest.Run(ctx, crashtest.Config{
		Dir: dir, Workers: *workers, Kills: *kills, Mode: *mode, Seed: *seed, Sizes: sizes,
		Command:  []string{exe, crashtestWorkerCmd},
		Progress: ev.stderr,
		Logger:   quietLogger(ev),
	})
	if err != nil {
		return fmt.Errorf("%w (seed %d)", err, *seed)
	}
	if *asJSON {
		err = rep.WriteJSON(ev.stdout)
	} else {
		err = rep.WriteText(ev.stdout)
	}
	switch {
	case err != nil:
		return err
	case rep.Violations > 0:
		return fmt.Errorf("%d violations (replay with --seed %d --mode %s)", rep.Violations, rep.Seed, rep.Mode)
	case rep.Interrupted:
		return fmt.Errorf("interrupted after %d of %d kills", rep.Kills, *kills)
	}
	return nil
}

// runCrashtestWorker is one writer process of a crash test.
func runCrashtestWorker(ctx context.Context, ev env, args []string) error {
	return crashtest.WorkerMain(ctx, args, ev.stdout, ev.stderr)
}
