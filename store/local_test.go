package store

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rangetx/rangetx/store/vfs"
)

// A localFS is a file system the Local tests run on.
type localFS struct {
	name string
	// onDisk means the files are the operating system's, so a test can
	// make symbolic and hard links with the os package.
	onDisk bool
	// new returns the file system with root, an existing directory on the
	// real disk, also existing in it.
	new func(t *testing.T, root string) vfs.FS
}

// localFSes are the file systems Local is tested on: the operating system
// (vfs.Default); plainFS, the same files behind another FS, which takes
// NewLocal's non-Default path and the generic copy of PatchCopy; Inject
// with a rule that injects nothing, so every operation goes through the
// injection layer; and MemFS.
var localFSes = []localFS{
	{"os", true, func(*testing.T, string) vfs.FS { return vfs.Default }},
	{"plain", true, func(*testing.T, string) vfs.FS { return plainFS{vfs.Default} }},
	{"inject", true, func(*testing.T, string) vfs.FS {
		return vfs.Inject(vfs.Default, func(vfs.Op) error { return nil })
	}},
	{"mem", false, func(t *testing.T, root string) vfs.FS {
		m := vfs.NewMem()
		if err := vfs.MkdirAll(m, root, 0o755); err != nil {
			t.Fatal(err)
		}
		return m
	}},
}

// plainFS wraps an FS so that its files have only the methods of vfs.File:
// io.CopyN between two of them cannot reach (*os.File).ReadFrom.
type plainFS struct{ vfs.FS }

func (p plainFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := p.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return plainFile{f}, nil
}

type plainFile struct{ vfs.File }

// syncRule is a vfs.Inject rule that records the directories SyncDir is
// called on and fails SyncDir with the error set by fail: every SyncDir if
// always is set, else only a SyncDir that follows a Rename or Remove, as the
// one that makes Put, PatchCopy or Delete durable does.
type syncRule struct {
	mu      sync.Mutex
	err     error
	always  bool
	changed bool // a Rename or Remove since the last SyncDir
	synced  []string
}

// fail sets the error SyncDir fails with (nil: none) and whether every
// SyncDir fails.
func (r *syncRule) fail(err error, always bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err, r.always = err, always
}

func (r *syncRule) rule(op vfs.Op) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch op.Kind {
	case vfs.OpRename, vfs.OpRemove:
		r.changed = true
	case vfs.OpSyncDir:
		r.synced = append(r.synced, op.Path)
		changed := r.changed
		r.changed = false
		if r.always || changed {
			return r.err
		}
	}
	return nil
}

// syncedSince returns the directories synced since the last call, relative
// to root, sorted.
func (r *syncRule) syncedSince(root string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rel []string
	for _, d := range r.synced {
		p, err := filepath.Rel(root, d)
		if err != nil {
			p = d
		}
		rel = append(rel, filepath.ToSlash(p))
	}
	r.synced = nil
	slices.Sort(rel)
	return rel
}

// newLocalRule returns a Local on a fresh root in a fresh lf file system,
// with sr's rule injected.
func newLocalRule(t *testing.T, lf localFS, sr *syncRule) *Local {
	t.Helper()
	root := t.TempDir()
	l, err := NewLocal(root, WithFS(vfs.Inject(lf.new(t, root), sr.rule)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// wantTree fails unless the entries (files, directories, links) under root
// in fsys are exactly want, as '/'-separated relative paths.
func wantTree(t *testing.T, fsys vfs.FS, root string, want ...string) {
	t.Helper()
	var got []string
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			r := e.Name()
			if rel != "" {
				r = rel + "/" + r
			}
			got = append(got, r)
			if e.IsDir() {
				walk(filepath.Join(dir, e.Name()), r)
			}
		}
	}
	walk(root, "")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("tree under root = %q, want %q", got, want)
	}
}

// newLocal returns a Local on a fresh root on the operating system.
func newLocal(t *testing.T, opts ...LocalOption) *Local {
	t.Helper()
	return newLocalOn(t, localFSes[0], opts...)
}

// newLocalOn returns a Local on a fresh root in a fresh lf file system;
// opts come after WithFS, so they may wrap it.
func newLocalOn(t *testing.T, lf localFS, opts ...LocalOption) *Local {
	t.Helper()
	root := t.TempDir()
	l, err := NewLocal(root, append([]LocalOption{WithFS(lf.new(t, root))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// forEachLocal runs f as a subtest for every file system in localFSes, or
// only for those on disk if onDisk is set.
func forEachLocal(t *testing.T, onDisk bool, f func(t *testing.T, lf localFS)) {
	for _, lf := range localFSes {
		if onDisk && !lf.onDisk {
			continue
		}
		t.Run(lf.name, func(t *testing.T) { f(t, lf) })
	}
}

func writeFile(t *testing.T, fsys vfs.FS, path, data string) {
	t.Helper()
	if err := vfs.MkdirAll(fsys, filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.WriteString(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, fsys vfs.FS, path string) string {
	t.Helper()
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewLocal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, vfs.Default, file, "")
	if _, err := NewLocal(filepath.Join(dir, "missing")); err == nil {
		t.Error("NewLocal(missing) succeeded")
	}
	if _, err := NewLocal(file); err == nil {
		t.Error("NewLocal(file) succeeded")
	}
	for _, owner := range []string{"", "a.b", "a/b", "a b", strings.Repeat("o", maxOwnerLen+1)} {
		if _, err := NewLocal(dir, WithOwner(owner)); err == nil {
			t.Errorf("NewLocal(WithOwner(%q)) succeeded", owner)
		}
	}
	l, err := NewLocal(dir, WithOwner("proc-42_x"))
	if err != nil || l.Owner() != "proc-42_x" {
		t.Fatalf("NewLocal(WithOwner) = %v, %v", l, err)
	}
	a, _ := NewLocal(dir)
	b, _ := NewLocal(dir)
	if validOwner(a.Owner()) != nil || a.Owner() == b.Owner() {
		t.Errorf("default owners %q, %q: want distinct valid ids", a.Owner(), b.Owner())
	}
	if l, err := NewLocal(dir, WithFS(nil)); err != nil || l.fs != vfs.Default {
		t.Errorf("NewLocal(WithFS(nil)) = %v, %v; want one on vfs.Default", l, err)
	}

	// A root reached through a symbolic link works and resolves.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	l, err = NewLocal(link)
	if err != nil {
		t.Fatal(err)
	}
	put(t, l, "v", "via link")
	if got := readFile(t, vfs.Default, filepath.Join(dir, "v")); got != "via link" {
		t.Errorf("value through linked root = %q", got)
	}
	// So does a root below a link.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if l, err = NewLocal(filepath.Join(link, "sub")); err != nil {
		t.Fatal(err)
	}
	put(t, l, "w", "below link")
	if got := readFile(t, vfs.Default, filepath.Join(dir, "sub", "w")); got != "below link" {
		t.Errorf("value below linked root = %q", got)
	}
}

// TestNewLocalOtherFS checks NewLocal on a file system other than
// vfs.Default: the root is made absolute and clean, not resolved.
func TestNewLocalOtherFS(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		dir := t.TempDir()
		fsys := lf.new(t, dir)
		writeFile(t, fsys, filepath.Join(dir, "file"), "")
		for _, root := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "file")} {
			if _, err := NewLocal(root, WithFS(fsys)); err == nil {
				t.Errorf("NewLocal(%s) succeeded", root)
			}
		}
		l, err := NewLocal(dir+"/sub/..//", WithFS(fsys))
		if err != nil || l.Root() != dir {
			t.Fatalf("NewLocal(unclean) = %v, %v; want root %s", l, err, dir)
		}
		t.Chdir(dir)
		l, err = NewLocal(".", WithFS(fsys))
		if err != nil || l.Root() != dir {
			t.Fatalf("NewLocal(.) = %v, %v; want root %s", l, err, dir)
		}
		if !lf.onDisk || fsys == vfs.Default {
			return
		}
		// Only Default resolves links: elsewhere a linked root is refused.
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(dir, link); err != nil {
			t.Fatal(err)
		}
		if _, err := NewLocal(link, WithFS(fsys)); err == nil {
			t.Error("NewLocal(link) on another FS succeeded")
		}
	})
}

func TestLocalLayout(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf)
		put(t, l, "a/b/c", "abc")
		put(t, l, "top", "t")
		if got := readFile(t, l.fs, filepath.Join(l.Root(), "a", "b", "c")); got != "abc" {
			t.Errorf("file a/b/c = %q", got)
		}
		wantTree(t, l.fs, l.Root(), "a", "a/b", "a/b/c", "top")
		if err := l.Delete(context.Background(), "a/b/c"); err != nil {
			t.Fatal(err)
		}
		wantTree(t, l.fs, l.Root(), "a", "a/b", "top") // directories stay
	})
}

func TestLocalDirectoryKey(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf)
		ctx := context.Background()
		put(t, l, "dir/v", "v")
		if _, err := l.Get(ctx, "dir"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(dir) = %v, want ErrNotFound", err)
		}
		if _, err := l.Stat(ctx, "dir"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(dir) = %v, want ErrNotFound", err)
		}
		if _, err := l.ReadAt(ctx, "dir", make([]byte, 1), 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadAt(dir) = %v, want ErrNotFound", err)
		}
		if _, err := l.WriteAt(ctx, "dir", nil, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("WriteAt(dir) = %v, want ErrNotFound", err)
		}
		if err := l.Truncate(ctx, "dir", 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("Truncate(dir) = %v, want ErrNotFound", err)
		}
		if err := l.Sync(ctx, "dir"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Sync(dir) = %v, want ErrNotFound", err)
		}
		if err := l.Delete(ctx, "dir"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(dir) = %v, want ErrNotFound", err)
		}
		// Writing a directory's key, or a key below a value, is an invalid
		// key that names its OS cause; reading one is ErrNotFound.
		for key, cause := range map[string]error{"dir": syscall.EISDIR, "dir/v/w": syscall.ENOTDIR, "dir/v/w/x": syscall.ENOTDIR} {
			if err := l.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, ErrInvalidKey) || !errors.Is(err, cause) {
				t.Errorf("Put(%s) = %v, want ErrInvalidKey and %v", key, err, cause)
			}
			if err := l.PatchCopy(ctx, key, Patch{Size: 1}); !errors.Is(err, ErrInvalidKey) || !errors.Is(err, cause) {
				t.Errorf("PatchCopy(%s) = %v, want ErrInvalidKey and %v", key, err, cause)
			}
			if key == "dir" {
				continue // read above
			}
			for op, err := range callAll(ctx, l, key) {
				if op != "Put" && op != "PatchCopy" && !errors.Is(err, ErrNotFound) {
					t.Errorf("%s(%s) = %v, want ErrNotFound", op, key, err)
				}
			}
		}
		want(t, l, "dir/v", "v")
		wantTree(t, l.fs, l.Root(), "dir", "dir/v")
	})
}

// chmod sets the mode of the file at path in fsys.
func chmod(t *testing.T, fsys vfs.FS, path string, mode fs.FileMode) {
	t.Helper()
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Chmod(mode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestLocalKeepsMode(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf)
		ctx := context.Background()
		path := filepath.Join(l.Root(), "k")
		put(t, l, "k", "one")
		for _, mode := range []fs.FileMode{0o600, 0o666, 0o751, 0o777, 0o444} {
			chmod(t, l.fs, path, mode)
			put(t, l, "k", "two")
			if info, err := l.Stat(ctx, "k"); err != nil || info.Mode != mode {
				t.Errorf("mode after Put = %v (%v), want %v", info.Mode, err, mode)
			}
			if err := l.PatchCopy(ctx, "k", Patch{MinSize: 3, Size: 4}); err != nil {
				t.Fatal(err)
			}
			if info, err := l.Stat(ctx, "k"); err != nil || info.Mode != mode {
				t.Errorf("mode after PatchCopy = %v (%v), want %v", info.Mode, err, mode)
			}
		}
	})
}

func TestLocalNewMode(t *testing.T) {
	umask := syscall.Umask(0o027)
	defer syscall.Umask(umask)
	l := newLocal(t)
	put(t, l, "p", "x")
	if err := l.PatchCopy(context.Background(), "c", Patch{Size: 1}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"p", "c"} {
		if info, err := l.Stat(context.Background(), key); err != nil || info.Mode != 0o640 {
			t.Errorf("mode of new %s = %v (%v), want 0640", key, info.Mode, err)
		}
	}
}

func TestLocalNoTempLeft(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf)
		ctx := context.Background()
		put(t, l, "d/k", "old")
		if err := l.PatchCopy(ctx, "d/k", Patch{MinSize: 3, Size: 5, Ranges: []Range{{Off: 3, Data: []byte("er")}}}); err != nil {
			t.Fatal(err)
		}
		wantTree(t, l.fs, l.Root(), "d", "d/k")

		boom := errors.New("boom")
		if err := l.Put(ctx, "d/k", io.MultiReader(strings.NewReader("part"), errReader{boom})); !errors.Is(err, boom) {
			t.Fatalf("Put = %v, want boom", err)
		}
		if err := l.Put(ctx, "d/new", errReader{boom}); !errors.Is(err, boom) {
			t.Fatalf("Put = %v, want boom", err)
		}
		if err := l.fs.Mkdir(filepath.Join(l.Root(), "d", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := l.PatchCopy(ctx, "d/sub", Patch{Size: 1}); err == nil {
			t.Fatal("PatchCopy over a directory succeeded")
		}
		want(t, l, "d/k", "older")
		wantTree(t, l.fs, l.Root(), "d", "d/k", "d/sub")
	})
}

// TestLocalTempBeside checks, from inside Put, that the temporary file sits
// beside the value and names the store's owner.
func TestLocalTempBeside(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf, WithOwner("me"))
		dir := filepath.Join(l.Root(), "a", "b")
		var seen []string
		r := readFunc(func(p []byte) (int, error) {
			ents, err := l.fs.ReadDir(dir)
			if err != nil {
				return 0, err
			}
			for _, e := range ents {
				seen = append(seen, e.Name())
			}
			return copy(p, "v"), io.EOF
		})
		if err := l.Put(context.Background(), "a/b/k", r); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 || !strings.HasPrefix(seen[0], ".k"+TempMarker+"me.") {
			t.Fatalf("directory during Put = %q, want one temporary file", seen)
		}
		if owner, ok := ParseTempName(seen[0]); !ok || owner != "me" {
			t.Fatalf("ParseTempName(%q) = %q, %v", seen[0], owner, ok)
		}
		wantTree(t, l.fs, l.Root(), "a", "a/b", "a/b/k")
	})
}

func TestLocalLongSegment(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf, WithOwner(strings.Repeat("o", maxOwnerLen)))
		key := "d/" + strings.Repeat("s", MaxSegmentLen)
		put(t, l, key, "long")
		if err := l.PatchCopy(context.Background(), key, Patch{MinSize: 4, Size: 4, Ranges: []Range{{Data: []byte("L")}}}); err != nil {
			t.Fatal(err)
		}
		want(t, l, key, "Long")
	})
}

func TestParseTempName(t *testing.T) {
	for _, base := range []string{"k", "v.rangetx-tmp", ".hidden", strings.Repeat("s", MaxSegmentLen)} {
		for _, owner := range []string{"o", "3f2a-uuid_like", strings.Repeat("o", maxOwnerLen)} {
			name := tempName(base, owner)
			if len(name) > maxNameLen {
				t.Errorf("tempName(%q, %q) is %d bytes", base, owner, len(name))
			}
			if got, ok := ParseTempName(name); !ok || got != owner {
				t.Errorf("ParseTempName(%q) = %q, %v; want %q", name, got, ok, owner)
			}
		}
	}
	for _, name := range []string{
		"k",
		".k",
		"k" + TempMarker + "o.00ff",         // no leading dot
		".k" + TempMarker + "o.",            // no random part
		".k" + TempMarker + "o.xyz",         // not hex
		".k" + TempMarker + ".00ff",         // no owner
		".k" + TempMarker + "o.x.00ff",      // owner with a dot
		".k" + TempMarker + "o w.00ff",      // owner with a space
		".k.rangetx-tmp-o.00ff",             // not the marker
		strings.TrimSuffix(TempMarker, "."), // marker only
	} {
		if owner, ok := ParseTempName(name); ok {
			t.Errorf("ParseTempName(%q) = %q, true; want false", name, owner)
		}
	}
}

func TestRemoveTemp(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf, WithOwner("alive"))
		root := l.Root()
		put(t, l, "k", "value")
		put(t, l, "d/e/k", "value")
		files := map[string]string{
			tempName("k", "dead"):                      "removed",
			tempName("k", "alive"):                     "kept",
			"d/e/" + tempName("k", "dead"):             "removed",
			"d/" + tempName("x", "dead2"):              "removed",
			"bad\\dir/" + tempName("x", "dead"):        "removed",
			ReservedDir + "/" + tempName("j", "dead"):  "kept: reserved",
			"d/" + tempName("x", "dead") + "-not-temp": "kept: not a temp name",
		}
		for name := range files {
			writeFile(t, l.fs, filepath.Join(root, name), "junk")
		}
		// A dead owner's temp-named directory is not a temporary file.
		if err := l.fs.Mkdir(filepath.Join(root, tempName("dir", "dead")), 0o755); err != nil {
			t.Fatal(err)
		}
		// Nor is a symbolic link.
		if lf.onDisk {
			if err := os.Symlink("k", filepath.Join(root, "d", tempName("link", "dead"))); err != nil {
				t.Fatal(err)
			}
		}
		dead := map[string]bool{"dead": true, "dead2": true}
		removed, err := l.RemoveTemp(context.Background(), func(owner string) bool { return dead[owner] })
		if err != nil {
			t.Fatal(err)
		}
		var wantRemoved []string
		for name, fate := range files {
			_, err := l.fs.Lstat(filepath.Join(root, name))
			switch {
			case fate == "removed":
				wantRemoved = append(wantRemoved, name)
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s still exists (%v)", name, err)
				}
			case err != nil:
				t.Errorf("%s (%s) is gone: %v", name, fate, err)
			}
		}
		slices.Sort(wantRemoved)
		if !slices.Equal(removed, wantRemoved) {
			t.Errorf("RemoveTemp = %q, want %q", removed, wantRemoved)
		}
		want(t, l, "k", "value")
		want(t, l, "d/e/k", "value")

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.RemoveTemp(ctx, func(string) bool { return true }); !errors.Is(err, context.Canceled) {
			t.Errorf("RemoveTemp(cancelled) = %v, want context.Canceled", err)
		}
		ents, _ := l.fs.ReadDir(root)
		n := 0
		for _, e := range ents {
			if _, ok := ParseTempName(e.Name()); ok && e.Type().IsRegular() {
				n++
			}
		}
		if n != 1 {
			t.Errorf("cancelled RemoveTemp removed files: %d temporary files left, want 1", n)
		}
	})
}

// TestRemoveTempSyncs checks that RemoveTemp syncs the directory of every
// file it removed, and reports a failing sync.
func TestRemoveTempSyncs(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		sr := &syncRule{}
		l := newLocalRule(t, lf, sr)
		root := l.Root()
		for _, name := range []string{"a/" + tempName("x", "dead"), "a/" + tempName("y", "dead"), "b/c/" + tempName("z", "dead")} {
			writeFile(t, l.fs, filepath.Join(root, name), "junk")
		}
		sr.syncedSince(root)
		if _, err := l.RemoveTemp(context.Background(), func(string) bool { return true }); err != nil {
			t.Fatal(err)
		}
		if got, want := sr.syncedSince(root), []string{"a", "b/c"}; !slices.Equal(got, want) {
			t.Errorf("RemoveTemp synced %q, want %q", got, want)
		}

		writeFile(t, l.fs, filepath.Join(root, "a", tempName("x", "dead")), "junk")
		sr.fail(syscall.EIO, true)
		if removed, err := l.RemoveTemp(context.Background(), func(string) bool { return true }); !errors.Is(err, syscall.EIO) || len(removed) != 1 {
			t.Errorf("RemoveTemp with a failing sync = %q, %v; want one file and EIO", removed, err)
		}
	})
}

func TestLocalList(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf)
		root := l.Root()
		put(t, l, "a/v", "v")
		put(t, l, "b", "b")
		writeFile(t, l.fs, filepath.Join(root, ReservedDir, "journal"), "j")
		writeFile(t, l.fs, filepath.Join(root, "a", tempName("v", "o")), "tmp")
		writeFile(t, l.fs, filepath.Join(root, "a", "back\\slash"), "odd")
		writeFile(t, l.fs, filepath.Join(root, "bad\\dir", "x"), "odd")
		if err := l.fs.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		if lf.onDisk {
			out := t.TempDir()
			writeFile(t, vfs.Default, filepath.Join(out, "secret"), "s")
			for link, target := range map[string]string{
				"out":       out,                                         // directory outside
				"a/secret":  filepath.Join(out, "secret"),                // file outside
				"a/dangle":  filepath.Join(root, "nothing"),              // dangling
				"a/journal": filepath.Join(root, ReservedDir, "journal"), // into the reserved dir
				"alias":     filepath.Join(root, "b"),                    // file inside
				"a/rel":     "v",                                         // relative, file inside
				"adir":      filepath.Join(root, "a"),                    // directory inside: not descended
			} {
				if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
					t.Fatal(err)
				}
			}
			for _, prefix := range []string{"out", "alias", "adir", "adir/"} {
				if _, err := l.List(context.Background(), prefix); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("List(%s) = %v, want ErrInvalidKey", prefix, err)
				}
			}
		}
		wantKeys(t, l, "", "a/v", "b")
		wantKeys(t, l, "a", "a/v")
		wantKeys(t, l, "a/v", "a/v")
		wantKeys(t, l, "b", "b")
		wantKeys(t, l, "empty")
		wantKeys(t, l, "b/c")
	})
}

// TestLocalSymlinkEscape checks that no method reaches outside the root
// through a symbolic link, to a directory or to a file.
func TestLocalSymlinkEscape(t *testing.T) {
	forEachLocal(t, true, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf)
		root := l.Root()
		out := t.TempDir()
		writeFile(t, vfs.Default, filepath.Join(out, "secret"), "secret")
		writeFile(t, vfs.Default, filepath.Join(root, ReservedDir, "journal"), "journal")
		links := map[string]string{
			"dirlink":      out,
			"d/filelink":   filepath.Join(out, "secret"),
			"d/relative":   "../../" + filepath.Base(out) + "/secret",
			"d/dangling":   filepath.Join(out, "missing"),
			"d/reserved":   filepath.Join(root, ReservedDir, "journal"),
			"d/reservedir": filepath.Join(root, ReservedDir),
		}
		if err := os.MkdirAll(filepath.Join(root, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		for link, target := range links {
			if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
				t.Fatal(err)
			}
		}
		for _, key := range []string{
			"dirlink/secret", "dirlink/new", "dirlink/new/deeper",
			"d/filelink", "d/relative", "d/dangling", "d/reserved", "d/reservedir/journal",
		} {
			for op, err := range callAll(context.Background(), l, key) {
				if !errors.Is(err, ErrInvalidKey) {
					t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, key, err)
				}
			}
		}
		wantTree(t, vfs.Default, out, "secret")
		if got := readFile(t, vfs.Default, filepath.Join(out, "secret")); got != "secret" {
			t.Errorf("outside file = %q", got)
		}
		if got := readFile(t, vfs.Default, filepath.Join(root, ReservedDir, "journal")); got != "journal" {
			t.Errorf("reserved file = %q", got)
		}
		wantKeys(t, l, "")
	})
}

// TestLocalSymlinkInside checks that links that stay inside the root are
// not followed either: through one, two keys would name one file and writers
// holding different per-key locks would race on it.
func TestLocalSymlinkInside(t *testing.T) {
	forEachLocal(t, true, func(t *testing.T, lf localFS) {
		l := newLocalOn(t, lf)
		root := l.Root()
		put(t, l, "real/v", "v")
		links := map[string]string{
			"alias":     filepath.Join(root, "real"),      // directory
			"rel":       "real",                           // directory, relative
			"vlink":     filepath.Join(root, "real", "v"), // file
			"real/self": "v",                              // file, relative, same directory
			"dangling":  filepath.Join(root, "nothing"),   // would be created by Put
			"loop":      "loop",                           // never resolves
		}
		for link, target := range links {
			if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
				t.Fatal(err)
			}
		}
		for _, key := range []string{
			"alias/v", "alias/new", "alias/new/deeper", "rel/v", "vlink", "real/self",
			"dangling", "dangling/x", "loop", "loop/x",
		} {
			for op, err := range callAll(context.Background(), l, key) {
				if !errors.Is(err, ErrInvalidKey) {
					t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, key, err)
				}
			}
		}
		// Nothing was written through, replaced or removed.
		want(t, l, "real/v", "v")
		wantTree(t, vfs.Default, root, "alias", "dangling", "loop", "real", "real/self", "real/v", "rel", "vlink")
		for link, target := range links {
			if got, err := os.Readlink(filepath.Join(root, link)); err != nil || got != target {
				t.Errorf("link %s = %q, %v; want %q", link, got, err, target)
			}
		}
		wantKeys(t, l, "", "real/v")
		wantKeys(t, l, "real", "real/v")
	})
}

// TestLocalNotDurable checks that a directory sync failing after the rename
// or unlink is ErrNotDurable with its cause, and only then.
func TestLocalNotDurable(t *testing.T) {
	forEachLocal(t, false, func(t *testing.T, lf localFS) {
		sr := &syncRule{}
		l := newLocalRule(t, lf, sr)
		ctx := context.Background()
		put(t, l, "d/k", "old")
		put(t, l, "d/gone", "x")
		put(t, l, "d/gone2", "x")
		sr.fail(syscall.EIO, false)
		wantNotDurable := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, ErrNotDurable) || !errors.Is(err, syscall.EIO) {
				t.Errorf("%s = %v, want ErrNotDurable and EIO", op, err)
			}
		}

		// Failures before the change are not ErrNotDurable.
		boom := errors.New("boom")
		if err := l.Put(ctx, "d/k", errReader{boom}); !errors.Is(err, boom) || errors.Is(err, ErrNotDurable) {
			t.Errorf("Put(failing reader) = %v, want boom only", err)
		}
		if err := l.Delete(ctx, "d/missing"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDurable) {
			t.Errorf("Delete(missing) = %v, want ErrNotFound only", err)
		}
		want(t, l, "d/k", "old")

		wantNotDurable("Put", l.Put(ctx, "d/k", strings.NewReader("new")))
		want(t, l, "d/k", "new")
		wantNotDurable("Put(new dir)", l.Put(ctx, "e/f/k", strings.NewReader("e")))
		want(t, l, "e/f/k", "e")
		wantNotDurable("PatchCopy", l.PatchCopy(ctx, "d/k", Patch{MinSize: 3, Size: 4, Ranges: []Range{{Off: 3, Data: []byte("!")}}}))
		want(t, l, "d/k", "new!")
		wantNotDurable("PatchCopy(new dir)", l.PatchCopy(ctx, "g/k", Patch{Size: 1, Ranges: []Range{{Data: []byte("g")}}}))
		want(t, l, "g/k", "g")
		wantNotDurable("Delete", l.Delete(ctx, "d/gone"))
		wantMissing(t, l, "d/gone")
		wantTree(t, l.fs, l.Root(), "d", "d/k", "d/gone2", "e", "e/f", "e/f/k", "g", "g/k")

		// The unlink is done: a missing directory then is not a missing value.
		sr.fail(syscall.ENOENT, false)
		if err := l.Delete(ctx, "d/gone2"); !errors.Is(err, ErrNotDurable) || errors.Is(err, ErrNotFound) {
			t.Errorf("Delete = %v, want ErrNotDurable and not ErrNotFound", err)
		}

		// A failing sync of a directory Put or PatchCopy creates comes
		// before the change: a plain error, and no value.
		sr.fail(syscall.EIO, true)
		if err := l.Put(ctx, "x/y/k", strings.NewReader("x")); !errors.Is(err, syscall.EIO) || errors.Is(err, ErrNotDurable) {
			t.Errorf("Put(new dir, failing mkdir sync) = %v, want EIO only", err)
		}
		if err := l.PatchCopy(ctx, "z/k", Patch{Size: 1}); !errors.Is(err, syscall.EIO) || errors.Is(err, ErrNotDurable) {
			t.Errorf("PatchCopy(new dir, failing mkdir sync) = %v, want EIO only", err)
		}
		sr.fail(nil, false)
		wantMissing(t, l, "x/y/k")
		wantMissing(t, l, "z/k")
		wantKeys(t, l, "", "d/k", "e/f/k", "g/k")
	})
}

// TestLocalHardLinkRejected: a hard link gives one file two keys, and so
// two locks; both names are refused and nothing is written.
func TestLocalHardLinkRejected(t *testing.T) {
	forEachLocal(t, true, func(t *testing.T, lf localFS) {
		ctx := context.Background()
		l := newLocalOn(t, lf)
		root := l.Root()
		if err := l.Put(ctx, "real", strings.NewReader("real")); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(root, "real"), filepath.Join(root, "alias")); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"alias", "real"} {
			if _, err := l.WriteAt(ctx, key, []byte("X"), 0); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("WriteAt(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := l.Stat(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
		if got := readFile(t, vfs.Default, filepath.Join(root, "real")); got != "real" {
			t.Fatalf("value changed: %q", got)
		}
	})
}

// TestLocalNewValueSyncsExistingDirectories: a new value's whole path is
// durable when Put returns, even through directories that existed but were
// not yet durable (made by a concurrent Put that has not synced them, or
// by a process killed before it did).
func TestLocalNewValueSyncsExistingDirectories(t *testing.T) {
	const root = "/store"
	m := vfs.NewMem()
	if err := vfs.MkdirAll(m, root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/store/a", "/store/a/b"} {
		if err := m.Mkdir(d, 0o755); err != nil { // never synced
			t.Fatal(err)
		}
	}
	l, err := NewLocal(root, WithFS(m))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a/b/k", "a/p"} {
		if err := l.Put(context.Background(), key, strings.NewReader(key)); err != nil {
			t.Fatal(err)
		}
	}
	img := m.Crash(vfs.DropUnsynced, 0)
	for _, key := range []string{"a/b/k", "a/p"} {
		if b, err := img.ReadFile(root + "/" + key); err != nil || string(b) != key {
			t.Errorf("after a power loss %s = %q, %v", key, b, err)
		}
	}
}
