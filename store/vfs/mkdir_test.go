package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// syncRecorder is Default, recording the directories SyncDir is called on
// relative to root, and failing every SyncDir with err if err is set.
type syncRecorder struct {
	FS
	t    *testing.T
	root string
	err  error

	mu     sync.Mutex
	synced []string
}

func recordSyncs(t *testing.T, root string) *syncRecorder {
	return &syncRecorder{FS: Default, t: t, root: root}
}

func (r *syncRecorder) SyncDir(name string) error {
	rel, err := filepath.Rel(r.root, name)
	if err != nil {
		r.t.Error(err)
	}
	r.mu.Lock()
	r.synced = append(r.synced, filepath.ToSlash(rel))
	r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	return r.FS.SyncDir(name)
}

func (r *syncRecorder) sorted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.synced))
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := Default.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := Default.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir(missing) = %v, want ErrNotExist", err)
	}
}

func TestMkdirAllNested(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	rec := recordSyncs(t, root)
	if err := MkdirAll(rec, filepath.Join(root, "a", "b", "c", "d"), 0o750); err != nil {
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
	if got, want := rec.sorted(), []string{"a", "a/b", "a/b/c", "a/b/c/d"}; !slices.Equal(got, want) {
		t.Errorf("synced %q, want %q", got, want)
	}
}

func TestMkdirAllRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := MkdirAll(Default, filepath.Join("x", "y"), 0o755); err != nil {
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
	rec := recordSyncs(t, root)
	for _, d := range []string{root, filepath.Join(root, "a", "b")} {
		if err := MkdirAll(rec, d, 0o755); err != nil {
			t.Errorf("MkdirAll(%s) = %v", d, err)
		}
	}
	if got := rec.sorted(); len(got) != 0 {
		t.Errorf("MkdirAll of existing directories synced %q", got)
	}
}

func TestMkdirAllFileInTheWay(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{file, filepath.Join(file, "sub"), filepath.Join(file, "sub", "deeper")} {
		if err := MkdirAll(Default, d, 0o755); !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("MkdirAll(%s) = %v, want ENOTDIR", d, err)
		}
	}
	if fi, err := os.Lstat(file); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("file in the way: %v, %v", fi, err)
	}
}

func TestMkdirAllSyncError(t *testing.T) {
	root := t.TempDir()
	rec := recordSyncs(t, root)
	rec.err = errors.New("boom")
	if err := MkdirAll(rec, filepath.Join(root, "n"), 0o755); !errors.Is(err, rec.err) {
		t.Errorf("MkdirAll with a failing sync = %v, want boom", err)
	}
}
