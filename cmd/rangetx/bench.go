package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rangetx/rangetx/bench"
)

// benchWorkerCmd is the hidden command a multi-process benchmark cell starts
// its writer processes with (this same executable).
const benchWorkerCmd = "bench-worker"

// runBench runs the benchmark harness of package bench:
//
//	rangetx bench [--quick] [--json] [--out DIR] [--dir TMPDIR] [--scenarios 1,2,...] [--contenders journal,raw,...]
//
// It prints a table per scenario and the targets, or with --json the whole
// report as one JSON object; progress goes to stderr, one line per cell.
// --out DIR also writes results.json, results.csv, scenario2.svg and
// scenario3.svg into DIR. Each cell runs in a fresh directory under TMPDIR
// (default the system's temporary directory), removed afterwards. The
// hidden --tiny runs every scenario with tiny sizes, for tests. Exit status
// 1 if any cell failed.
func runBench(ctx context.Context, ev env, args []string) error {
	f := newFlags("bench", false)
	quick := f.Bool("quick", false, "small sizes and short cells: well under a minute")
	tiny := f.Bool("tiny", false, "tiny sizes, for tests of the harness")
	asJSON := f.Bool("json", false, "print the report as JSON")
	out := f.String("out", "", "also write results.json, results.csv and SVG charts into this directory")
	dir := f.String("dir", "", "directory for the cells' temporary directories (default the system's)")
	scenarioList := f.String("scenarios", "", "comma-separated scenario numbers (default all)")
	contenderList := f.String("contenders", "", "comma-separated contenders (default all: "+strings.Join(bench.ContenderNames(), ",")+")")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	plan := bench.FullPlan()
	switch {
	case *tiny:
		plan = bench.TinyPlan()
	case *quick:
		plan = bench.QuickPlan()
	}
	scenarios, err := parseScenarios(*scenarioList, plan.ScenarioIDs())
	if err != nil {
		return fmt.Errorf("%w: --scenarios: %v", errUsage, err)
	}
	contenders, err := bench.SelectContenders(*contenderList)
	if err != nil {
		return fmt.Errorf("%w: --contenders: %v", errUsage, err)
	}
	if *dir != "" {
		if err := isDir(*dir); err != nil {
			return fmt.Errorf("%w: --dir: %v", errUsage, err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	results, err := bench.Run(ctx, bench.Config{
		Plan: plan, Scenarios: scenarios, Contenders: contenders, Dir: *dir,
		Worker: []string{exe, benchWorkerCmd},
		Logger: slog.New(slog.NewTextHandler(ev.stderr, nil)),
	})
	if err != nil {
		return err
	}
	rep := bench.NewReport(plan, results)
	if *asJSON {
		err = rep.WriteJSON(ev.stdout)
	} else {
		err = rep.WriteText(ev.stdout)
		fmt.Fprintf(ev.stdout, "\n%d cells in %s (plan %s)\n", len(results), time.Since(start).Round(time.Second), plan.Name)
	}
	if err != nil {
		return err
	}
	if *out != "" {
		paths, err := rep.WriteFiles(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(ev.stderr, "wrote %s\n", strings.Join(paths, " "))
	}
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d cells failed", failed, len(results))
	}
	return nil
}

// parseScenarios parses a comma-separated list of scenario numbers, each
// one of valid; "" is all of them.
func parseScenarios(list string, valid []int) ([]int, error) {
	if strings.TrimSpace(list) == "" {
		return valid, nil
	}
	var ids []int
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < valid[0] || n > valid[len(valid)-1] {
			return nil, fmt.Errorf("%q is not a scenario (want %d to %d)", s, valid[0], valid[len(valid)-1])
		}
		ids = append(ids, n)
	}
	return ids, nil
}

// runBenchWorker is one writer process of a multi-process benchmark cell.
func runBenchWorker(ctx context.Context, ev env, args []string) error {
	return bench.WorkerMain(ctx, args, ev.stdin, ev.stdout)
}
