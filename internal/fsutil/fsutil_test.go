package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// recordSyncs makes syncDir record the directories it syncs, relative to
// root, for the rest of the test.
func recordSyncs(t *testing.T, root string) *[]string {
	var synced []string
	t.Cleanup(func() { syncDir = SyncDir })
	syncDir = func(dir string) error {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		synced = append(synced, filepath.ToSlash(rel))
		return SyncDir(dir)
	}
	return &synced
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SyncDir(missing) = %v, want ErrNotExist", err)
	}
}

func TestMkdirAllNested(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	synced := recordSyncs(t, root)
	if err := MkdirAll(filepath.Join(root, "a", "b", "c", "d"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a/b", "a/b/c", "a/b/c/d"} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil || !fi.IsDir() {
			t.Fatalf("%s: %v, want a directory", d, err)
		}
		if perm := fi.Mode().Perm(); perm&^0o750 != 0 {
			t.Errorf("%s has mode %v, want at most 0750", d, perm)
		}
	}
	// The existing parent of the first new directory, and every new one.
	got := slices.Sorted(slices.Values(*synced))
	if want := []string{"a", "a/b", "a/b/c", "a/b/c/d"}; !slices.Equal(got, want) {
		t.Errorf("synced %q, want %q", got, want)
	}
}

func TestMkdirAllRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := MkdirAll(filepath.Join("x", "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join("x", "y")); err != nil || !fi.IsDir() {
		t.Fatalf("x/y: %v, want a directory", err)
	}
}

func TestMkdirAllExisting(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	synced := recordSyncs(t, root)
	for _, d := range []string{root, filepath.Join(root, "a", "b")} {
		if err := MkdirAll(d, 0o755); err != nil {
			t.Errorf("MkdirAll(%s) = %v", d, err)
		}
	}
	if len(*synced) != 0 {
		t.Errorf("MkdirAll of existing directories synced %q", *synced)
	}
}

func TestMkdirAllFileInTheWay(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{file, filepath.Join(file, "sub"), filepath.Join(file, "sub", "deeper")} {
		if err := MkdirAll(d, 0o755); !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("MkdirAll(%s) = %v, want ENOTDIR", d, err)
		}
	}
	if fi, err := os.Lstat(file); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("file in the way: %v, %v", fi, err)
	}
}

func TestMkdirAllSyncError(t *testing.T) {
	root := t.TempDir()
	boom := errors.New("boom")
	t.Cleanup(func() { syncDir = SyncDir })
	syncDir = func(string) error { return boom }
	if err := MkdirAll(filepath.Join(root, "n"), 0o755); !errors.Is(err, boom) {
		t.Errorf("MkdirAll with a failing sync = %v, want boom", err)
	}
}
