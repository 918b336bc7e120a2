package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The benchmarks run the cells of `rangetx bench`, with the quick run's
// sizes unless -full is given:
//
//	go test -run '^$' -bench . -benchmem ./bench
//	go test -run '^$' -bench 'Scenario2/.*/contender=journal' ./bench -args -full
//
// Each cell's setup is outside the timer. ns/op is wall time per write
// over all writers (so, with many writers, the inverse of throughput);
// p50-ns and p99-ns are single-write latencies; MB/s is payload.
var full = flag.Bool("full", false, "use the sizes of the full run (values up to 1 GiB) instead of the quick run's")

// workerEnv makes the test binary a worker process of a multi-process cell
// (scenario 5).
const workerEnv = "RANGETX_BENCH_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		if err := WorkerMain(context.Background(), os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func benchPlan() Plan {
	if *full {
		return FullPlan()
	}
	return QuickPlan()
}

func BenchmarkScenario1(b *testing.B) { benchScenario(b, 1) }
func BenchmarkScenario2(b *testing.B) { benchScenario(b, 2) }
func BenchmarkScenario3(b *testing.B) { benchScenario(b, 3) }
func BenchmarkScenario4(b *testing.B) { benchScenario(b, 4) }
func BenchmarkScenario5(b *testing.B) { benchScenario(b, 5) }

// benchScenario runs one sub-benchmark per cell and contender, named
// benchstat-style: BenchmarkScenario2/write=64KiB/contender=journal.
func benchScenario(b *testing.B, id int) {
	sc := benchPlan().Scenarios()[id-1]
	for _, cell := range sc.Cells {
		name := cellName(id, cell.Workload)
		for _, c := range Contenders() {
			b.Run(strings.TrimPrefix(name+"/contender="+c.Name(), "/"), func(b *testing.B) {
				benchCell(b, id, cell, c)
			})
		}
	}
}

func cellName(id int, wl Workload) string {
	size := func(n int64) string { return strings.ReplaceAll(Size(n), " ", "") }
	switch id {
	case 2:
		return "write=" + size(wl.WriteSize)
	case 3:
		return "value=" + size(wl.ValueSize)
	case 4:
		return fmt.Sprintf("writers=%d/values=%d", wl.Writers, wl.Values)
	case 5:
		return fmt.Sprintf("procs=%d/writers=%d", wl.Procs, wl.Writers)
	}
	return ""
}

func benchCell(b *testing.B, id int, cell Cell, c Contender) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	p := benchPlan()
	p.Limits = Count(b.N)
	b.StopTimer()
	r := RunCell(context.Background(), Config{
		Plan: p, Dir: b.TempDir(),
		Worker: []string{exe}, WorkerEnv: []string{workerEnv + "=1"},
		Timer: b,
	}, id, cell, c)
	b.StopTimer()
	switch {
	case r.Skipped != "":
		b.Skip(r.Skipped)
	case r.Error != "":
		b.Fatal(r.Error)
	}
	b.SetBytes(r.WriteSize)
	b.ReportMetric(float64(r.P50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(r.P99.Nanoseconds()), "p99-ns")
	b.ReportMetric(r.TxPerSec, "tx/s")
}
