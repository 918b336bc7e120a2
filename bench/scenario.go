package bench

import (
	"fmt"
	"slices"
	"time"
)

// Metric is what a scenario measures first: its table's ratio column
// compares it with rangetx journal mode.
type Metric string

// The metrics.
const (
	Latency    Metric = "latency"    // p50 of single writes; lower is better
	Throughput Metric = "throughput" // transactions per second; higher is better
)

// A Scenario is one measurement, run as one cell per parameter value and
// contender.
type Scenario struct {
	ID     int    `json:"id"`
	Title  string `json:"title"`
	Metric Metric `json:"metric"`
	Cells  []Cell `json:"-"`
}

// A Cell is one parameter value of a scenario.
type Cell struct {
	Param    string // the parameter's value, as printed
	Workload Workload
}

// A Plan sets the sizes, counts and time limits of a run.
type Plan struct {
	Name   string
	Limits Limits // per cell

	Value1      int64   // scenario 1: value size
	WriteSizes  []int64 // scenario 2: write sizes ...
	Value2      int64   // ... into a value of this size
	ValueSizes  []int64 // scenario 3: value sizes
	Writers     []int   // scenario 4: writer counts ...
	Value4      int64   // ... on values of this size
	Procs       int     // scenario 5: processes ...
	ProcWriters int     // ... with this many writers each, on one value of Value4 bytes
}

// WriteSize is the size of every write outside scenario 2's sweep.
const WriteSize = 64 << 10

// ManyValues is the number of values scenario 4 spreads its writers over
// in its second half.
const ManyValues = 16

// Sizes.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// FullPlan is the default run: the sizes of issue 4, about 1.5 s per cell.
func FullPlan() Plan {
	return Plan{
		Name:       "full",
		Limits:     Limits{Budget: 1500 * time.Millisecond, Min: 3, Max: 10000},
		Value1:     256 * MiB,
		WriteSizes: []int64{4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 16 * MiB},
		Value2:     256 * MiB,
		ValueSizes: []int64{1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB},
		Writers:    []int{1, 4, 16, 64},
		Value4:     16 * MiB,
		Procs:      4, ProcWriters: 16,
	}
}

// QuickPlan shrinks the values and the time per cell so that a whole run
// takes well under a minute.
func QuickPlan() Plan {
	return Plan{
		Name:       "quick",
		Limits:     Limits{Budget: 100 * time.Millisecond, Min: 3, Max: 1000},
		Value1:     16 * MiB,
		WriteSizes: []int64{4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB},
		Value2:     16 * MiB,
		ValueSizes: []int64{1 * MiB, 4 * MiB, 16 * MiB, 64 * MiB},
		Writers:    []int{1, 4, 16, 64},
		Value4:     4 * MiB,
		Procs:      4, ProcWriters: 16,
	}
}

// TinyPlan is for tests of the harness itself: every scenario, a few
// writes per cell.
func TinyPlan() Plan {
	return Plan{
		Name:       "tiny",
		Limits:     Limits{Budget: 5 * time.Millisecond, Min: 2, Max: 20},
		Value1:     1 * MiB,
		WriteSizes: []int64{4 * KiB, 64 * KiB},
		Value2:     1 * MiB,
		ValueSizes: []int64{256 * KiB, 1 * MiB},
		Writers:    []int{1, 4},
		Value4:     1 * MiB,
		Procs:      2, ProcWriters: 2,
	}
}

// Scenarios returns the plan's five scenarios.
func (p Plan) Scenarios() []Scenario {
	one := func(value, write int64) Workload {
		return Workload{Values: 1, ValueSize: value, WriteSize: write, Writers: 1, Place: Spread}
	}
	s1 := Scenario{ID: 1, Metric: Latency,
		Title: fmt.Sprintf("one writer, %s writes spread over a %s value", Size(WriteSize), Size(p.Value1)),
		Cells: []Cell{{writeParam(WriteSize), one(p.Value1, WriteSize)}}}
	s2 := Scenario{ID: 2, Metric: Latency,
		Title: fmt.Sprintf("write-size sweep: one writer into a %s value", Size(p.Value2))}
	for _, w := range p.WriteSizes {
		s2.Cells = append(s2.Cells, Cell{writeParam(w), one(p.Value2, w)})
	}
	s3 := Scenario{ID: 3, Metric: Latency,
		Title: fmt.Sprintf("value-size sweep: one writer, %s writes", Size(WriteSize))}
	for _, v := range p.ValueSizes {
		s3.Cells = append(s3.Cells, Cell{valueParam(v), one(v, WriteSize)})
	}
	s4 := Scenario{ID: 4, Metric: Throughput,
		Title: fmt.Sprintf("concurrent writers in one process on 1 or %d values of %s; writer w owns the %s at offset (w div values) × %s of value w mod values",
			ManyValues, Size(p.Value4), Size(WriteSize), Size(WriteSize))}
	for _, values := range []int{1, ManyValues} {
		for _, w := range p.Writers {
			s4.Cells = append(s4.Cells, Cell{concurrentParam(1, w, values),
				Workload{Values: values, ValueSize: p.Value4, WriteSize: WriteSize, Writers: w, Place: Owned}})
		}
	}
	s5 := Scenario{ID: 5, Metric: Throughput,
		Title: fmt.Sprintf("%d processes × %d writers on one %s value; writer w of process p owns the %s at offset (p×%d+w) × %s",
			p.Procs, p.ProcWriters, Size(p.Value4), Size(WriteSize), p.ProcWriters, Size(WriteSize)),
		Cells: []Cell{{concurrentParam(p.Procs, p.ProcWriters, 1),
			Workload{Values: 1, ValueSize: p.Value4, WriteSize: WriteSize, Writers: p.ProcWriters, Procs: p.Procs, Place: Owned}}}}
	return []Scenario{s1, s2, s3, s4, s5}
}

// The parameters of the cells, as printed and as the ratios match them.
func writeParam(n int64) string { return Size(n) + " write" }
func valueParam(n int64) string { return Size(n) + " value" }

func concurrentParam(procs, writers, values int) string {
	s := fmt.Sprintf("%d writers", writers)
	if writers == 1 {
		s = "1 writer"
	}
	if procs > 1 {
		s = fmt.Sprintf("%d procs × %s", procs, s)
	}
	if values == 1 {
		return s + ", 1 value"
	}
	return fmt.Sprintf("%s, %d values", s, values)
}

// ScenarioIDs returns the numbers of the scenarios in the plan.
func (p Plan) ScenarioIDs() []int {
	var ids []int
	for _, s := range p.Scenarios() {
		ids = append(ids, s.ID)
	}
	return ids
}

// selectScenarios returns the plan's scenarios whose numbers are in ids
// (all of them if ids is empty).
func (p Plan) selectScenarios(ids []int) []Scenario {
	var sel []Scenario
	for _, s := range p.Scenarios() {
		if len(ids) == 0 || slices.Contains(ids, s.ID) {
			sel = append(sel, s)
		}
	}
	return sel
}

// Size formats a byte count in binary units: "64 KiB", "1 GiB", "1.5 MiB".
func Size(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, u := float64(n), 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	return fmt.Sprintf("%.4g %s", f, units[u])
}
