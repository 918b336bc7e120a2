package main

import (
	"strings"
	"testing"
)

// TestDemo runs the README's main job: writer processes, two kills in the
// middle of a commit, recovery and a byte-for-byte verification. The
// second kill must leave a torn value on disk before recovery, and the
// verification after it must pass.
func TestDemo(t *testing.T) {
	r := rangetx(t, nil, nil, "demo", "--root", t.TempDir())
	if r.code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"new=true and new=false: a torn value",
		"verified all 67108864 bytes",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
}
