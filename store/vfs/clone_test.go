package vfs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/rangetx/rangetx/store/vfs"
)

// TestClone: on the operating system's file system Clone either shares
// src's bytes with dst (where the file system has reflinks) or reports
// false with no error so the caller copies; it never fails for lack of
// support, and never half-clones. Memory files are never cloned.
func TestClone(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte("clone me "), 100000)
	if err := os.WriteFile(filepath.Join(dir, "src"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := vfs.Default.OpenFile(filepath.Join(dir, "src"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := vfs.Default.OpenFile(filepath.Join(dir, "dst"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	ok, err := vfs.Clone(dst, src)
	if err != nil {
		t.Fatalf("Clone = %v; an unsupported clone must report false, not an error", err)
	}
	got := make([]byte, len(want)+1)
	n, _ := dst.ReadAt(got, 0)
	switch {
	case ok && !bytes.Equal(got[:n], want):
		t.Fatalf("cloned file holds %d bytes, not the source's %d", n, len(want))
	case !ok && n != 0:
		t.Fatalf("Clone reported false but wrote %d bytes", n)
	}
	t.Logf("reflink clone supported here: %v", ok)

	mem := vfs.NewMem()
	a, _ := mem.OpenFile("/a", os.O_RDWR|os.O_CREATE, 0o644)
	b, _ := mem.OpenFile("/b", os.O_RDWR|os.O_CREATE, 0o644)
	if ok, err := vfs.Clone(b, a); ok || err != nil {
		t.Fatalf("Clone of memory files = %v, %v; want false, nil", ok, err)
	}
}
