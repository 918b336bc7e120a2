package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// Report is a run's results with what is needed to print them.
type Report struct {
	Plan      string     `json:"plan"`
	Scenarios []Scenario `json:"scenarios"`
	Results   []Result   `json:"results"`
	Targets   []Goal     `json:"targets"`
}

// NewReport assembles the report of a run of the scenarios of plan.
func NewReport(plan Plan, results []Result) Report {
	r := Report{Plan: plan.Name, Results: results}
	for _, s := range plan.Scenarios() {
		for _, res := range results {
			if res.Scenario == s.ID {
				r.Scenarios = append(r.Scenarios, s)
				break
			}
		}
	}
	r.Targets = Goals(plan, results)
	return r
}

// Journal is the contender every other is compared with.
const Journal = "journal"

// find returns the result of contender at param of scenario if it measured
// something.
func find(results []Result, scenario int, param, contender string) (Result, bool) {
	for _, r := range results {
		if r.Scenario == scenario && r.Param == param && r.Contender == contender {
			return r, r.OK()
		}
	}
	return Result{}, false
}

// ratio is the contender's primary metric divided by rangetx journal
// mode's at the same parameter.
func ratio(results []Result, s Scenario, r Result) (float64, bool) {
	j, ok := find(results, s.ID, r.Param, Journal)
	if !ok || !r.OK() {
		return 0, false
	}
	if s.Metric == Latency {
		return float64(r.P50) / float64(j.P50), j.P50 > 0
	}
	return r.TxPerSec / j.TxPerSec, j.TxPerSec > 0
}

// WriteText prints a table per scenario, then the targets.
func (rep Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range rep.Scenarios {
		ratioHead := "p50÷journal"
		if s.Metric == Throughput {
			ratioHead = "tx/s÷journal"
		}
		fmt.Fprintf(tw, "\nScenario %d: %s\n", s.ID, s.Title)
		fmt.Fprintf(tw, "contender\tparameter\twrites\tp50\tp99\ttx/s\tMB/s\t%s\t\n", ratioHead)
		for _, r := range rep.Results {
			if r.Scenario != s.ID {
				continue
			}
			switch {
			case r.Skipped != "":
				fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t skipped: %s\n", r.Contender, r.Param, r.Skipped)
				continue
			case r.Error != "":
				fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t ERROR: %s\n", r.Contender, r.Param, r.Error)
				continue
			}
			ratioText := "-"
			if x, ok := ratio(rep.Results, s, r); ok {
				ratioText = number(x)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.Contender, r.Param, r.Writes,
				Duration(r.P50), Duration(r.P99), number(r.TxPerSec), number(r.MBPerSec), ratioText)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintf(tw, "\nTargets (from this run, plan %s)\n", rep.Plan)
		if rep.Plan != FullPlan().Name {
			fmt.Fprintf(tw, "(the targets are defined at the full run's sizes; at this plan's smaller sizes the ratios are indicative only)\n")
		}
		fmt.Fprintf(tw, "target\tmeasured\tneed\tresult\t\n")
		for _, g := range rep.Targets {
			measured := "n/a"
			if g.Status != NA {
				measured = number(g.Ratio)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", g.Name, measured, g.Need, g.Status)
		}
	}
	return tw.Flush()
}

// WriteJSON prints the report as one indented JSON object.
func (rep Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteCSV prints the results, one row a cell, with a header row.
func (rep Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"scenario", "contender", "param", "values", "value_size", "write_size", "writers", "procs",
		"writes", "seconds", "p50_ns", "p99_ns", "tx_per_s", "mb_per_s", "skipped", "error"})
	for _, r := range rep.Results {
		i, i64 := strconv.Itoa, func(n int64) string { return strconv.FormatInt(n, 10) }
		f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
		cw.Write([]string{i(r.Scenario), r.Contender, r.Param, i(r.Values), i64(r.ValueSize), i64(r.WriteSize),
			i(r.Writers), i(r.Procs), i(r.Writes), f(r.Seconds), i64(int64(r.P50)), i64(int64(r.P99)),
			f(r.TxPerSec), f(r.MBPerSec), r.Skipped, r.Error})
	}
	cw.Flush()
	return cw.Error()
}

// number formats a rate or ratio: whole from 1000 up, else three
// significant digits.
func number(x float64) string {
	if x >= 1000 {
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

// Duration formats d with three significant digits: "812µs", "5.06ms",
// "1.32s".
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}
