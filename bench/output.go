package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFiles writes the report into dir (created if missing):
// results.json, results.csv, and the charts scenario2.svg (p50 latency
// against write size) and scenario3.svg (against value size) for those of
// the two scenarios that ran. It returns the paths it wrote.
func (rep Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var jsonOut, csvOut bytes.Buffer
	if err := rep.WriteJSON(&jsonOut); err != nil {
		return nil, err
	}
	if err := rep.WriteCSV(&csvOut); err != nil {
		return nil, err
	}
	files := map[string][]byte{"results.json": jsonOut.Bytes(), "results.csv": csvOut.Bytes()}
	names := []string{"results.json", "results.csv"}
	for _, s := range rep.Scenarios {
		var results []Result
		for _, r := range rep.Results {
			if r.Scenario == s.ID {
				results = append(results, r)
			}
		}
		name := fmt.Sprintf("scenario%d.svg", s.ID)
		switch s.ID {
		case 2:
			files[name] = LatencyChart(fmt.Sprintf("Scenario 2: p50 latency by write size (%s value)", Size(results[0].ValueSize)),
				"write size", results, func(r Result) int64 { return r.WriteSize })
		case 3:
			files[name] = LatencyChart(fmt.Sprintf("Scenario 3: p50 latency by value size (%s writes)", Size(results[0].WriteSize)),
				"value size", results, func(r Result) int64 { return r.ValueSize })
		default:
			continue
		}
		names = append(names, name)
	}
	var paths []string
	for _, name := range names {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return paths, fmt.Errorf("bench: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
