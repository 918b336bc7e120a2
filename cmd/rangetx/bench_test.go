package main

import (
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rangetx/rangetx/bench"
)

// benchReport is the part of `rangetx bench --json` the tests read.
type benchReport struct {
	Plan      string `json:"plan"`
	Scenarios []struct {
		ID     int    `json:"id"`
		Title  string `json:"title"`
		Metric string `json:"metric"`
	} `json:"scenarios"`
	Results []struct {
		Scenario  int     `json:"scenario"`
		Contender string  `json:"contender"`
		Param     string  `json:"param"`
		Writes    int     `json:"writes"`
		P50       int64   `json:"p50_ns"`
		P99       int64   `json:"p99_ns"`
		TxPerSec  float64 `json:"tx_per_s"`
		Skipped   string  `json:"skipped"`
		Error     string  `json:"error"`
	} `json:"results"`
	Targets []struct {
		Name   string  `json:"name"`
		Ratio  float64 `json:"ratio"`
		Need   string  `json:"need"`
		Status string  `json:"status"`
	} `json:"targets"`
}

func parseBenchJSON(t *testing.T, b []byte) benchReport {
	t.Helper()
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	for _, r := range rep.Results {
		switch {
		case r.Error != "":
			t.Errorf("scenario %d %s %s failed: %s", r.Scenario, r.Contender, r.Param, r.Error)
		case r.Skipped == "" && (r.Writes < 1 || r.P50 <= 0 || r.P99 < r.P50 || r.TxPerSec <= 0):
			t.Errorf("scenario %d %s %s: implausible %+v", r.Scenario, r.Contender, r.Param, r)
		}
	}
	return rep
}

// TestBench runs the whole harness in this process with tiny sizes; the
// worker processes of scenario 5 are this test binary acting as rangetx.
func TestBench(t *testing.T) {
	t.Setenv(cliEnv, "1") // inherited by the worker processes only
	out, tmp := t.TempDir(), t.TempDir()
	r := rangetxHere(t, "bench", "--tiny", "--out", out, "--dir", tmp)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"Scenario 1:", "Scenario 2:", "Scenario 3:", "Scenario 4:", "Scenario 5:",
		"contender", "p50", "p99", "tx/s", "MB/s", "p50÷journal", "tx/s÷journal",
		"Targets", "T1 ", "T2 ", "T3 ",
		"skipped: naive", "skipped: bbolt",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table has no %q:\n%s", want, r.stdout)
		}
	}
	for _, c := range bench.ContenderNames() {
		if !strings.Contains(r.stdout, "\n"+c+" ") {
			t.Errorf("table has no row for %s", c)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("cells left %d entries in --dir", len(entries))
	}

	// results.json: every cell of the plan, for every contender.
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep := parseBenchJSON(t, b)
	cells := 0
	for _, s := range bench.TinyPlan().Scenarios() {
		cells += len(s.Cells)
	}
	if want := cells * len(bench.Contenders()); len(rep.Results) != want || len(rep.Scenarios) != 5 || rep.Plan != "tiny" {
		t.Fatalf("results.json: %d results (want %d), %d scenarios, plan %q", len(rep.Results), want, len(rep.Scenarios), rep.Plan)
	}
	if len(rep.Targets) != 5 {
		t.Errorf("%d targets, want 5", len(rep.Targets))
	}
	for _, g := range rep.Targets {
		if !slices.Contains([]string{"PASS", "MISS"}, g.Status) || g.Ratio <= 0 {
			t.Errorf("target %+v not computed", g)
		}
	}

	// results.csv: a header and one row per result.
	f, err := os.Open(filepath.Join(out, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(rep.Results)+1 || rows[0][0] != "scenario" {
		t.Errorf("results.csv: %d rows, header %v", len(rows), rows[0])
	}

	// The charts: well-formed SVG with one line per contender that ran.
	for _, name := range []string{"scenario2.svg", "scenario3.svg"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		var svg struct {
			XMLName   xml.Name   `xml:"svg"`
			Polylines []struct{} `xml:"polyline"`
			Texts     []string   `xml:"text"`
		}
		if err := xml.Unmarshal(b, &svg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(svg.Polylines) != len(bench.Contenders()) {
			t.Errorf("%s: %d lines, want %d", name, len(svg.Polylines), len(bench.Contenders()))
		}
		if texts := strings.Join(svg.Texts, "|"); !strings.Contains(texts, "(log scale)") || !strings.Contains(texts, "journal") {
			t.Errorf("%s: no axis label or legend: %s", name, texts)
		}
	}
}

func TestBenchJSONSelection(t *testing.T) {
	r := rangetxHere(t, "bench", "--tiny", "--json", "--scenarios", "1,3", "--contenders", "raw,journal")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rep := parseBenchJSON(t, []byte(r.stdout))
	if len(rep.Scenarios) != 2 || rep.Scenarios[0].ID != 1 || rep.Scenarios[1].ID != 3 {
		t.Errorf("scenarios %+v, want 1 and 3", rep.Scenarios)
	}
	want := 2 * (1 + len(bench.TinyPlan().ValueSizes))
	if len(rep.Results) != want {
		t.Fatalf("%d results, want %d", len(rep.Results), want)
	}
	for _, res := range rep.Results {
		if res.Contender != "journal" && res.Contender != "raw" {
			t.Errorf("unselected contender %s ran", res.Contender)
		}
	}
	for _, g := range rep.Targets {
		if g.Name[:2] == "T2" && g.Status != "n/a" {
			t.Errorf("target %s computed without scenario 4", g.Name)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--scenarios", "6"},
		{"bench", "--scenarios", "x"},
		{"bench", "--contenders", "journal,nope"},
		{"bench", "extra"},
		{"bench", "--dir", filepath.Join(t.TempDir(), "missing")},
		{"bench", "--bogus"},
	} {
		if r := rangetxHere(t, args...); r.code != 2 || !strings.Contains(r.stderr, "usage: rangetx bench") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and the usage", args, r.code, r.stderr)
		}
	}
}
