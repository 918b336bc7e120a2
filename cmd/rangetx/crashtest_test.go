package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangetx/rangetx/internal/crashtest"
)

// TestCrashtest runs `rangetx crashtest` (this test binary as the command
// and as its writer processes) in both commit modes: at least 300 SIGKILLs
// in all — at random moments and at every named crash point of the mode —
// then recovery and verification must find no violation.
func TestCrashtest(t *testing.T) {
	for _, c := range []struct {
		mode    string
		workers int
		kills   int
		sizes   string
	}{
		{"journal", 4, 200, "4k,256k,4M,64M"},
		{"copy", 4, 100, "4k,256k,4M,64M"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "crash")
			start := time.Now()
			r := rangetx(t, nil, nil, "crashtest", "--root", dir, "--workers", strconv.Itoa(c.workers),
				"--kills", strconv.Itoa(c.kills), "--mode", c.mode, "--sizes", c.sizes, "--json")
			var rep crashtest.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("exit %d, stdout %q, stderr %s: %v", r.code, r.stdout, r.stderr, err)
			}
			t.Logf("seed %d: %d kills (%d random, %d at crash points %v), %d acknowledged, %d recoveries (%d replaying %d entries, %d temporary files removed), %s",
				rep.Seed, rep.Kills, rep.KillsRandom, rep.KillsCrashpoint, rep.Crashpoints, rep.Acknowledged,
				rep.Recoveries, rep.RecoveriesReplaying, rep.Replayed, rep.TempRemoved,
				time.Since(start).Round(time.Millisecond))
			for _, v := range rep.ViolationDetails {
				t.Errorf("violation: %s", v)
			}
			switch {
			case r.code != 0 || rep.Violations != 0:
				t.Fatalf("exit %d with %d violations (replay: --seed %d --mode %s); stderr: %s", r.code, rep.Violations, rep.Seed, c.mode, r.stderr)
			case rep.Kills < c.kills:
				t.Fatalf("%d kills, want at least %d", rep.Kills, c.kills)
			case rep.KillsRandom == 0 || rep.KillsCrashpoint == 0:
				t.Fatalf("kills: %d at random moments, %d at crash points; want both", rep.KillsRandom, rep.KillsCrashpoint)
			case rep.Acknowledged == 0:
				t.Fatal("no transaction acknowledged")
			case len(rep.Values) != 4 || rep.Values[3].InitialSize != 64<<20:
				t.Fatalf("values %+v", rep.Values)
			}
		})
	}
}

// The command-line contract: required flags, usage errors, a fresh
// directory, and the text report's "name: value" lines.
func TestCrashtestCLI(t *testing.T) {
	tmp := t.TempDir()
	full := writeFile(t, tmp, "file", []byte("x"))
	used := filepath.Join(tmp, "used")
	os.Mkdir(used, 0o755)
	writeFile(t, used, "something", nil)
	for _, c := range []struct {
		name  string
		inErr string
		args  []string
	}{
		{"no root", "--root", []string{"crashtest", "--workers", "1", "--kills", "1"}},
		{"no workers", "--workers", []string{"crashtest", "--root", filepath.Join(tmp, "a"), "--kills", "1"}},
		{"no kills", "--kills", []string{"crashtest", "--root", filepath.Join(tmp, "a"), "--workers", "1"}},
		{"bad mode", "mode", []string{"crashtest", "--root", filepath.Join(tmp, "a"), "--workers", "1", "--kills", "1", "--mode", "fast"}},
		{"bad sizes", "size", []string{"crashtest", "--root", filepath.Join(tmp, "a"), "--workers", "1", "--kills", "1", "--sizes", "1"}},
		{"not empty", "empty", []string{"crashtest", "--root", used, "--workers", "1", "--kills", "1"}},
		{"a file", "not a directory", []string{"crashtest", "--root", full, "--workers", "1", "--kills", "1"}},
		{"positional", "unexpected", []string{"crashtest", "--root", filepath.Join(tmp, "a"), "--workers", "1", "--kills", "1", "extra"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rangetx(t, nil, []string{"RANGETX_ROOT=" + filepath.Join(tmp, "b")}, c.args...)
			if r.code != 2 || !strings.Contains(r.stderr, c.inErr) {
				t.Fatalf("exit %d, stderr %q; want 2 mentioning %q", r.code, r.stderr, c.inErr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tmp, "a")); !os.IsNotExist(err) {
		t.Fatal("a refused run created its directory")
	}

	// Flags after other flags in any order; text report; seed printed.
	dir := filepath.Join(tmp, "run")
	r := ok(t, rangetx(t, nil, nil, "crashtest", "--kills", "3", "--sizes", "4k,64k", "--root", dir, "--seed", "42", "--workers", "2"))
	got := map[string]string{}
	for line := range strings.Lines(r.stdout) {
		name, value, found := strings.Cut(strings.TrimSpace(line), ": ")
		if !found {
			t.Fatalf("line %q is not name: value", line)
		}
		got[name] = value
	}
	for _, name := range []string{"kills", "acknowledged", "recoveries", "replayed", "violations", "elapsed"} {
		if _, found := got[name]; !found {
			t.Errorf("report lacks %q:\n%s", name, r.stdout)
		}
	}
	if got["seed"] != "42" || got["mode"] != "all" || got["workers"] != "2" || got["violations"] != "0" {
		t.Fatalf("report:\n%s", r.stdout)
	}
	if n, _ := strconv.Atoi(got["kills"]); n < 3 {
		t.Fatalf("kills %q", got["kills"])
	}
	for _, sub := range []string{"store", "acks"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			t.Fatalf("%s/%s: %v", dir, sub, err)
		}
	}
}
