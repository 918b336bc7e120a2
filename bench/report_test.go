package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestGoals(t *testing.T) {
	plan := FullPlan()
	res := func(s int, param, c string, p50 time.Duration, tps float64) Result {
		return Result{Scenario: s, Param: param, Contender: c, Writes: 10, P50: p50, P99: p50, TxPerSec: tps}
	}
	s1 := writeParam(WriteSize)
	results := []Result{
		res(1, s1, "journal", 1*time.Millisecond, 1000),
		res(1, s1, "naive", 150*time.Millisecond, 7),
		res(1, s1, "raw", 200*time.Microsecond, 5000), // journal is 5× raw: a miss
		res(4, "64 writers, 1 value", "journal", 0, 3000),
		res(4, "1 writer, 1 value", "raw", 0, 1000),
		res(4, "64 writers, 1 value", "sqlite", 0, 1000),
		res(3, "1 GiB value", "journal", 1200*time.Microsecond, 1),
		{Scenario: 3, Param: "1 MiB value", Contender: "journal", Skipped: "no"}, // T3 cannot be computed
	}
	want := []struct {
		ratio  float64
		status Status
	}{{150, Pass}, {5, Miss}, {3, Pass}, {3, Pass}, {0, NA}}
	got := Goals(plan, results)
	if len(got) != len(want) {
		t.Fatalf("%d goals", len(got))
	}
	for i, g := range got {
		if g.Status != want[i].status || (g.Status != NA && g.Ratio != want[i].ratio) {
			t.Errorf("%s: ratio %g %s, want %g %s", g.Name, g.Ratio, g.Status, want[i].ratio, want[i].status)
		}
	}

	var out bytes.Buffer
	if err := NewReport(plan, results).WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"naive", "150", "p50÷journal", "tx/s÷journal", "skipped: no", "MISS", "n/a"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("report has no %q:\n%s", line, out.String())
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 512: "512ns", 812 * time.Microsecond: "812µs",
		5060 * time.Microsecond: "5.06ms", 1320 * time.Millisecond: "1.32s",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%d) = %q, want %q", d, got, want)
		}
	}
}
