package bench

import (
	"context"
	"os"
	"testing"
)

// TestBenchRunTiny runs the concurrent scenarios end to end with the contenders
// that share state between writers (under -race, this checks them);
// scenario 5's workers are this test binary (see TestMain).
func TestBenchRunTiny(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var sel []Contender
	for _, c := range Contenders() {
		if c.Name() != "copy" && c.Name() != "auto" {
			sel = append(sel, c)
		}
	}
	dir := t.TempDir()
	results, err := Run(context.Background(), Config{
		Plan: TinyPlan(), Scenarios: []int{4, 5}, Contenders: sel, Dir: dir,
		Worker: []string{exe}, WorkerEnv: []string{workerEnv + "=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		switch {
		case r.Error != "":
			t.Errorf("scenario %d %s %s: %s", r.Scenario, r.Contender, r.Param, r.Error)
		case r.Skipped != "" && (r.Scenario != 5 || (r.Contender != "naive" && r.Contender != "bbolt")):
			t.Errorf("scenario %d %s %s skipped: %s", r.Scenario, r.Contender, r.Param, r.Skipped)
		case r.Skipped == "" && r.Writes < TinyPlan().Limits.Min:
			t.Errorf("scenario %d %s %s: %d writes", r.Scenario, r.Contender, r.Param, r.Writes)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d entries left in the cells' directory", len(entries))
	}
}
