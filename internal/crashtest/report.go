package crashtest

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// Report is the outcome of a run.
type Report struct {
	Seed    uint64 `json:"seed"`
	Mode    string `json:"mode"`
	Workers int    `json:"workers"`

	// Kills counts every SIGKILL a worker died of: the controller's, at
	// random moments (including the final stop), and the workers' own at
	// armed crash points (Crashpoints, by name).
	Kills           int            `json:"kills"`
	KillsRandom     int            `json:"kills_random"`
	KillsCrashpoint int            `json:"kills_crashpoint"`
	Crashpoints     map[string]int `json:"crashpoints"`

	// Acknowledged counts the transactions whose Commit returned nil.
	Acknowledged int `json:"acknowledged"`
	// Recoveries counts completed recovery runs: one per worker start whose
	// txn.Open returned, plus the final one. RecoveriesReplaying counts
	// those that replayed journal entries, Replayed the entries, and
	// TempRemoved the temporary files they deleted.
	Recoveries          int `json:"recoveries"`
	RecoveriesReplaying int `json:"recoveries_replaying"`
	Replayed            int `json:"replayed"`
	TempRemoved         int `json:"temp_removed"`

	Violations       int          `json:"violations"`
	ViolationDetails []Violation  `json:"violation_details"`
	Values           []ValueState `json:"values"`

	// Interrupted is set when the run was cancelled before its kills were
	// done; recovery and verification still ran.
	Interrupted bool `json:"interrupted,omitempty"`
	// Elapsed is the run's wall time in seconds.
	Elapsed float64 `json:"elapsed"`
}

func (r *Report) addViolations(vs ...Violation) {
	r.ViolationDetails = append(r.ViolationDetails, vs...)
	r.Violations = len(r.ViolationDetails)
}

// maxTextViolations bounds the violations WriteText lists; JSON lists all.
const maxTextViolations = 50

// WriteText writes the report as "name: value" lines.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	p := func(name string, v any) { ew.printf("%s: %v\n", name, v) }
	p("seed", r.Seed)
	p("mode", r.Mode)
	p("workers", r.Workers)
	p("kills", r.Kills)
	p("kills_random", r.KillsRandom)
	p("kills_crashpoint", r.KillsCrashpoint)
	names := make([]string, 0, len(r.Crashpoints))
	for n := range r.Crashpoints {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p("crashpoint "+n, r.Crashpoints[n])
	}
	p("acknowledged", r.Acknowledged)
	p("recoveries", r.Recoveries)
	p("recoveries_replaying", r.RecoveriesReplaying)
	p("replayed", r.Replayed)
	p("temp_removed", r.TempRemoved)
	for _, v := range r.Values {
		ew.printf("value %s: initial_size=%d size=%d seq=%d acknowledged=%d\n", v.Key, v.InitialSize, v.Size, v.Seq, v.Acknowledged)
	}
	if r.Interrupted {
		p("interrupted", true)
	}
	p("violations", r.Violations)
	for i, v := range r.ViolationDetails {
		if i == maxTextViolations {
			ew.printf("violation: … %d more (see --json)\n", len(r.ViolationDetails)-i)
			break
		}
		p("violation", v)
	}
	p("elapsed", time.Duration(r.Elapsed*float64(time.Second)).Round(time.Millisecond))
	return ew.err
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	if out.ViolationDetails == nil {
		out.ViolationDetails = []Violation{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
