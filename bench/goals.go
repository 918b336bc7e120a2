package bench

import "fmt"

// Status is the outcome of a Goal.
type Status string

// The statuses.
const (
	Pass Status = "PASS"
	Miss Status = "MISS"
	NA   Status = "n/a" // a cell it needs was not run, skipped or failed
)

// A Goal is one of issue 4's performance targets, computed from a run.
type Goal struct {
	Name   string  `json:"name"`
	Ratio  float64 `json:"ratio"`
	Need   string  `json:"need"`
	Status Status  `json:"status"`
}

// Goals computes the targets from the results of a run of plan:
//
//   - T1: in scenario 1, naive p50 ÷ journal p50 ≥ 100 and journal p50 ÷
//     raw p50 ≤ 3.
//   - T2: in scenario 4 on one value, journal tx/s with the most writers ÷
//     raw tx/s with one writer ≥ 2, and ÷ sqlite tx/s with the most writers
//     ≥ 3.
//   - T3: in scenario 3, journal p50 at the largest value ÷ at the smallest
//     ≤ 1.5.
func Goals(plan Plan, results []Result) []Goal {
	s1 := writeParam(WriteSize)
	most, fewest := plan.Writers[len(plan.Writers)-1], plan.Writers[0]
	many, one := concurrentParam(1, most, 1), concurrentParam(1, fewest, 1)
	big, small := plan.ValueSizes[len(plan.ValueSizes)-1], plan.ValueSizes[0]
	p50 := func(r Result) float64 { return float64(r.P50) }
	tps := func(r Result) float64 { return r.TxPerSec }
	type side struct {
		scenario         int
		param, contender string
		metric           func(Result) float64
	}
	goal := func(name string, num, den side, atLeast bool, bound float64) Goal {
		g := Goal{Name: name, Status: NA, Need: fmt.Sprintf("≤ %g", bound)}
		if atLeast {
			g.Need = fmt.Sprintf("≥ %g", bound)
		}
		n, ok1 := find(results, num.scenario, num.param, num.contender)
		d, ok2 := find(results, den.scenario, den.param, den.contender)
		if !ok1 || !ok2 || den.metric(d) == 0 {
			return g
		}
		g.Ratio = num.metric(n) / den.metric(d)
		g.Status = Miss
		if (atLeast && g.Ratio >= bound) || (!atLeast && g.Ratio <= bound) {
			g.Status = Pass
		}
		return g
	}
	return []Goal{
		goal("T1 naive p50 ÷ journal p50 (scenario 1)",
			side{1, s1, "naive", p50}, side{1, s1, Journal, p50}, true, 100),
		goal("T1 journal p50 ÷ raw p50 (scenario 1)",
			side{1, s1, Journal, p50}, side{1, s1, "raw", p50}, false, 3),
		goal(fmt.Sprintf("T2 journal tx/s at %d writers ÷ raw tx/s at %d writer (scenario 4, 1 value)", most, fewest),
			side{4, many, Journal, tps}, side{4, one, "raw", tps}, true, 2),
		goal(fmt.Sprintf("T2 journal tx/s ÷ sqlite tx/s, both at %d writers (scenario 4, 1 value)", most),
			side{4, many, Journal, tps}, side{4, many, "sqlite", tps}, true, 3),
		goal(fmt.Sprintf("T3 journal p50 at %s ÷ at %s (scenario 3)", Size(big), Size(small)),
			side{3, valueParam(big), Journal, p50}, side{3, valueParam(small), Journal, p50}, false, 1.5),
	}
}
