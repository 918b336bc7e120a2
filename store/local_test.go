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
	"syscall"
	"testing"

	"github.com/rangetx/rangetx/internal/fsutil"
)

// wantTree fails unless the entries (files, directories, links) under root
// are exactly want, as '/'-separated relative paths.
func wantTree(t *testing.T, root string, want ...string) {
	t.Helper()
	var got []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != root {
			rel, _ := filepath.Rel(root, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("tree under root = %q, want %q", got, want)
	}
}

func newLocal(t *testing.T, opts ...LocalOption) *Local {
	t.Helper()
	l, err := NewLocal(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewLocal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, "")
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
	if got := readFile(t, filepath.Join(dir, "v")); got != "via link" {
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
	if got := readFile(t, filepath.Join(dir, "sub", "w")); got != "below link" {
		t.Errorf("value below linked root = %q", got)
	}
}

func TestLocalLayout(t *testing.T) {
	l := newLocal(t)
	put(t, l, "a/b/c", "abc")
	put(t, l, "top", "t")
	if got := readFile(t, filepath.Join(l.Root(), "a", "b", "c")); got != "abc" {
		t.Errorf("file a/b/c = %q", got)
	}
	wantTree(t, l.Root(), "a", "a/b", "a/b/c", "top")
	if err := l.Delete(context.Background(), "a/b/c"); err != nil {
		t.Fatal(err)
	}
	wantTree(t, l.Root(), "a", "a/b", "top") // directories stay
}

func TestLocalDirectoryKey(t *testing.T) {
	l := newLocal(t)
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
	// Writing a directory's key, or a key below a value, is an invalid key
	// that names its OS cause; reading one is ErrNotFound.
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
	wantTree(t, l.Root(), "dir", "dir/v")
}

func TestLocalKeepsMode(t *testing.T) {
	l := newLocal(t)
	ctx := context.Background()
	path := filepath.Join(l.Root(), "k")
	put(t, l, "k", "one")
	for _, mode := range []fs.FileMode{0o600, 0o666, 0o751, 0o777, 0o444} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
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
	l := newLocal(t)
	ctx := context.Background()
	put(t, l, "d/k", "old")
	if err := l.PatchCopy(ctx, "d/k", Patch{MinSize: 3, Size: 5, Ranges: []Range{{Off: 3, Data: []byte("er")}}}); err != nil {
		t.Fatal(err)
	}
	wantTree(t, l.Root(), "d", "d/k")

	boom := errors.New("boom")
	if err := l.Put(ctx, "d/k", io.MultiReader(strings.NewReader("part"), errReader{boom})); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want boom", err)
	}
	if err := l.Put(ctx, "d/new", errReader{boom}); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want boom", err)
	}
	if err := os.Mkdir(filepath.Join(l.Root(), "d", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := l.PatchCopy(ctx, "d/sub", Patch{Size: 1}); err == nil {
		t.Fatal("PatchCopy over a directory succeeded")
	}
	want(t, l, "d/k", "older")
	wantTree(t, l.Root(), "d", "d/k", "d/sub")
}

// TestLocalTempBeside checks, from inside Put, that the temporary file sits
// beside the value and names the store's owner.
func TestLocalTempBeside(t *testing.T) {
	l := newLocal(t, WithOwner("me"))
	dir := filepath.Join(l.Root(), "a", "b")
	var seen []string
	r := readFunc(func(p []byte) (int, error) {
		ents, err := os.ReadDir(dir)
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
	wantTree(t, l.Root(), "a", "a/b", "a/b/k")
}

func TestLocalLongSegment(t *testing.T) {
	l := newLocal(t, WithOwner(strings.Repeat("o", maxOwnerLen)))
	key := "d/" + strings.Repeat("s", MaxSegmentLen)
	put(t, l, key, "long")
	if err := l.PatchCopy(context.Background(), key, Patch{MinSize: 4, Size: 4, Ranges: []Range{{Data: []byte("L")}}}); err != nil {
		t.Fatal(err)
	}
	want(t, l, key, "Long")
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
	l := newLocal(t, WithOwner("alive"))
	root := l.Root()
	put(t, l, "k", "value")
	put(t, l, "d/e/k", "value")
	files := map[string]string{
		tempName("k", "dead"):                      "removed",
		tempName("k", "alive"):                     "kept",
		"d/e/" + tempName("k", "dead"):             "removed",
		"d/" + tempName("x", "dead2"):              "removed",
		ReservedDir + "/" + tempName("j", "dead"):  "kept: reserved",
		"d/" + tempName("x", "dead") + "-not-temp": "kept: not a temp name",
	}
	for name := range files {
		writeFile(t, filepath.Join(root, name), "junk")
	}
	// A dead owner's temp-named directory is not a temporary file.
	if err := os.Mkdir(filepath.Join(root, tempName("dir", "dead")), 0o755); err != nil {
		t.Fatal(err)
	}
	// Nor is a symbolic link.
	if err := os.Symlink("k", filepath.Join(root, "d", tempName("link", "dead"))); err != nil {
		t.Fatal(err)
	}
	dead := map[string]bool{"dead": true, "dead2": true}
	removed, err := l.RemoveTemp(context.Background(), func(owner string) bool { return dead[owner] })
	if err != nil {
		t.Fatal(err)
	}
	var wantRemoved []string
	for name, fate := range files {
		_, err := os.Lstat(filepath.Join(root, name))
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
	ents, _ := os.ReadDir(root)
	n := 0
	for _, e := range ents {
		if _, ok := ParseTempName(e.Name()); ok && e.Type().IsRegular() {
			n++
		}
	}
	if n != 1 {
		t.Errorf("cancelled RemoveTemp removed files: %d temporary files left, want 1", n)
	}
}

func TestLocalList(t *testing.T) {
	l := newLocal(t)
	root := l.Root()
	out := t.TempDir()
	writeFile(t, filepath.Join(out, "secret"), "s")
	put(t, l, "a/v", "v")
	put(t, l, "b", "b")
	writeFile(t, filepath.Join(root, ReservedDir, "journal"), "j")
	writeFile(t, filepath.Join(root, "a", tempName("v", "o")), "tmp")
	writeFile(t, filepath.Join(root, "a", "back\\slash"), "odd")
	writeFile(t, filepath.Join(root, "bad\\dir", "x"), "odd")
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
	wantKeys(t, l, "", "a/v", "b")
	wantKeys(t, l, "a", "a/v")
	for _, prefix := range []string{"out", "alias", "adir", "adir/"} {
		if _, err := l.List(context.Background(), prefix); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("List(%s) = %v, want ErrInvalidKey", prefix, err)
		}
	}
}

// TestLocalSymlinkEscape checks that no method reaches outside the root
// through a symbolic link, to a directory or to a file.
func TestLocalSymlinkEscape(t *testing.T) {
	l := newLocal(t)
	root := l.Root()
	out := t.TempDir()
	writeFile(t, filepath.Join(out, "secret"), "secret")
	writeFile(t, filepath.Join(root, ReservedDir, "journal"), "journal")
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
	wantTree(t, out, "secret")
	if got := readFile(t, filepath.Join(out, "secret")); got != "secret" {
		t.Errorf("outside file = %q", got)
	}
	if got := readFile(t, filepath.Join(root, ReservedDir, "journal")); got != "journal" {
		t.Errorf("reserved file = %q", got)
	}
	wantKeys(t, l, "")
}

// TestLocalSymlinkInside checks that links that stay inside the root are
// not followed either: through one, two keys would name one file and writers
// holding different per-key locks would race on it.
func TestLocalSymlinkInside(t *testing.T) {
	l := newLocal(t)
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
	wantTree(t, root, "alias", "dangling", "loop", "real", "real/self", "real/v", "rel", "vlink")
	for link, target := range links {
		if got, err := os.Readlink(filepath.Join(root, link)); err != nil || got != target {
			t.Errorf("link %s = %q, %v; want %q", link, got, err, target)
		}
	}
	wantKeys(t, l, "", "real/v")
	wantKeys(t, l, "real", "real/v")
}

// failSync makes the store's directory fsync return err for the rest of
// the test.
func failSync(t *testing.T, err error) {
	t.Cleanup(func() { syncDir = fsutil.SyncDir })
	syncDir = func(string) error { return err }
}

// TestLocalNotDurable checks that a directory fsync failing after the
// rename or unlink is ErrNotDurable with its cause, and only then.
func TestLocalNotDurable(t *testing.T) {
	l := newLocal(t)
	ctx := context.Background()
	put(t, l, "d/k", "old")
	put(t, l, "d/gone", "x")
	put(t, l, "d/gone2", "x")
	failSync(t, syscall.EIO)
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
	wantNotDurable("Delete", l.Delete(ctx, "d/gone"))
	wantMissing(t, l, "d/gone")
	wantTree(t, l.Root(), "d", "d/k", "d/gone2", "e", "e/f", "e/f/k")

	// The unlink is done: a missing directory then is not a missing value.
	failSync(t, &fs.PathError{Op: "open", Path: "d", Err: syscall.ENOENT})
	if err := l.Delete(ctx, "d/gone2"); !errors.Is(err, ErrNotDurable) || errors.Is(err, ErrNotFound) {
		t.Errorf("Delete = %v, want ErrNotDurable and not ErrNotFound", err)
	}
}

// TestLocalHardLinkRejected: a hard link gives one file two keys, and so
// two locks; both names are refused and nothing is written.
func TestLocalHardLinkRejected(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l, err := NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
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
	if b, _ := os.ReadFile(filepath.Join(root, "real")); string(b) != "real" {
		t.Fatalf("value changed: %q", b)
	}
}
