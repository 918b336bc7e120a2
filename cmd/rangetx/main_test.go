package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests run this test binary as the rangetx command: with cliEnv set,
// TestMain hands the arguments to run, exactly as main does.
const cliEnv = "RANGETX_CLI_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) != "" {
		os.Exit(run(context.Background(), env{os.Stdin, os.Stdout, os.Stderr, os.Getenv}, os.Args[1:]))
	}
	if os.Getenv(workerEnv) != "" {
		os.Exit(workerMain())
	}
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

// rangetx runs the command in a child process.
func rangetx(t *testing.T, stdin []byte, extraEnv []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// Under the race detector every process sleeps a second at exit
	// (GORACE atexit_sleep_ms); these tests start hundreds of them.
	gorace := "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Env = append(append(os.Environ(), cliEnv+"=1", gorace), extraEnv...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func ok(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stderr: %s", r.code, r.stderr)
	}
	return r
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPutGetWrite(t *testing.T) {
	root, tmp := t.TempDir(), t.TempDir()
	f := writeFile(t, tmp, "v", []byte("hello, world"))
	ok(t, rangetx(t, nil, nil, "put", "--root", root, "a/b", f))
	if r := ok(t, rangetx(t, nil, nil, "get", "--root", root, "a/b")); r.stdout != "hello, world" {
		t.Fatalf("get = %q", r.stdout)
	}
	// stdin, implicit and explicit
	ok(t, rangetx(t, []byte("from stdin"), nil, "put", "--root", root, "s1"))
	ok(t, rangetx(t, []byte("from dash"), nil, "put", "--root", root, "s2", "-"))
	if r := ok(t, rangetx(t, nil, nil, "get", "--root", root, "s1")); r.stdout != "from stdin" {
		t.Fatalf("get s1 = %q", r.stdout)
	}
	if r := ok(t, rangetx(t, nil, nil, "get", "--root", root, "s2")); r.stdout != "from dash" {
		t.Fatalf("get s2 = %q", r.stdout)
	}
	// one transaction, several ranges, one from stdin, one past the end
	x := writeFile(t, tmp, "x", []byte("HELLO"))
	for _, mode := range []string{"journal", "copy", "auto"} {
		ok(t, rangetx(t, nil, nil, "put", "--root", root, "w", f))
		ok(t, rangetx(t, []byte("WORLD"), nil, "write", "--root", root, "--mode", mode, "w", "0:"+x, "7:-", "14:"+x))
		r := ok(t, rangetx(t, nil, nil, "get", "--root", root, "w"))
		if want := "HELLO, WORLD\x00\x00HELLO"; r.stdout != want {
			t.Fatalf("mode %s: get = %q, want %q", mode, r.stdout, want)
		}
	}
	if r := ok(t, rangetx(t, nil, nil, "get", "--root", root, "--offset", "7", "--length", "5", "w")); r.stdout != "WORLD" {
		t.Fatalf("get range = %q", r.stdout)
	}
	if r := ok(t, rangetx(t, nil, nil, "get", "--root", root, "--offset", "14", "w")); r.stdout != "HELLO" {
		t.Fatalf("get tail = %q", r.stdout)
	}
	// flags after the key, and root from the environment
	if r := ok(t, rangetx(t, nil, []string{"RANGETX_ROOT=" + root}, "get", "w", "--length", "5")); r.stdout != "HELLO" {
		t.Fatalf("get via RANGETX_ROOT = %q", r.stdout)
	}
	// write creates a missing value
	ok(t, rangetx(t, nil, nil, "write", "--root", root, "new/v", "3:"+x))
	if r := ok(t, rangetx(t, nil, nil, "get", "--root", root, "new/v")); r.stdout != "\x00\x00\x00HELLO" {
		t.Fatalf("get new = %q", r.stdout)
	}
}

func TestExitCodes(t *testing.T) {
	root, tmp := t.TempDir(), t.TempDir()
	f := writeFile(t, tmp, "v", []byte("0123456789"))
	ok(t, rangetx(t, nil, nil, "put", "--root", root, "k", f))
	cases := []struct {
		name   string
		code   int
		inErr  string
		args   []string
		stdin  []byte
		env    []string
		noRoot bool
	}{
		{"no command", 2, "usage", nil, nil, nil, false},
		{"unknown command", 2, "unknown command", []string{"frobnicate"}, nil, nil, false},
		{"no root", 2, "--root", []string{"get", "k"}, nil, nil, true},
		{"unknown flag", 2, "flag", []string{"get", "--root", root, "--bogus", "k"}, nil, nil, false},
		{"get without key", 2, "KEY", []string{"get", "--root", root}, nil, nil, false},
		{"write without range", 2, "OFFSET:FILE", []string{"write", "--root", root, "k"}, nil, nil, false},
		{"write bad offset", 2, "not an integer", []string{"write", "--root", root, "k", "x:" + f}, nil, nil, false},
		{"write no colon", 2, "OFFSET:FILE", []string{"write", "--root", root, "k", f}, nil, nil, false},
		{"write bad mode", 2, "mode", []string{"write", "--root", root, "--mode", "fast", "k", "0:" + f}, nil, nil, false},
		{"write two stdins", 2, "once", []string{"write", "--root", root, "k", "0:-", "5:-"}, nil, nil, false},
		{"get missing key", 1, "missing", []string{"get", "--root", root, "missing"}, nil, nil, false},
		{"get invalid key", 1, "invalid key", []string{"get", "--root", root, "../etc/passwd"}, nil, nil, false},
		{"get reserved key", 1, "invalid key", []string{"get", "--root", root, ".rangetx/journal/x"}, nil, nil, false},
		{"get past end", 1, "invalid range", []string{"get", "--root", root, "--offset", "5", "--length", "6", "k"}, nil, nil, false},
		{"get offset past end", 1, "invalid range", []string{"get", "--root", root, "--offset", "11", "k"}, nil, nil, false},
		{"get negative offset", 1, "invalid range", []string{"get", "--root", root, "--offset", "-1", "k"}, nil, nil, false},
		{"write negative offset", 1, "invalid range", []string{"write", "--root", root, "k", "-5:" + f}, nil, nil, false},
		{"write overflowing offset", 1, "invalid range", []string{"write", "--root", root, "k", "9223372036854775807:" + f}, nil, nil, false},
		{"write huge offset", 1, "invalid range", []string{"write", "--root", root, "k", "99999999999999999999:" + f}, nil, nil, false},
		{"write missing file", 1, "k", []string{"write", "--root", root, "k", "0:" + filepath.Join(tmp, "nope")}, nil, nil, false},
		{"put missing file", 1, "k", []string{"put", "--root", root, "k", filepath.Join(tmp, "nope")}, nil, nil, false},
		{"put invalid key", 1, "invalid key", []string{"put", "--root", root, "a//b", f}, nil, nil, false},
		{"write past the size limit", 1, "invalid range", []string{"write", "--root", root, "k", "17592186044416:" + f}, nil, nil, false},
		{"get through a symlink", 1, "invalid key", []string{"get", "--root", root, "alias"}, nil, nil, false},
		{"write through a symlink", 1, "invalid key", []string{"write", "--root", root, "alias", "0:" + f}, nil, nil, false},
		{"get with a missing root", 1, "root", []string{"get", "--root", filepath.Join(tmp, "no-such-root"), "k"}, nil, nil, false},
		{"recover with a missing root", 1, "root", []string{"recover", "--root", filepath.Join(tmp, "no-such-root")}, nil, nil, false},
		{"inspect with a missing root", 1, "root", []string{"inspect", "--root", filepath.Join(tmp, "no-such-root")}, nil, nil, false},
	}
	if err := os.Symlink(filepath.Join(root, "k"), filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.env
			if c.noRoot {
				env = append(env, "RANGETX_ROOT=")
			}
			r := rangetx(t, c.stdin, env, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, c.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.inErr) {
				t.Fatalf("stderr %q does not mention %q", r.stderr, c.inErr)
			}
		})
	}
	// None of the failures changed the value, created a root, or left a
	// lock file for a key that does not exist; the store still works.
	if r := ok(t, rangetx(t, nil, nil, "get", "--root", root, "k")); r.stdout != "0123456789" {
		t.Fatalf("a failed command changed the value: %q", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(tmp, "no-such-root")); !os.IsNotExist(err) {
		t.Fatal("a read-only command created the root")
	}
	locks, _ := os.ReadDir(filepath.Join(root, ".rangetx", "locks"))
	for _, l := range locks {
		if l.Name() != "k.lock" && l.Name() != "k.turn" {
			t.Errorf("a failed command left lock file %s", l.Name())
		}
	}
	ok(t, rangetx(t, nil, nil, "put", "--root", root, "other", f))
	fresh := filepath.Join(tmp, "fresh")
	os.Mkdir(fresh, 0o755)
	rangetx(t, nil, nil, "put", "--root", fresh, "a//b", f)
	if ents, _ := os.ReadDir(fresh); len(ents) != 0 {
		t.Fatalf("a put with an invalid key wrote %v", ents)
	}
}

func TestRecoverAndInspectJSON(t *testing.T) {
	root := t.TempDir()
	ok(t, rangetx(t, []byte("v"), nil, "put", "--root", root, "k"))
	var rep struct {
		Journals []any `json:"journals"`
		Replayed *int  `json:"replayed"`
	}
	r := ok(t, rangetx(t, nil, nil, "recover", "--root", root, "--json"))
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Replayed == nil {
		t.Fatalf("recover --json printed %q (%v)", r.stdout, err)
	}
	var in inspection
	r = ok(t, rangetx(t, nil, nil, "inspect", "--root", root, "--json"))
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil {
		t.Fatalf("inspect --json printed %q (%v)", r.stdout, err)
	}
	if len(in.Journals) != 0 {
		t.Fatalf("journals left after clean runs: %+v", in.Journals)
	}
	if len(in.Locks) != 1 || in.Locks[0].Key != "k" || in.Locks[0].Held {
		t.Fatalf("locks = %+v, want k, not held", in.Locks)
	}
	ok(t, rangetx(t, nil, nil, "inspect", "--root", root))
	ok(t, rangetx(t, nil, nil, "recover", "--root", root))
}

func readFile(t *testing.T, root, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
