package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

func TestFaultRule(t *testing.T) {
	op := Op{Kind: OpWrite, Path: "/f"}
	run := func(f *Fault, ops ...Op) string {
		var s []byte
		for _, o := range ops {
			switch err := f.Rule(o); {
			case err == nil:
				s = append(s, '.')
			case errors.Is(err, syscall.EIO):
				s = append(s, 'E')
			default:
				s = append(s, '?')
			}
		}
		return string(s)
	}
	five := []Op{op, op, op, op, op}
	for _, tc := range []struct {
		f    *Fault
		want string
	}{
		{&Fault{}, "....."},
		{&Fault{N: -1, Persistent: true}, "....."},
		{&Fault{N: 1}, "E...."},
		{&Fault{N: 3}, "..E.."},
		{&Fault{N: 5}, "....E"},
		{&Fault{N: 6}, "....."},
		{&Fault{N: 3, Persistent: true}, "..EEE"},
		{&Fault{N: 3, Err: fmt.Errorf("wrapped: %w", syscall.EIO)}, "..E.."},
		{&Fault{N: 2, Err: syscall.ENOSPC}, ".?..."},
	} {
		if got := run(tc.f, five...); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
		if tc.f.Count() != 5 || tc.f.Fired() != (tc.want != ".....") {
			t.Errorf("%+v: Count %d Fired %v", tc.f, tc.f.Count(), tc.f.Fired())
		}
	}

	// Match selects what counts.
	syncOp := Op{Kind: OpSync, Path: "/f"}
	f := &Fault{N: 2, Match: func(o Op) bool { return o.Kind == OpSync }}
	if got := run(f, op, syncOp, op, op, syncOp, op, syncOp); got != "....E.." {
		t.Errorf("Match: %s", got)
	}
	if f.Count() != 3 {
		t.Errorf("Match: Count %d", f.Count())
	}

	// Concurrent callers: exactly one failure.
	f = &Fault{N: 777}
	var wg sync.WaitGroup
	var mu sync.Mutex
	fails := 0
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if f.Rule(op) != nil {
					mu.Lock()
					fails++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if fails != 1 || f.Count() != 1600 {
		t.Errorf("concurrent: %d failures, Count %d", fails, f.Count())
	}
}

// TestInjectEachMethod fails each method once and checks the error and that
// nothing happened.
func TestInjectEachMethod(t *testing.T) {
	m := NewMem()
	must(t, m.Mkdir("/d", 0o755))
	must(t, m.WriteFile("/d/f", []byte("data"), 0o644))
	var fail OpKind
	var seen []Op
	fsys := Inject(m, func(op Op) error {
		seen = append(seen, op)
		if op.Kind == fail {
			return syscall.EIO
		}
		return nil
	})
	f, err := fsys.OpenFile("/d/f", os.O_RDWR, 0)
	must(t, err)
	if f.Name() != "/d/f" {
		t.Errorf("Name = %q", f.Name())
	}
	buf := make([]byte, 2)
	for _, tc := range []struct {
		kind OpKind
		path string
		call func() error
	}{
		{OpOpen, "/d/f", func() error { _, err := fsys.OpenFile("/d/f", os.O_RDONLY, 0); return err }},
		{OpCreate, "/d/g", func() error { _, err := fsys.OpenFile("/d/g", os.O_CREATE|os.O_WRONLY, 0o644); return err }},
		{OpTruncate, "/d/f", func() error { _, err := fsys.OpenFile("/d/f", os.O_WRONLY|os.O_TRUNC, 0); return err }},
		{OpLstat, "/d/f", func() error { _, err := fsys.Lstat("/d/f"); return err }},
		{OpMkdir, "/e", func() error { return fsys.Mkdir("/e", 0o755) }},
		{OpRename, "/d/f", func() error { return fsys.Rename("/d/f", "/d/h") }},
		{OpRemove, "/d/f", func() error { return fsys.Remove("/d/f") }},
		{OpReadDir, "/d", func() error { _, err := fsys.ReadDir("/d"); return err }},
		{OpSyncDir, "/d", func() error { return fsys.SyncDir("/d") }},
		{OpRead, "/d/f", func() error { _, err := f.Read(buf); return err }},
		{OpRead, "/d/f", func() error { _, err := f.ReadAt(buf, 1); return err }},
		{OpWrite, "/d/f", func() error { _, err := f.Write([]byte("xy")); return err }},
		{OpWrite, "/d/f", func() error { _, err := f.WriteAt([]byte("xy"), 1); return err }},
		{OpTruncate, "/d/f", func() error { return f.Truncate(1) }},
		{OpChmod, "/d/f", func() error { return f.Chmod(0o600) }},
		{OpStat, "/d/f", func() error { _, err := f.Stat(); return err }},
		{OpSync, "/d/f", func() error { return f.Sync() }},
		{OpSyncData, "/d/f", func() error { return f.SyncData() }},
		{OpClose, "/d/f", func() error { return f.Close() }},
	} {
		ops, files := m.Ops(), m.Files()
		fail, seen = tc.kind, nil
		err := tc.call()
		fail = 0
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("%v: err = %v", tc.kind, err)
			continue
		}
		if len(seen) != 1 || seen[0].Kind != tc.kind || seen[0].Path != tc.path {
			t.Errorf("%v: rule saw %v", tc.kind, seen)
		}
		if tc.kind == OpRename {
			var le *os.LinkError
			if !errors.As(err, &le) || le.Op != "rename" || le.Old != "/d/f" || le.New != "/d/h" || le.Err != syscall.EIO {
				t.Errorf("rename: %#v", err)
			}
		} else {
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Op != tc.kind.String() || pe.Path != tc.path || pe.Err != syscall.EIO {
				t.Errorf("%v: %#v", tc.kind, err)
			}
		}
		if m.Ops() != ops || !maps.EqualFunc(m.Files(), files, bytes.Equal) {
			t.Errorf("%v: the operation was performed", tc.kind)
		}
	}
	// The failed Read did not move the position; the failed Close left the
	// file open.
	if n, err := f.Read(buf); n != 2 || err != nil || string(buf) != "da" {
		t.Errorf("Read after failed Read = %d, %v, %q", n, err, buf)
	}
	must(t, f.Close())

	// What the rule is told.
	seen = nil
	g, err := fsys.OpenFile("/d/f", os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, _ = g.Write([]byte("abc"))
	_, _ = g.Stat()
	h, err := fsys.OpenFile("/d/f", os.O_RDONLY, 0)
	must(t, err)
	_, _ = h.ReadAt(buf, 3)
	_ = g.Close()
	_ = h.Close()
	want := []Op{
		{Kind: OpOpen, Path: "/d/f"},
		{Kind: OpWrite, Path: "/d/f", Off: -1, Len: 3},
		{Kind: OpStat, Path: "/d/f"},
		{Kind: OpOpen, Path: "/d/f"},
		{Kind: OpRead, Path: "/d/f", Off: 3, Len: 2},
		{Kind: OpClose, Path: "/d/f"},
		{Kind: OpClose, Path: "/d/f"},
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("rule saw %v\nwant %v", seen, want)
	}

	// A nil rule injects nothing.
	must(t, Inject(m, nil).Mkdir("/nil", 0o755))
}

func TestInjectShortWrite(t *testing.T) {
	m := NewMem()
	var err error
	fsys := Inject(m, func(op Op) error {
		if op.Kind == OpWrite {
			return err
		}
		return nil
	})
	f, ferr := fsys.OpenFile("/f", os.O_CREATE|os.O_RDWR, 0o644)
	must(t, ferr)

	err = syscall.ENOSPC
	n, werr := f.Write([]byte("0123456789"))
	if n != 5 || !errors.Is(werr, syscall.ENOSPC) {
		t.Errorf("Write with ENOSPC = %d, %v", n, werr)
	}
	var pe *fs.PathError
	if !errors.As(werr, &pe) || pe.Op != "write" || pe.Path != "/f" {
		t.Errorf("Write error %#v", werr)
	}
	err = fmt.Errorf("quota: %w", syscall.EFBIG)
	n, werr = f.WriteAt([]byte("abcd"), 8)
	if n != 2 || !errors.Is(werr, syscall.EFBIG) {
		t.Errorf("WriteAt with EFBIG = %d, %v", n, werr)
	}
	err = syscall.EIO
	n, werr = f.WriteAt([]byte("zzzz"), 0)
	if n != 0 || !errors.Is(werr, syscall.EIO) {
		t.Errorf("WriteAt with EIO = %d, %v", n, werr)
	}
	n, werr = f.Write([]byte("zzzz"))
	if n != 0 || !errors.Is(werr, syscall.EIO) {
		t.Errorf("Write with EIO = %d, %v", n, werr)
	}
	if got := content(t, m, "/f"); got != "01234\x00\x00\x00ab" {
		t.Errorf("content %q", got)
	}
	// The underlying error wins if the half write fails too.
	err = syscall.ENOSPC
	r, ferr := fsys.OpenFile("/f", os.O_RDONLY, 0)
	must(t, ferr)
	if _, werr := r.Write([]byte("xx")); !errors.Is(werr, syscall.EBADF) {
		t.Errorf("half write on read-only file: %v", werr)
	}
	must(t, r.Close())
	must(t, f.Close())
}

// TestInjectDefault runs the operating system's file system through Inject.
func TestInjectDefault(t *testing.T) {
	dir := t.TempDir()
	count := &Fault{}
	fsys := Inject(Default, count.Rule)
	sub := filepath.Join(dir, "a", "b")
	must(t, MkdirAll(fsys, sub, 0o755))
	tmp, val := filepath.Join(sub, "v.tmp"), filepath.Join(sub, "v")
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	must(t, err)
	_, err = f.Write([]byte("hello"))
	must(t, err)
	_, err = f.WriteAt([]byte("J"), 0)
	must(t, err)
	must(t, f.SyncData())
	must(t, f.Chmod(0o600))
	must(t, f.Sync())
	fi, err := f.Stat()
	must(t, err)
	if fi.Size() != 5 || fi.Mode() != 0o600 {
		t.Errorf("Stat: %v %v", fi.Size(), fi.Mode())
	}
	must(t, f.Close())

	// A failed rename leaves both names as they were.
	fault := &Fault{N: 1, Match: func(op Op) bool { return op.Kind == OpRename }}
	err = Inject(Default, fault.Rule).Rename(tmp, val)
	if !errors.Is(err, syscall.EIO) || !fault.Fired() {
		t.Fatalf("injected rename: %v", err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("temp file gone: %v", err)
	}
	if _, err := os.Stat(val); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("value exists: %v", err)
	}

	must(t, fsys.Rename(tmp, val))
	must(t, fsys.SyncDir(sub))
	ents, err := fsys.ReadDir(sub)
	if err != nil || len(ents) != 1 || ents[0].Name() != "v" {
		t.Errorf("ReadDir = %v, %v", ents, err)
	}
	if b, err := os.ReadFile(val); err != nil || string(b) != "Jello" {
		t.Errorf("on disk: %q, %v", b, err)
	}
	if _, err := fsys.Lstat(val); err != nil {
		t.Error(err)
	}
	must(t, fsys.Remove(val))
	if count.Count() < 15 || count.Fired() {
		t.Errorf("counting fault: Count %d Fired %v", count.Count(), count.Fired())
	}
}

// TestInjectCopyN copies between two Files of an injected Default.
func TestInjectCopyN(t *testing.T) {
	dir := t.TempDir()
	src := make([]byte, 300<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	must(t, os.WriteFile(filepath.Join(dir, "src"), src, 0o644))

	copyN := func(rule func(Op) error, n int64) (int64, error) {
		fsys := Inject(Default, rule)
		s, err := fsys.OpenFile(filepath.Join(dir, "src"), os.O_RDONLY, 0)
		must(t, err)
		defer s.Close()
		d, err := fsys.OpenFile(filepath.Join(dir, "dst"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		must(t, err)
		defer d.Close()
		return io.CopyN(d, s, n)
	}

	count := &Fault{}
	const n = 200<<10 + 123
	got, err := copyN(count.Rule, n)
	if got != n || err != nil {
		t.Fatalf("CopyN = %d, %v", got, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "dst")); err != nil || !bytes.Equal(b, src[:n]) {
		t.Fatalf("copy differs (%d bytes, %v)", len(b), err)
	}
	if count.Count() < 4 {
		t.Errorf("the copy went around the rule: %d operations", count.Count())
	}

	// Past the end of the source: a short copy.
	got, err = copyN(nil, int64(len(src))+10)
	if got != int64(len(src)) || err != io.EOF {
		t.Errorf("CopyN past end = %d, %v", got, err)
	}

	// A disk that fills during the copy.
	full := &Fault{N: 3, Err: syscall.ENOSPC, Match: func(op Op) bool { return op.Kind == OpWrite }}
	got, err = copyN(full.Rule, n)
	if !errors.Is(err, syscall.ENOSPC) || got >= n || got == 0 {
		t.Errorf("CopyN onto a full disk = %d, %v", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dst")); int64(len(b)) != got || !bytes.Equal(b, src[:got]) {
		t.Errorf("after ENOSPC: %d bytes on disk, CopyN said %d", len(b), got)
	}
}

// TestInjectEveryOperation is the loop crash tests run: count a commit's
// operations, then fail each in turn and check that the commit reports it
// and that every crash leaves the old or the new value.
func TestInjectEveryOperation(t *testing.T) {
	commit := func(fsys FS) error {
		f, err := fsys.OpenFile("/d/v.tmp", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write([]byte("new")); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := fsys.Rename("/d/v.tmp", "/d/v"); err != nil {
			return err
		}
		return fsys.SyncDir("/d")
	}
	setup := func() *MemFS {
		m := NewMem()
		must(t, MkdirAll(m, "/d", 0o755))
		must(t, m.WriteFile("/d/v", []byte("old"), 0o644))
		return m
	}

	count := &Fault{}
	m := setup()
	must(t, commit(Inject(m, count.Rule)))
	if count.Count() != 6 {
		t.Fatalf("%d operations, want 6", count.Count())
	}
	if got := content(t, m.Crash(DropUnsynced, 0), "/d/v"); got != "new" {
		t.Fatalf("committed value after crash: %q", got)
	}
	for n := int64(1); n <= count.Count(); n++ {
		m := setup()
		fault := &Fault{N: n}
		err := commit(Inject(m, fault.Rule))
		if !errors.Is(err, syscall.EIO) || !fault.Fired() {
			t.Errorf("fault at %d: commit returned %v", n, err)
		}
		for seed := range uint64(20) {
			for _, mode := range []CrashMode{DropUnsynced, KeepUnsynced, RandomUnsynced} {
				v := content(t, m.Crash(mode, seed), "/d/v")
				if v != "old" && v != "new" {
					t.Errorf("fault at %d, %v seed %d: v = %q", n, mode, seed, v)
				}
				if mode == DropUnsynced && v != "old" {
					t.Errorf("fault at %d: a failed commit is durable", n)
				}
			}
		}
	}
}
