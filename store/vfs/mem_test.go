package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// create writes data to a new or truncated file at name, without syncing.
func create(t *testing.T, fsys FS, name, data string) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// content returns the file at name in m, or "<ENOENT>" if there is none.
func content(t *testing.T, m *MemFS, name string) string {
	t.Helper()
	b, err := m.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "<ENOENT>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMemRelativePath(t *testing.T) {
	m := NewMem()
	_, err := m.OpenFile("f", os.O_CREATE|os.O_WRONLY, 0o644)
	wantErrno(t, "OpenFile", err, syscall.EINVAL)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != "f" {
		t.Errorf("OpenFile error %#v, want a *fs.PathError for f", err)
	}
	wantErrno(t, "Mkdir", m.Mkdir("d", 0o755), syscall.EINVAL)
	_, err = m.Lstat("./x")
	wantErrno(t, "Lstat", err, syscall.EINVAL)
	wantErrno(t, "Rename", m.Rename("/a", "b"), syscall.EINVAL)
	wantErrno(t, "Remove", m.Remove("a"), syscall.EINVAL)
	_, err = m.ReadDir("")
	wantErrno(t, "ReadDir", err, syscall.EINVAL)
	wantErrno(t, "SyncDir", m.SyncDir("d"), syscall.EINVAL)
	if m.Ops() != 0 {
		t.Errorf("Ops = %d after failed operations", m.Ops())
	}
}

func TestMemOpenFlags(t *testing.T) {
	m := NewMem()
	_, err := m.OpenFile("/f", os.O_RDONLY, 0)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
	_, err = m.OpenFile("/d/f", os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o640)
	wantErrno(t, "create under missing dir", err, syscall.ENOENT)
	f, err := m.OpenFile("/f", os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o640)
	must(t, err)
	if f.Name() != "/f" {
		t.Errorf("Name = %q", f.Name())
	}
	_, err = f.Write([]byte("hello"))
	must(t, err)
	must(t, f.Close())

	_, err = m.OpenFile("/f", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("O_EXCL on existing file: %v", err)
	}
	// O_CREATE without O_EXCL opens the existing file untouched.
	f, err = m.OpenFile("/f", os.O_CREATE|os.O_RDONLY, 0o600)
	must(t, err)
	fi, err := f.Stat()
	must(t, err)
	if fi.Size() != 5 || fi.Mode() != 0o640 || fi.Name() != "f" || fi.IsDir() || fi.Sys() != nil || fi.ModTime().IsZero() {
		t.Errorf("Stat = %v %v %q %v %v %v", fi.Size(), fi.Mode(), fi.Name(), fi.IsDir(), fi.Sys(), fi.ModTime())
	}
	must(t, f.Close())

	// O_TRUNC on a read-only open does not truncate.
	f, err = m.OpenFile("/f", os.O_RDONLY|os.O_TRUNC, 0)
	must(t, err)
	must(t, f.Close())
	if got := content(t, m, "/f"); got != "hello" {
		t.Errorf("after read-only O_TRUNC: %q", got)
	}
	f, err = m.OpenFile("/f", os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	must(t, f.Close())
	if got := content(t, m, "/f"); got != "" {
		t.Errorf("after O_TRUNC: %q", got)
	}

	// O_APPEND writes at the end whatever the position.
	create(t, m, "/a", "abc")
	f, err = m.OpenFile("/a", os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write([]byte("de"))
	must(t, err)
	g, err := m.OpenFile("/a", os.O_WRONLY, 0)
	must(t, err)
	_, err = g.WriteAt([]byte("XYZW12"), 0) // grows the file behind f's back
	must(t, err)
	_, err = f.Write([]byte("!"))
	must(t, err)
	_, err = f.WriteAt([]byte("x"), 0)
	wantErrno(t, "WriteAt with O_APPEND", err, syscall.EINVAL)
	must(t, f.Close())
	must(t, g.Close())
	if got := content(t, m, "/a"); got != "XYZW12!" {
		t.Errorf("appended: %q", got)
	}

	_, err = m.OpenFile("/a", os.O_WRONLY|os.O_RDWR, 0)
	wantErrno(t, "bad access mode", err, syscall.EINVAL)
}

func TestMemReadWrite(t *testing.T) {
	m := NewMem()
	f, err := m.OpenFile("/f", os.O_CREATE|os.O_RDWR, 0o644)
	must(t, err)
	for _, s := range []string{"hello", " ", "world"} {
		if n, err := f.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	// Read continues from the position after the writes: the end.
	buf := make([]byte, 4)
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("Read at end = %d, %v", n, err)
	}
	if n, err := f.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}
	// ReadAt follows io.ReaderAt.
	if n, err := f.ReadAt(buf, 0); n != 4 || err != nil || string(buf) != "hell" {
		t.Errorf("ReadAt(0) = %d, %v, %q", n, err, buf)
	}
	if n, err := f.ReadAt(buf, 9); n != 2 || err != io.EOF || string(buf[:n]) != "ld" {
		t.Errorf("ReadAt(9) = %d, %v, %q", n, err, buf[:n])
	}
	if n, err := f.ReadAt(buf, 100); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(100) = %d, %v", n, err)
	}
	if n, err := f.ReadAt(buf[:0], 100); n != 0 || err != nil {
		t.Errorf("empty ReadAt(100) = %d, %v", n, err)
	}
	_, err = f.ReadAt(buf, -1)
	wantErrno(t, "ReadAt(-1)", err, syscall.EINVAL)
	_, err = f.WriteAt(buf, -1)
	wantErrno(t, "WriteAt(-1)", err, syscall.EINVAL)

	// WriteAt past the end fills the gap with zeros.
	if n, err := f.WriteAt([]byte("Z"), 15); n != 1 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if got := content(t, m, "/f"); got != "hello world\x00\x00\x00\x00Z" {
		t.Errorf("after WriteAt past end: %q", got)
	}
	// Truncate shrinks, then grows with zeros (not with the old bytes).
	must(t, f.Truncate(2))
	if got := content(t, m, "/f"); got != "he" {
		t.Errorf("after shrink: %q", got)
	}
	must(t, f.Truncate(6))
	if got := content(t, m, "/f"); got != "he\x00\x00\x00\x00" {
		t.Errorf("after grow: %q", got)
	}
	wantErrno(t, "Truncate(-1)", f.Truncate(-1), syscall.EINVAL)
	wantErrno(t, "Truncate(2 GiB)", f.Truncate(2<<30), syscall.EFBIG)
	_, err = f.WriteAt([]byte("x"), 1<<30)
	wantErrno(t, "WriteAt past 1 GiB", err, syscall.EFBIG)
	must(t, f.Close())

	// A new handle reads from position 0.
	f, err = m.OpenFile("/f", os.O_RDONLY, 0)
	must(t, err)
	all, err := io.ReadAll(f)
	if err != nil || string(all) != "he\x00\x00\x00\x00" {
		t.Errorf("ReadAll = %q, %v", all, err)
	}
	_, err = f.Write([]byte("x"))
	wantErrno(t, "Write on read-only", err, syscall.EBADF)
	wantErrno(t, "Truncate on read-only", f.Truncate(0), syscall.EINVAL)
	must(t, f.Close())

	f, err = m.OpenFile("/f", os.O_WRONLY, 0)
	must(t, err)
	_, err = f.Read(buf)
	wantErrno(t, "Read on write-only", err, syscall.EBADF)
	_, err = f.ReadAt(buf, 0)
	wantErrno(t, "ReadAt on write-only", err, syscall.EBADF)

	// Everything fails on a closed file.
	must(t, f.Close())
	for what, err := range map[string]error{
		"Close":    f.Close(),
		"Sync":     f.Sync(),
		"SyncData": f.SyncData(),
		"Truncate": f.Truncate(0),
		"Chmod":    f.Chmod(0o600),
	} {
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s after Close: %v", what, err)
		}
	}
	if _, err := f.Write(buf); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := f.WriteAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WriteAt after Close: %v", err)
	}
	if _, err := f.Read(buf); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Stat after Close: %v", err)
	}
}

func TestMemChmod(t *testing.T) {
	m := NewMem()
	f, err := m.OpenFile("/f", os.O_CREATE|os.O_RDONLY, 0o600)
	must(t, err)
	must(t, f.Chmod(0o444|fs.ModeDir)) // only the permission bits change
	must(t, f.Close())
	fi, err := m.Lstat("/f")
	must(t, err)
	if fi.Mode() != 0o444 {
		t.Errorf("mode = %v", fi.Mode())
	}
}

func TestMemDirectories(t *testing.T) {
	m := NewMem()
	fi, err := m.Lstat("/")
	must(t, err)
	if !fi.IsDir() || fi.Name() != "/" {
		t.Errorf("Lstat(/) = %v %q", fi.IsDir(), fi.Name())
	}
	must(t, m.Mkdir("/d", 0o750))
	if err := m.Mkdir("/d", 0o750); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Mkdir existing: %v", err)
	}
	wantErrno(t, "Mkdir /", m.Mkdir("/", 0o755), syscall.EEXIST)
	wantErrno(t, "Mkdir in missing", m.Mkdir("/x/y", 0o755), syscall.ENOENT)
	create(t, m, "/d/f", "x")
	wantErrno(t, "Mkdir under file", m.Mkdir("/d/f/g", 0o755), syscall.ENOTDIR)
	_, err = m.OpenFile("/d/f/g", os.O_RDONLY, 0)
	wantErrno(t, "open under file", err, syscall.ENOTDIR)
	_, err = m.Lstat("/d/f/g/h")
	wantErrno(t, "Lstat under file", err, syscall.ENOTDIR)
	_, err = m.Lstat("/d/nope")
	wantErrno(t, "Lstat missing", err, syscall.ENOENT)

	fi, err = m.Lstat("/d/")
	must(t, err)
	if !fi.IsDir() || fi.Mode() != fs.ModeDir|0o750 || fi.Name() != "d" {
		t.Errorf("Lstat(/d/) = %v %v %q", fi.IsDir(), fi.Mode(), fi.Name())
	}

	// A directory opens read-only only.
	d, err := m.OpenFile("/d", os.O_RDONLY, 0)
	must(t, err)
	fi, err = d.Stat()
	must(t, err)
	if !fi.IsDir() || fi.Mode()&fs.ModeDir == 0 {
		t.Errorf("Stat of open dir: %v", fi.Mode())
	}
	_, err = d.Read(make([]byte, 1))
	wantErrno(t, "Read of dir", err, syscall.EISDIR)
	_, err = d.Write([]byte("x"))
	wantErrno(t, "Write of dir", err, syscall.EBADF)
	must(t, d.Close())
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_CREATE, os.O_RDONLY | os.O_TRUNC} {
		_, err = m.OpenFile("/d", flag, 0)
		wantErrno(t, fmt.Sprintf("open dir with flag %#x", flag), err, syscall.EISDIR)
	}

	create(t, m, "/d/b", "bb")
	must(t, m.Mkdir("/d/a", 0o755))
	ents, err := m.ReadDir("/d")
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, fmt.Sprintf("%s:%v", e.Name(), e.IsDir()))
	}
	if got := strings.Join(names, " "); got != "a:true b:false f:false" {
		t.Errorf("ReadDir = %s", got)
	}
	if info, err := ents[1].Info(); err != nil || info.Size() != 2 {
		t.Errorf("entry b info: %v, %v", info, err)
	}
	_, err = m.ReadDir("/d/b")
	wantErrno(t, "ReadDir of file", err, syscall.ENOTDIR)
	_, err = m.ReadDir("/nope")
	wantErrno(t, "ReadDir missing", err, syscall.ENOENT)

	wantErrno(t, "Remove non-empty", m.Remove("/d"), syscall.ENOTEMPTY)
	wantErrno(t, "Remove /", m.Remove("/"), syscall.EBUSY)
	wantErrno(t, "Remove missing", m.Remove("/d/nope"), syscall.ENOENT)
	must(t, m.Remove("/d/a"))
	must(t, m.Remove("/d/b"))
	must(t, m.Remove("/d/f"))
	must(t, m.Remove("/d"))
	if _, err := m.Lstat("/d"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat after Remove: %v", err)
	}
	create(t, m, "/f", "")
	wantErrno(t, "SyncDir of file", m.SyncDir("/f"), syscall.ENOTDIR)
	wantErrno(t, "SyncDir missing", m.SyncDir("/nope"), syscall.ENOENT)
}

func TestMemRename(t *testing.T) {
	m := NewMem()
	must(t, m.Mkdir("/d", 0o755))
	must(t, m.Mkdir("/e", 0o755))
	create(t, m, "/d/a", "A")
	create(t, m, "/d/b", "B")

	// A file replaces a file.
	must(t, m.Rename("/d/a", "/d/b"))
	if got := content(t, m, "/d/b"); got != "A" {
		t.Errorf("b = %q", got)
	}
	if got := content(t, m, "/d/a"); got != "<ENOENT>" {
		t.Errorf("a = %q", got)
	}
	// To itself: nothing happens.
	must(t, m.Rename("/d/b", "/d/./b"))
	if got := content(t, m, "/d/b"); got != "A" {
		t.Errorf("b after self-rename = %q", got)
	}

	err := m.Rename("/d/nope", "/d/x")
	wantErrno(t, "rename missing", err, syscall.ENOENT)
	var le *os.LinkError
	if !errors.As(err, &le) || le.Op != "rename" || le.Old != "/d/nope" || le.New != "/d/x" {
		t.Errorf("rename error %#v, want an *os.LinkError", err)
	}
	wantErrno(t, "file over dir", m.Rename("/d/b", "/e"), syscall.EISDIR)
	wantErrno(t, "dir over file", m.Rename("/e", "/d/b"), syscall.ENOTDIR)
	wantErrno(t, "into missing dir", m.Rename("/d/b", "/x/b"), syscall.ENOENT)
	wantErrno(t, "into a file", m.Rename("/d/b", "/d/b/c"), syscall.ENOTDIR)
	wantErrno(t, "dir into itself", m.Rename("/d", "/d/sub"), syscall.EINVAL)
	wantErrno(t, "rename /", m.Rename("/", "/z"), syscall.EBUSY)
	wantErrno(t, "dir over non-empty dir", m.Rename("/e", "/d"), syscall.ENOTEMPTY)

	// A directory replaces an empty directory, taking its contents along.
	must(t, m.Mkdir("/e/sub", 0o755))
	create(t, m, "/e/sub/f", "F")
	must(t, m.Mkdir("/empty", 0o755))
	must(t, m.Rename("/e", "/empty"))
	if got := content(t, m, "/empty/sub/f"); got != "F" {
		t.Errorf("moved tree: %q", got)
	}

	// An open file follows its inode across a rename between directories.
	f, err := m.OpenFile("/d/b", os.O_WRONLY, 0)
	must(t, err)
	must(t, m.Rename("/d/b", "/empty/b"))
	_, err = f.WriteAt([]byte("Z"), 0)
	must(t, err)
	must(t, f.Close())
	if got := content(t, m, "/empty/b"); got != "Z" {
		t.Errorf("renamed open file: %q", got)
	}
	want := map[string][]byte{"/empty/b": []byte("Z"), "/empty/sub/f": []byte("F")}
	if got := m.Files(); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("Files = %q", got)
	}
}

func TestMemUnlinkedOpenFile(t *testing.T) {
	m := NewMem()
	f, err := m.OpenFile("/f", os.O_CREATE|os.O_RDWR, 0o644)
	must(t, err)
	must(t, m.Remove("/f"))
	if _, err := f.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	must(t, f.Sync())
	buf := make([]byte, 5)
	if n, err := f.ReadAt(buf, 6); n != 4 || err != io.EOF || string(buf[:n]) != "here" {
		t.Errorf("ReadAt = %d, %v, %q", n, err, buf[:n])
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != 10 {
		t.Errorf("Stat = %v, %v", fi, err)
	}
	must(t, f.Close())
	if len(m.Files()) != 0 {
		t.Errorf("Files = %q", m.Files())
	}
	if c := m.Crash(KeepUnsynced, 0); len(c.Files()) != 0 {
		t.Errorf("crashed Files = %q", c.Files())
	}
}

func TestWriteFile(t *testing.T) {
	m := NewMem()
	if err := m.WriteFile("/d/f", []byte("x"), 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile in missing dir: %v", err)
	}
	must(t, m.Mkdir("/d", 0o700))
	must(t, m.WriteFile("/d/f", []byte("one"), 0o600))
	must(t, m.WriteFile("/d/f", []byte("two!"), 0o644)) // truncates, keeps the mode
	if err := m.WriteFile("/d", nil, 0o644); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("WriteFile over dir: %v", err)
	}
	if m.Ops() != 1 {
		t.Errorf("Ops = %d, want 1 (the Mkdir)", m.Ops())
	}
	for _, p := range []string{"/", "/d", "/d/f"} {
		if !m.Durable(p) || m.Unsynced(p) {
			t.Errorf("%s: Durable %v Unsynced %v", p, m.Durable(p), m.Unsynced(p))
		}
	}
	fi, err := m.Lstat("/d/f")
	must(t, err)
	if fi.Mode() != 0o600 || fi.Size() != 4 {
		t.Errorf("mode %v size %d", fi.Mode(), fi.Size())
	}
	c := m.Crash(DropUnsynced, 0)
	if got := content(t, c, "/d/f"); got != "two!" {
		t.Errorf("after crash: %q", got)
	}
	must(t, m.WriteFile("/e", nil, 0o644))
	want := map[string][]byte{"/d/f": []byte("two!"), "/e": {}}
	if got := m.Files(); !maps.EqualFunc(got, want, bytes.Equal) || got["/e"] == nil {
		t.Errorf("Files = %q", got)
	}
}

// TestCrashFileData: a file's data counts only once synced.
func TestCrashFileData(t *testing.T) {
	for _, sync := range []string{"Sync", "SyncData"} {
		t.Run(sync, func(t *testing.T) {
			m := NewMem()
			must(t, m.WriteFile("/v", []byte("old value"), 0o644))
			f, err := m.OpenFile("/v", os.O_RDWR, 0)
			must(t, err)
			_, err = f.WriteAt([]byte("NEW"), 0)
			must(t, err)
			must(t, f.Truncate(5))
			if !m.Unsynced("/v") || m.Durable("/v") {
				t.Errorf("before sync: Unsynced %v Durable %v", m.Unsynced("/v"), m.Durable("/v"))
			}
			if got := content(t, m.Crash(DropUnsynced, 0), "/v"); got != "old value" {
				t.Errorf("DropUnsynced before sync: %q", got)
			}
			if got := content(t, m.Crash(KeepUnsynced, 0), "/v"); got != "NEW v" {
				t.Errorf("KeepUnsynced before sync: %q", got)
			}
			if sync == "Sync" {
				must(t, f.Sync())
			} else {
				must(t, f.SyncData())
			}
			if m.Unsynced("/v") || !m.Durable("/v") {
				t.Errorf("after sync: Unsynced %v Durable %v", m.Unsynced("/v"), m.Durable("/v"))
			}
			if got := content(t, m.Crash(DropUnsynced, 0), "/v"); got != "NEW v" {
				t.Errorf("DropUnsynced after sync: %q", got)
			}
			// Later writes are pending again, on top of the synced state.
			_, err = f.WriteAt([]byte("!"), 7)
			must(t, err)
			must(t, f.Close())
			if got := content(t, m.Crash(DropUnsynced, 0), "/v"); got != "NEW v" {
				t.Errorf("DropUnsynced after second write: %q", got)
			}
			if got := content(t, m.Crash(KeepUnsynced, 0), "/v"); got != "NEW v\x00\x00!" {
				t.Errorf("KeepUnsynced after second write: %q", got)
			}
		})
	}
}

func TestCrashOTrunc(t *testing.T) {
	m := NewMem()
	must(t, m.WriteFile("/v", []byte("hello"), 0o644))
	f, err := m.OpenFile("/v", os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	if !m.Unsynced("/v") {
		t.Error("O_TRUNC is not pending")
	}
	_, err = f.Write([]byte("x"))
	must(t, err)
	if got := content(t, m.Crash(DropUnsynced, 0), "/v"); got != "hello" {
		t.Errorf("DropUnsynced: %q", got)
	}
	if got := content(t, m.Crash(KeepUnsynced, 0), "/v"); got != "x" {
		t.Errorf("KeepUnsynced: %q", got)
	}
}

// TestCrashCreateNeedsSyncDir: a synced file whose creation was not made
// durable by a SyncDir of its directory vanishes.
func TestCrashCreateNeedsSyncDir(t *testing.T) {
	m := NewMem()
	must(t, MkdirAll(m, "/d", 0o755))
	f, err := m.OpenFile("/d/f", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	must(t, err)
	_, err = f.Write([]byte("data"))
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	if m.Unsynced("/d/f") || m.Durable("/d/f") || !m.Unsynced("/d") {
		t.Errorf("Unsynced %v Durable %v, dir Unsynced %v", m.Unsynced("/d/f"), m.Durable("/d/f"), m.Unsynced("/d"))
	}
	if got := content(t, m.Crash(DropUnsynced, 0), "/d/f"); got != "<ENOENT>" {
		t.Errorf("DropUnsynced without SyncDir: %q", got)
	}
	if got := content(t, m.Crash(KeepUnsynced, 0), "/d/f"); got != "data" {
		t.Errorf("KeepUnsynced: %q", got)
	}
	must(t, m.SyncDir("/d"))
	if !m.Durable("/d/f") || m.Unsynced("/d") {
		t.Errorf("after SyncDir: Durable %v, dir Unsynced %v", m.Durable("/d/f"), m.Unsynced("/d"))
	}
	if got := content(t, m.Crash(DropUnsynced, 0), "/d/f"); got != "data" {
		t.Errorf("DropUnsynced after SyncDir: %q", got)
	}

	// The entry without the data: an empty file.
	f, err = m.OpenFile("/d/g", os.O_CREATE|os.O_WRONLY, 0o644)
	must(t, err)
	_, err = f.Write([]byte("unsynced"))
	must(t, err)
	must(t, f.Close())
	d, err := m.OpenFile("/d", os.O_RDONLY, 0)
	must(t, err)
	must(t, d.Sync()) // fsync of the directory opened read-only
	must(t, d.Close())
	if got := content(t, m.Crash(DropUnsynced, 0), "/d/g"); got != "" {
		t.Errorf("DropUnsynced, entry synced, data not: %q", got)
	}
}

// TestCrashRenameNeedsSyncDir: the temp-file-and-rename commit.
func TestCrashRenameNeedsSyncDir(t *testing.T) {
	m := NewMem()
	must(t, MkdirAll(m, "/d", 0o755))
	must(t, m.WriteFile("/d/v", []byte("old"), 0o644))
	f, err := m.OpenFile("/d/v.tmp", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	must(t, err)
	_, err = f.Write([]byte("new"))
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	must(t, m.Rename("/d/v.tmp", "/d/v"))

	c := m.Crash(DropUnsynced, 0)
	if got := content(t, c, "/d/v"); got != "old" {
		t.Errorf("DropUnsynced before SyncDir: v = %q", got)
	}
	if got := content(t, c, "/d/v.tmp"); got != "<ENOENT>" {
		t.Errorf("DropUnsynced before SyncDir: v.tmp = %q", got)
	}
	must(t, m.SyncDir("/d"))
	c = m.Crash(DropUnsynced, 0)
	want := map[string][]byte{"/d/v": []byte("new")}
	if got := c.Files(); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("DropUnsynced after SyncDir: %q", got)
	}
}

func TestCrashRenameBetweenDirs(t *testing.T) {
	setup := func() *MemFS {
		m := NewMem()
		must(t, MkdirAll(m, "/x", 0o755))
		must(t, MkdirAll(m, "/y", 0o755))
		must(t, m.WriteFile("/x/f", []byte("F"), 0o644))
		must(t, m.Rename("/x/f", "/y/f"))
		return m
	}
	m := setup()
	if got := m.Crash(DropUnsynced, 0).Files(); len(got) != 1 || string(got["/x/f"]) != "F" {
		t.Errorf("no SyncDir: %q", got)
	}
	// Only the new directory synced: both names, as independent files.
	must(t, m.SyncDir("/y"))
	c := m.Crash(DropUnsynced, 0)
	if got := c.Files(); len(got) != 2 || string(got["/x/f"]) != "F" || string(got["/y/f"]) != "F" {
		t.Errorf("new dir synced: %q", got)
	}
	f, err := c.OpenFile("/x/f", os.O_WRONLY, 0)
	must(t, err)
	_, err = f.Write([]byte("G"))
	must(t, err)
	if got := content(t, c, "/y/f"); got != "F" {
		t.Errorf("the two names share data: %q", got)
	}
	// Only the old directory synced: neither name.
	m = setup()
	must(t, m.SyncDir("/x"))
	if got := m.Crash(DropUnsynced, 0).Files(); len(got) != 0 {
		t.Errorf("old dir synced: %q", got)
	}
	must(t, m.SyncDir("/y"))
	if !m.Durable("/y/f") {
		t.Error("not durable after both SyncDirs")
	}
}

func TestCrashMkdirChain(t *testing.T) {
	m := NewMem()
	must(t, m.Mkdir("/a", 0o755))
	must(t, m.Mkdir("/a/b", 0o755))
	must(t, m.Mkdir("/a/b/c", 0o755))
	create(t, m, "/a/b/c/f", "F")
	f, err := m.OpenFile("/a/b/c/f", os.O_RDONLY, 0)
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	must(t, m.SyncDir("/a/b/c"))
	must(t, m.SyncDir("/a"))

	// "/" not synced: nothing survives.
	if got := m.Crash(DropUnsynced, 0).Files(); len(got) != 0 {
		t.Errorf("/ unsynced: %q", got)
	}
	if _, err := m.Crash(DropUnsynced, 0).Lstat("/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/a after crash: %v", err)
	}
	must(t, m.SyncDir("/"))
	// /a/b not synced: /a/b survives empty.
	c := m.Crash(DropUnsynced, 0)
	if _, err := c.Lstat("/a/b"); err != nil {
		t.Errorf("/a/b: %v", err)
	}
	if ents, err := c.ReadDir("/a/b"); err != nil || len(ents) != 0 {
		t.Errorf("/a/b entries: %v, %v", ents, err)
	}
	if m.Durable("/a/b/c") || m.Durable("/a/b") || !m.Durable("/a") || !m.Durable("/") {
		t.Errorf("Durable /a/b/c %v /a/b %v /a %v", m.Durable("/a/b/c"), m.Durable("/a/b"), m.Durable("/a"))
	}
	must(t, m.SyncDir("/a/b"))
	if got := content(t, m.Crash(DropUnsynced, 0), "/a/b/c/f"); got != "F" {
		t.Errorf("all synced: %q", got)
	}
	if !m.Durable("/a/b/c/f") {
		t.Error("not durable")
	}

	// MkdirAll makes its directories durable.
	must(t, MkdirAll(m, "/p/q/r", 0o755))
	for _, d := range []string{"/p", "/p/q", "/p/q/r"} {
		if !m.Durable(d) {
			t.Errorf("%s not durable after MkdirAll", d)
		}
		if fi, err := m.Crash(DropUnsynced, 0).Lstat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s after crash: %v", d, err)
		}
	}
}

func TestCrashRemove(t *testing.T) {
	m := NewMem()
	must(t, m.Mkdir("/d", 0o755))
	must(t, m.WriteFile("/d/f", []byte("F"), 0o644))
	must(t, m.Remove("/d/f"))
	must(t, m.Remove("/d"))
	if got := content(t, m.Crash(DropUnsynced, 0), "/d/f"); got != "F" {
		t.Errorf("unsynced removal: %q", got)
	}
	must(t, m.SyncDir("/"))
	if got := m.Crash(DropUnsynced, 0).Files(); len(got) != 0 {
		t.Errorf("removal of /d synced: %q", got)
	}
}

// TestCrashRandomTearing: an unsynced 8 KiB overwrite is kept, dropped, or
// torn at 512-byte or 4 KiB boundaries; every byte is old or new.
func TestCrashRandomTearing(t *testing.T) {
	const size = 8192
	m := NewMem()
	must(t, m.WriteFile("/v", bytes.Repeat([]byte{'o'}, size), 0o644))
	f, err := m.OpenFile("/v", os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte{'n'}, size), 0)
	must(t, err)
	// A second, misaligned write into a new file: tears at file offsets.
	g, err := m.OpenFile("/w", os.O_CREATE|os.O_WRONLY, 0o644)
	must(t, err)
	_, err = g.WriteAt(bytes.Repeat([]byte{'n'}, 1000), 100)
	must(t, err)
	must(t, m.SyncDir("/"))

	var allOld, allNew, torn512, torn4096 int
	for seed := range uint64(400) {
		c := m.Crash(RandomUnsynced, seed)
		b, err := c.ReadFile("/v")
		must(t, err)
		if len(b) != size {
			t.Fatalf("seed %d: size %d", seed, len(b))
		}
		var cuts []int
		for i := range b {
			if b[i] != 'o' && b[i] != 'n' {
				t.Fatalf("seed %d: byte %d is %q", seed, i, b[i])
			}
			if i > 0 && b[i] != b[i-1] {
				cuts = append(cuts, i)
			}
		}
		switch {
		case len(cuts) == 0 && b[0] == 'o':
			allOld++
		case len(cuts) == 0:
			allNew++
		case slices.ContainsFunc(cuts, func(i int) bool { return i%4096 != 0 }):
			torn512++
		default:
			torn4096++
		}
		for _, i := range cuts {
			if i%512 != 0 {
				t.Fatalf("seed %d: cut at %d", seed, i)
			}
		}

		w, err := c.ReadFile("/w")
		must(t, err)
		for i, x := range w {
			if i < 100 && x != 0 || i >= 100 && x != 0 && x != 'n' {
				t.Fatalf("seed %d: /w byte %d is %q", seed, i, x)
			}
			if i > 0 && (x == 0) != (w[i-1] == 0) && i != 100 && i%512 != 0 {
				t.Fatalf("seed %d: /w cut at %d", seed, i)
			}
		}
		if n := len(w); n != 0 && n != 512 && n != 1024 && n != 1100 {
			t.Fatalf("seed %d: /w size %d", seed, n)
		}
	}
	t.Logf("old %d, new %d, torn at 512 %d, torn at 4096 only %d", allOld, allNew, torn512, torn4096)
	if allOld == 0 || allNew == 0 || torn512 == 0 || torn4096 == 0 {
		t.Errorf("missing outcomes: old %d, new %d, torn at 512 %d, torn at 4096 only %d", allOld, allNew, torn512, torn4096)
	}
}

func TestCrashRandomDeterministic(t *testing.T) {
	m := NewMem()
	must(t, MkdirAll(m, "/d", 0o755))
	for i := range 8 {
		create(t, m, fmt.Sprintf("/d/f%d", i), strings.Repeat(fmt.Sprint(i), 5000))
	}
	distinct := map[string]bool{}
	for seed := range uint64(20) {
		a := fmt.Sprintf("%q", m.Crash(RandomUnsynced, seed).Files())
		b := fmt.Sprintf("%q", m.Crash(RandomUnsynced, seed).Files())
		if a != b {
			t.Fatalf("seed %d: two crashes differ", seed)
		}
		distinct[a] = true
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct states from 20 seeds", len(distinct))
	}
}

// TestCrashRandomDirOps: every state RandomUnsynced gives for a commit by
// rename is one of those the model allows, and each of them shows up.
func TestCrashRandomDirOps(t *testing.T) {
	m := NewMem()
	must(t, MkdirAll(m, "/d", 0o755))
	must(t, m.WriteFile("/d/v", []byte("old"), 0o644))
	create(t, m, "/d/t", "new")
	f, err := m.OpenFile("/d/t", os.O_RDONLY, 0)
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	must(t, m.Rename("/d/t", "/d/v"))
	create(t, m, "/d/later", "L")
	must(t, m.Remove("/d/later"))

	allowed := map[string]bool{
		`v=old`:               true, // nothing kept
		`t=new v=old`:         true, // the creation only
		`v=new`:               true, // creation and rename
		`later= v=old`:        true, // the rename impossible without the creation...
		`later= t=new v=old`:  true,
		`later= v=new`:        true, // ... and "later" kept but its data not
		`later=L v=old`:       true,
		`later=L t=new v=old`: true,
		`later=L v=new`:       true,
	}
	seen := map[string]bool{}
	for seed := range uint64(300) {
		files := m.Crash(RandomUnsynced, seed).Files()
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(files)) {
			parts = append(parts, strings.TrimPrefix(name, "/d/")+"="+string(files[name]))
		}
		s := strings.Join(parts, " ")
		if !allowed[s] {
			t.Fatalf("seed %d: state %q not allowed", seed, s)
		}
		seen[s] = true
	}
	for s, ok := range allowed {
		if ok && !seen[s] && !strings.HasPrefix(s, "later=L") {
			t.Errorf("state %q never produced", s)
		}
	}
	if !seen[`later=L v=new`] && !seen[`later=L t=new v=old`] {
		t.Errorf("no state keeps the data of later: %v", seen)
	}
}

// TestCrashRandomCycle: renames that, half kept, would make directories
// their own ancestors, and other odd histories, still give a tree.
func TestCrashRandomCycle(t *testing.T) {
	m := NewMem()
	must(t, MkdirAll(m, "/a", 0o755))
	must(t, MkdirAll(m, "/b", 0o755))
	must(t, m.WriteFile("/a/fa", []byte("A"), 0o644))
	must(t, m.WriteFile("/b/fb", []byte("B"), 0o644))
	must(t, m.Rename("/b", "/a/b"))
	must(t, m.Rename("/a/b", "/b"))
	must(t, m.Rename("/a", "/b/a"))
	must(t, m.Remove("/b/fb"))
	must(t, m.Mkdir("/b/fb", 0o755))
	must(t, m.Rename("/b/a/fa", "/b/fa"))
	for seed := range uint64(500) {
		c := m.Crash(RandomUnsynced, seed)
		for name, data := range c.Files() {
			if want := strings.ToUpper(name[len(name)-1:]); string(data) != want {
				t.Fatalf("seed %d: %s = %q", seed, name, data)
			}
		}
	}
	want := map[string][]byte{"/b/fa": []byte("A")}
	if got := m.Crash(KeepUnsynced, 0).Files(); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("KeepUnsynced: %q", got)
	}
}

// TestCrashIndependent: a crashed MemFS shares nothing with its origin.
func TestCrashIndependent(t *testing.T) {
	m := NewMem()
	must(t, m.WriteFile("/f", []byte("durable"), 0o644))
	f, err := m.OpenFile("/f", os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("pending"), 0)
	must(t, err)
	var hooked atomic.Int64
	m.SetHook(func(Op) { hooked.Add(1) })
	before := hooked.Load()

	c := m.Crash(KeepUnsynced, 0)
	if c.Ops() != 0 || !c.Durable("/f") || c.Unsynced("/f") {
		t.Errorf("crashed: Ops %d Durable %v Unsynced %v", c.Ops(), c.Durable("/f"), c.Unsynced("/f"))
	}
	g, err := c.OpenFile("/f", os.O_RDWR, 0)
	must(t, err)
	_, err = g.WriteAt([]byte("CRASHED"), 0)
	must(t, err)
	create(t, c, "/new", "x")
	if hooked.Load() != before {
		t.Error("the crashed MemFS called its origin's hook")
	}
	if got := content(t, m, "/f"); got != "pending" {
		t.Errorf("origin changed: %q", got)
	}
	if got := content(t, m, "/new"); got != "<ENOENT>" {
		t.Errorf("origin has /new: %q", got)
	}
	// The crashed file's durable data is what it was created with.
	if got := content(t, c.Crash(DropUnsynced, 0), "/f"); got != "pending" {
		t.Errorf("crash of crash: %q", got)
	}
	// The origin's open file still works and still counts as pending.
	_, err = f.WriteAt([]byte("P"), 0)
	must(t, err)
	if got := content(t, c, "/f"); got != "CRASHED" {
		t.Errorf("crashed copy changed: %q", got)
	}
	if got := content(t, m.Crash(DropUnsynced, 0), "/f"); got != "durable" {
		t.Errorf("origin durable: %q", got)
	}
	must(t, g.Close())
	must(t, f.Close())
}

// TestHook: the hook sees every mutating operation in order, before it is
// applied, and may crash the file system from inside.
func TestHook(t *testing.T) {
	m := NewMem()
	var ops []string
	var drops, keeps []map[string][]byte
	m.SetHook(func(op Op) {
		if n := m.Ops(); n != int64(len(ops)+1) {
			t.Errorf("Ops() = %d in hook %d", n, len(ops)+1)
		}
		ops = append(ops, op.String())
		drops = append(drops, m.Crash(DropUnsynced, 0).Files())
		keeps = append(keeps, m.Crash(KeepUnsynced, 0).Files())
		_ = m.Unsynced("/d/v")
		_, _ = m.ReadDir("/")
	})
	must(t, m.Mkdir("/d", 0o755))
	must(t, m.SyncDir("/"))
	f, err := m.OpenFile("/d/v.tmp", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	must(t, err)
	_, err = f.Write([]byte("hello"))
	must(t, err)
	_, err = f.WriteAt([]byte("J"), 0)
	must(t, err)
	must(t, f.Truncate(4))
	must(t, f.Chmod(0o600))
	must(t, f.SyncData())
	must(t, f.Sync())
	_, _ = f.Stat()
	must(t, f.Close())
	must(t, m.Rename("/d/v.tmp", "/d/v"))
	must(t, m.SyncDir("/d"))
	g, err := m.OpenFile("/d/v", os.O_RDONLY, 0) // not mutating
	must(t, err)
	must(t, g.Close())
	if err := m.Mkdir("/d", 0o755); err == nil { // fails: not reported
		t.Error("Mkdir of existing dir succeeded")
	}
	g, err = m.OpenFile("/d/v", os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	must(t, g.Close())
	must(t, m.Remove("/d/v"))

	want := []string{
		"mkdir /d",
		"syncdir /",
		"create /d/v.tmp",
		"write /d/v.tmp off=-1 len=5",
		"write /d/v.tmp off=0 len=1",
		"truncate /d/v.tmp size=4",
		"chmod /d/v.tmp",
		"syncdata /d/v.tmp",
		"sync /d/v.tmp",
		"rename /d/v.tmp -> /d/v",
		"syncdir /d",
		"truncate /d/v size=0",
		"remove /d/v",
	}
	if !slices.Equal(ops, want) {
		t.Errorf("hook saw\n%s\nwant\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}
	if m.Ops() != int64(len(want)) {
		t.Errorf("Ops = %d, want %d", m.Ops(), len(want))
	}
	if len(drops) != len(want) {
		t.FailNow()
	}
	// Crashes just before each operation.
	for i, w := range []struct{ drop, keep string }{
		3:  {drop: `map[]`, keep: `map["/d/v.tmp":""]`},
		4:  {drop: `map[]`, keep: `map["/d/v.tmp":"hello"]`},
		9:  {drop: `map[]`, keep: `map["/d/v.tmp":"Jell"]`},
		10: {drop: `map[]`, keep: `map["/d/v":"Jell"]`},
		11: {drop: `map["/d/v":"Jell"]`, keep: `map["/d/v":"Jell"]`},
		12: {drop: `map["/d/v":"Jell"]`, keep: `map["/d/v":""]`},
	} {
		if w.drop == "" {
			continue
		}
		if got := fmt.Sprintf("%q", drops[i]); got != w.drop {
			t.Errorf("DropUnsynced before %q: %s, want %s", want[i], got, w.drop)
		}
		if got := fmt.Sprintf("%q", keeps[i]); got != w.keep {
			t.Errorf("KeepUnsynced before %q: %s, want %s", want[i], got, w.keep)
		}
	}

	// The hook may mutate m too; those operations apply first.
	ops = nil
	m.SetHook(func(op Op) {
		ops = append(ops, op.String())
		if op.Kind == OpMkdir && op.Path == "/e" {
			create(t, m, "/marker", "")
		}
	})
	must(t, m.Mkdir("/e", 0o755))
	m.SetHook(nil)
	must(t, m.Mkdir("/e2", 0o755))
	if got := strings.Join(ops, ", "); got != "mkdir /e, create /marker, write /marker off=-1 len=0" {
		t.Errorf("nested: %s", got)
	}
}

func TestMemConcurrent(t *testing.T) {
	m := NewMem()
	must(t, MkdirAll(m, "/d", 0o755))
	base := m.Ops()
	var hooked atomic.Int64
	m.SetHook(func(Op) { hooked.Add(1) })
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			name := fmt.Sprintf("/d/f%d", w)
			f, err := m.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			buf := make([]byte, 100)
			for i := range 200 {
				if _, err := f.WriteAt(bytes.Repeat([]byte{byte(i)}, 100), int64(i%7)*100); err != nil {
					t.Error(err)
				}
				if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
					t.Error(err)
				}
				if i%10 == 0 {
					_ = f.SyncData()
					_ = m.SyncDir("/d")
				}
			}
			_ = f.Close()
			_ = m.Rename(name, name+".done")
		})
	}
	wg.Go(func() {
		for seed := range uint64(50) {
			for _, mode := range []CrashMode{DropUnsynced, KeepUnsynced, RandomUnsynced} {
				c := m.Crash(mode, seed)
				_ = c.Files()
			}
			_ = m.Files()
			_ = m.Durable("/d/f0")
			_ = m.Unsynced("/d/f1")
			_, _ = m.ReadDir("/d")
		}
	})
	wg.Wait()
	if base+hooked.Load() != m.Ops() {
		t.Errorf("hook called %d times, Ops = %d", hooked.Load(), m.Ops())
	}
	if n := len(m.Files()); n != workers {
		t.Errorf("%d files", n)
	}
}

func TestCrashModeString(t *testing.T) {
	for mode, want := range map[CrashMode]string{DropUnsynced: "DropUnsynced", KeepUnsynced: "KeepUnsynced",
		RandomUnsynced: "RandomUnsynced", 9: "CrashMode(9)"} {
		if got := mode.String(); got != want {
			t.Errorf("%d: %q", mode, got)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Crash with an unknown mode did not panic")
		}
	}()
	NewMem().Crash(9, 0)
}

func TestOpKind(t *testing.T) {
	mutating := map[OpKind]bool{OpCreate: true, OpWrite: true, OpTruncate: true, OpChmod: true, OpSync: true,
		OpSyncData: true, OpMkdir: true, OpRename: true, OpRemove: true, OpSyncDir: true}
	names := map[string]bool{}
	for k := OpOpen; k <= OpSyncDir; k++ {
		if k.Mutates() != mutating[k] {
			t.Errorf("%v.Mutates() = %v", k, k.Mutates())
		}
		if s := k.String(); strings.HasPrefix(s, "OpKind") || names[s] {
			t.Errorf("%d: name %q", k, s)
		}
		names[k.String()] = true
	}
	if OpKind(0).String() != "OpKind(0)" || OpKind(0).Mutates() {
		t.Error("zero OpKind")
	}
	for op, want := range map[Op]string{
		{Kind: OpRename, Path: "/a", NewPath: "/b"}:       "rename /a -> /b",
		{Kind: OpRead, Path: "/a", Off: -1, Len: 3}:       "read /a off=-1 len=3",
		{Kind: OpTruncate, Path: "/a", Off: 7}:            "truncate /a size=7",
		{Kind: OpSyncDir, Path: "/"}:                      "syncdir /",
		{Kind: OpWrite, Path: "/a", Off: 4096, Len: 1}:    "write /a off=4096 len=1",
		{Kind: OpCreate, Path: "/x"}:                      "create /x",
		{Kind: OpSyncData, Path: "/x", Off: 0, Len: 0}:    "syncdata /x",
		{Kind: OpOpen, Path: "/x", NewPath: "ignored"}:    "open /x",
		{Kind: OpStat, Path: "/x", Off: 1, Len: 1}:        "stat /x",
		{Kind: OpLstat, Path: "/x", Off: 0, Len: 1 << 20}: "lstat /x",
	} {
		if got := op.String(); got != want {
			t.Errorf("%#v: %q, want %q", op, got, want)
		}
	}
}

// BenchmarkCrash: crash a store of one 1 MiB value with a few pending
// writes.
func BenchmarkCrash(b *testing.B) {
	m := NewMem()
	if err := m.WriteFile("/v", make([]byte, 1<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := m.OpenFile("/v", os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 16 {
		if _, err := f.WriteAt(make([]byte, 8192), int64(i)*65536); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []CrashMode{DropUnsynced, KeepUnsynced, RandomUnsynced} {
		b.Run(mode.String(), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				m.Crash(mode, uint64(i))
			}
		})
	}
}
