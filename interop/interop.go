// Package interop checks Zarr v3 arrays written by this module with an
// implementation nobody here wrote: zarrita, a JavaScript Zarr reader, run
// under node by check.mjs in this directory.
//
// The node dependencies are pinned in package-lock.json; install them with
// `npm ci` in this directory. Tests that call [Check] skip when node or the
// dependencies are missing, unless RANGETX_INTEROP=1 is set (as CI does), in
// which case they fail.
//
// zarrita's limits, as of the pinned 0.7.5: it reads a shard index only from
// the end of a shard (index_location "start" is not supported), it strips
// the crc32c of a shard index without verifying it, and it cannot write
// sharded arrays. Its file store also zero-fills a read past the end of a
// file instead of failing, so a truncated shard or an index entry pointing
// past the end shows up only as wrong elements. A passing check therefore
// says nothing about index CRCs; the element comparison is what counts.
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// EnvRequire is the environment variable that turns a missing node or
// missing node_modules from a skip into a failure. CI sets it to "1".
const EnvRequire = "RANGETX_INTEROP"

// ErrUnavailable is wrapped by the errors of [Run] when the checker cannot
// be started: node is not on PATH, or the pinned node dependencies are not
// installed next to check.mjs.
var ErrUnavailable = errors.New("zarrita interop checker unavailable")

// Array is one array for the checker to read and compare.
type Array struct {
	// Path of the array inside the store, e.g. "data/temperature".
	Path string `json:"path"`
	// DType is the Zarr data type: "uint8", "int32", "float32" or "float64".
	DType string `json:"dtype"`
	// Shape is the array's shape.
	Shape []int `json:"shape"`
	// Expected holds every element of the whole array, raw little-endian,
	// in C order (prod(Shape) * itemsize bytes). Encoded as base64 in the
	// manifest.
	Expected []byte `json:"expected"`
}

// Dir returns the directory holding check.mjs.
func Dir() (string, error) {
	// This source file's directory, when the build recorded an absolute path.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Dir(file)
		if fileExists(filepath.Join(dir, "check.mjs")) {
			return dir, nil
		}
	}
	// Otherwise (e.g. -trimpath) search upward from the working directory,
	// which go test sets to the package under test, for the module root.
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		candidate := filepath.Join(dir, "interop")
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(candidate, "check.mjs")) {
			return candidate, nil
		}
		if fileExists(filepath.Join(dir, "check.mjs")) && filepath.Base(dir) == "interop" {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: cannot find interop/check.mjs above %s", ErrUnavailable, wd)
		}
		dir = parent
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Available reports whether the checker can run: node is on PATH and the
// dependencies pinned in package.json are installed at those versions. It
// returns the interop directory and the node executable.
func Available() (dir, node string, err error) {
	dir, err = Dir()
	if err != nil {
		return "", "", err
	}
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("%w: node not found on PATH (install node, then run `npm ci` in interop/)", ErrUnavailable)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := readJSON(filepath.Join(dir, "package.json"), &pkg); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for _, name := range slices.Sorted(maps.Keys(pkg.Dependencies)) {
		want := pkg.Dependencies[name]
		var installed struct {
			Version string `json:"version"`
		}
		manifest := filepath.Join(dir, "node_modules", filepath.FromSlash(name), "package.json")
		if err := readJSON(manifest, &installed); err != nil {
			return "", "", fmt.Errorf("%w: %s is not installed (run `npm ci` in interop/)", ErrUnavailable, name)
		}
		if installed.Version != want {
			return "", "", fmt.Errorf("%w: %s %s is installed, package.json pins %s (run `npm ci` in interop/)",
				ErrUnavailable, name, installed.Version, want)
		}
	}
	return dir, node, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Run has zarrita read every array under the store directory root and
// compare it with Expected. It returns the checker's output, one line per
// array ("ok PATH N elements" or "FAIL PATH: reason"). The error is nil only
// when every array matched; it wraps [ErrUnavailable] when the checker
// cannot run, and an [*exec.ExitError] when it ran and exited non-zero
// (status 1: some array did not match or could not be read; 2: bad
// arguments or manifest).
func Run(ctx context.Context, root string, arrays []Array) (output string, err error) {
	dir, node, err := Available()
	if err != nil {
		return "", err
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return "", err
	}
	for i := range arrays {
		if arrays[i].Shape == nil {
			arrays[i].Shape = []int{} // a 0-d array: [] in JSON, not null
		}
		if arrays[i].Expected == nil {
			arrays[i].Expected = []byte{}
		}
	}
	manifest, err := json.Marshal(arrays)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "rangetx-interop-*.json")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(manifest); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "check.mjs", root, f.Name())
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("zarrita check: %w", err)
	}
	return out.String(), nil
}

// Check runs [Run] and fails t unless every array matched. When the checker
// is unavailable it skips t, or fails it if RANGETX_INTEROP=1.
func Check(t testing.TB, root string, arrays []Array) {
	t.Helper()
	out, err := Run(t.Context(), root, arrays)
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%v; %s=1 requires the interop check", err, EnvRequire)
		}
		t.Skipf("%v; skipping the interop check (set %s=1 to require it)", err, EnvRequire)
	}
	if err != nil {
		t.Fatalf("zarrita disagrees with the expected data: %v\n%s", err, out)
	}
	t.Logf("zarrita:\n%s", out)
}
