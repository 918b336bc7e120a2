package vfs

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxMemFileSize bounds a MemFS file, as RLIMIT_FSIZE bounds a process.
const maxMemFileSize = 1 << 30

// MemFS is an in-memory FS that remembers what is durable, for crash tests.
// It is safe for concurrent use. Create one with NewMem; the zero value is
// not usable.
//
// Paths must be absolute; they are cleaned with filepath.Clean. A relative
// path is an error wrapping syscall.EINVAL. Errors are *fs.PathError (or
// *os.LinkError from Rename) wrapping a syscall.Errno, so that errors.Is
// with fs.ErrNotExist, fs.ErrExist and the like works: ENOENT, EEXIST,
// ENOTDIR (a path component is a file), EISDIR, ENOTEMPTY, EINVAL, EBADF
// (reading or writing a File not opened for it), EBUSY (removing or renaming
// "/"), EFBIG (a file larger than 1 GiB); os.ErrClosed after File.Close.
// There are no symbolic or hard links. Permission bits are stored and
// reported but never enforced. An unlinked file that is still open keeps
// working.
//
// The durability model: a file's data is durable as of its last File.Sync
// or File.SyncData (the two are the same here); every Write, WriteAt and
// Truncate after that, including the truncation by O_TRUNC, is a pending
// data operation of the file. A directory's entries are durable as of its
// last SyncDir (or File.Sync of the directory opened read-only): every
// creation, Mkdir, Remove and Rename in it after that is a pending directory
// operation. A rename within one directory is one operation; a rename from
// one directory to another is two, a removal pending on the old directory
// and a creation pending on the new one. A new file's durable data is empty
// and a new directory's durable entries are none. Modes (Chmod) and
// modification times are always durable. Crash returns the file system a
// power loss could leave; Unsynced and Durable tell what is at risk.
type MemFS struct {
	mu     sync.Mutex
	root   *inode
	dirOps []dirOp // pending directory operations, oldest first
	ops    int64
	hook   func(Op)
}

var (
	_ FS   = (*MemFS)(nil)
	_ File = (*memFile)(nil)
)

// inode is a file or a directory of a MemFS.
type inode struct {
	mode    fs.FileMode // fs.ModeDir|perm for a directory, perm for a file
	modTime time.Time

	// Regular files.
	data    []byte   // the current content
	durable []byte   // the content as of the last Sync, unless shared
	shared  bool     // the durable content is data: nothing pending, durable unused
	pending []dataOp // data operations since the last Sync, oldest first

	// Directories.
	entries    map[string]*inode // the current entries
	durEntries map[string]*inode // the entries as of the last SyncDir
	npending   int               // pending directory operations on this directory
}

// dataOp is a pending Write, WriteAt or Truncate.
type dataOp struct {
	off   int64  // a write's offset, a truncation's new size
	data  []byte // a write's bytes (a copy)
	trunc bool
}

type dirOpKind uint8

const (
	dirAdd    dirOpKind = iota // a creation, a Mkdir, or the new name of a rename between directories
	dirRemove                  // a Remove, or the old name of a rename between directories
	dirRename                  // a rename within one directory
)

// dirOp is a pending change to the entries of dir.
type dirOp struct {
	kind    dirOpKind
	dir     *inode
	name    string // the name added, removed or renamed
	newName string // dirRename: the new name
	ino     *inode // what name (or newName) refers to
	replace bool   // dirAdd: half of a rename, which replaces an existing entry
}

func newDir(perm fs.FileMode, t time.Time) *inode {
	return &inode{mode: fs.ModeDir | perm&fs.ModePerm, modTime: t, entries: map[string]*inode{}}
}

func (n *inode) isDir() bool { return n.mode.IsDir() }

// durableData is the file's content as of its last Sync.
func (n *inode) durableData() []byte {
	if n.shared {
		return n.data
	}
	return n.durable
}

// record appends a pending data operation, first separating the durable
// content from data if they were shared.
func (n *inode) record(op dataOp) {
	if n.shared {
		n.durable = bytes.Clone(n.data)
		n.shared = false
	}
	n.pending = append(n.pending, op)
}

func (n *inode) writeAt(p []byte, off int64, t time.Time) {
	if len(p) == 0 {
		return
	}
	n.record(dataOp{off: off, data: bytes.Clone(p)})
	n.data = writeAt(n.data, p, off)
	n.modTime = t
}

func (n *inode) truncate(size int64, t time.Time) {
	n.record(dataOp{off: size, trunc: true})
	n.data = resize(n.data, size)
	n.modTime = t
}

// sync makes the file's data durable.
func (n *inode) sync() {
	if len(n.pending) == 0 {
		return
	}
	d := n.durable
	for _, op := range n.pending {
		d = op.apply(d)
	}
	n.durable = d
	clear(n.pending)
	n.pending = nil
}

func (op dataOp) apply(b []byte) []byte {
	if op.trunc {
		return resize(b, op.off)
	}
	return writeAt(b, op.data, op.off)
}

// writeAt writes p into b at off, growing b with zeros as needed.
func writeAt(b, p []byte, off int64) []byte {
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[off:], p)
	return b
}

// resize cuts b to n bytes or grows it with zeros.
func resize(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	old := len(b)
	b = slices.Grow(b, int(n)-old)[:n]
	clear(b[old:])
	return b
}

// NewMem returns an empty MemFS: only the directory "/" exists, durably.
func NewMem() *MemFS {
	return &MemFS{root: newDir(0o755, time.Now())}
}

func pathErr(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// cleanPath cleans an absolute path; ok is false for a relative one.
func cleanPath(name string) (p string, ok bool) {
	if !filepath.IsAbs(name) {
		return "", false
	}
	return filepath.Clean(name), true
}

// walk returns the inode at the clean absolute path p.
func (m *MemFS) walk(p string) (*inode, syscall.Errno) {
	n := m.root
	for rest := strings.TrimPrefix(p, "/"); rest != ""; {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		if !n.isDir() {
			return nil, syscall.ENOTDIR
		}
		if n = n.entries[c]; n == nil {
			return nil, syscall.ENOENT
		}
	}
	return n, 0
}

// parent returns the directory holding the clean absolute path p, which
// is not "/", and p's last element.
func (m *MemFS) parent(p string) (*inode, string, syscall.Errno) {
	d, e := m.walk(filepath.Dir(p))
	if e != 0 {
		return nil, "", e
	}
	if !d.isDir() {
		return nil, "", syscall.ENOTDIR
	}
	return d, filepath.Base(p), 0
}

func (m *MemFS) addDirOp(op dirOp) {
	m.dirOps = append(m.dirOps, op)
	op.dir.npending++
}

// syncDir makes the entries of directory d durable.
func (m *MemFS) syncDir(d *inode) {
	if d.npending == 0 {
		return
	}
	d.durEntries = make(map[string]*inode, len(d.entries))
	for k, v := range d.entries {
		d.durEntries[k] = v
	}
	ops := m.dirOps[:0]
	for _, op := range m.dirOps {
		if op.dir != d {
			ops = append(ops, op)
		}
	}
	clear(m.dirOps[len(ops):])
	m.dirOps = ops
	d.npending = 0
}

// mutate runs a mutating operation. fn, called with m.mu held, validates
// the operation and describes it; with apply set it also performs it. fn
// runs once to validate, then the hook (if any) is called without the
// lock, then fn runs again to validate and apply. A description whose Kind
// does not mutate (OpenFile of an existing file) is applied at once and
// neither counted nor reported.
func (m *MemFS) mutate(fn func(apply bool) (Op, error)) error {
	m.mu.Lock()
	op, err := fn(false)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	if !op.Kind.Mutates() {
		_, err = fn(true)
		m.mu.Unlock()
		return err
	}
	m.ops++
	h := m.hook
	if h == nil {
		_, err = fn(true)
		m.mu.Unlock()
		return err
	}
	m.mu.Unlock()
	h(op)
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = fn(true)
	return err
}

// SetHook sets the function called just before each mutating operation
// (OpCreate, OpWrite, OpTruncate, OpChmod, OpSync, OpSyncData, OpMkdir,
// OpRename, OpRemove, OpSyncDir) is applied, with its description; nil
// removes it. Crash tests use it to crash just before the N-th operation.
//
// h is called only for operations that passed validation: one that fails
// (Mkdir of an existing name, Write to a closed file, ...) is neither
// reported nor counted by Ops. OpenFile is reported as OpCreate when it
// creates the file and OpTruncate when O_TRUNC truncates an existing file
// opened for writing; otherwise it does not mutate and is not reported. A
// Write or WriteAt reports the buffer's length and, for Write, offset -1.
// Paths are the cleaned ones; a File method's is the cleaned name the file
// was opened with.
//
// h runs on the caller's goroutine with no lock of m held, so it may call
// any method of m (Crash, Unsynced, ReadFile, even mutating ones, which are
// applied before the reported operation). After h returns the operation is
// validated again and applied; only if another goroutine changed m while h
// ran can it then fail.
func (m *MemFS) SetHook(h func(Op)) {
	m.mu.Lock()
	m.hook = h
	m.mu.Unlock()
}

// Ops returns the number of mutating operations m has counted so far: those
// SetHook describes, each counted just before the hook is called, so that
// inside the hook for the first operation Ops returns 1. Operations that
// failed validation and WriteFile are not counted.
func (m *MemFS) Ops() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// OpenFile opens name. It supports O_RDONLY, O_WRONLY, O_RDWR, O_CREATE,
// O_EXCL, O_TRUNC and O_APPEND; a new file gets perm's permission bits (no
// umask). A directory can be opened read-only (Stat, Sync and Close work on
// it; Read fails with EISDIR); opening it for writing, or with O_CREATE or
// O_TRUNC, fails with EISDIR. O_TRUNC truncates only a file opened for
// writing.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	p, ok := cleanPath(name)
	if !ok {
		return nil, pathErr("open", name, syscall.EINVAL)
	}
	var f *memFile
	err := m.mutate(func(apply bool) (Op, error) {
		var read, write bool
		switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
		case os.O_RDONLY:
			read = true
		case os.O_WRONLY:
			write = true
		case os.O_RDWR:
			read, write = true, true
		default:
			return Op{}, pathErr("open", name, syscall.EINVAL)
		}
		open := func(ino *inode) {
			f = &memFile{m: m, ino: ino, name: name, path: p, read: read, write: write,
				append: flag&os.O_APPEND != 0}
		}
		ino := m.root
		if p != "/" {
			d, base, e := m.parent(p)
			if e != 0 {
				return Op{}, pathErr("open", name, e)
			}
			if ino = d.entries[base]; ino == nil {
				if flag&os.O_CREATE == 0 {
					return Op{}, pathErr("open", name, syscall.ENOENT)
				}
				if apply {
					now := time.Now()
					ino = &inode{mode: perm & fs.ModePerm, modTime: now}
					d.entries[base] = ino
					d.modTime = now
					m.addDirOp(dirOp{kind: dirAdd, dir: d, name: base, ino: ino})
					open(ino)
				}
				return Op{Kind: OpCreate, Path: p}, nil
			}
		}
		if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
			return Op{}, pathErr("open", name, syscall.EEXIST)
		}
		if ino.isDir() && (write || flag&(os.O_CREATE|os.O_TRUNC) != 0) {
			return Op{}, pathErr("open", name, syscall.EISDIR)
		}
		trunc := write && flag&os.O_TRUNC != 0
		if apply {
			if trunc {
				ino.truncate(0, time.Now())
			}
			open(ino)
		}
		if trunc {
			return Op{Kind: OpTruncate, Path: p}, nil
		}
		return Op{Kind: OpOpen, Path: p}, nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Lstat describes name. A directory's size is 0; Sys returns nil.
func (m *MemFS) Lstat(name string) (fs.FileInfo, error) {
	p, ok := cleanPath(name)
	if !ok {
		return nil, pathErr("lstat", name, syscall.EINVAL)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, e := m.walk(p)
	if e != 0 {
		return nil, pathErr("lstat", name, e)
	}
	return n.info(filepath.Base(p)), nil
}

// Mkdir creates directory name with perm's permission bits.
func (m *MemFS) Mkdir(name string, perm fs.FileMode) error {
	p, ok := cleanPath(name)
	if !ok {
		return pathErr("mkdir", name, syscall.EINVAL)
	}
	return m.mutate(func(apply bool) (Op, error) {
		if p == "/" {
			return Op{}, pathErr("mkdir", name, syscall.EEXIST)
		}
		d, base, e := m.parent(p)
		if e != 0 {
			return Op{}, pathErr("mkdir", name, e)
		}
		if d.entries[base] != nil {
			return Op{}, pathErr("mkdir", name, syscall.EEXIST)
		}
		if apply {
			now := time.Now()
			ino := newDir(perm, now)
			d.entries[base] = ino
			d.modTime = now
			m.addDirOp(dirOp{kind: dirAdd, dir: d, name: base, ino: ino})
		}
		return Op{Kind: OpMkdir, Path: p}, nil
	})
}

// Rename renames oldpath to newpath, replacing a file, or an empty
// directory, at newpath. A file cannot replace a directory (EISDIR) nor a
// directory a file (ENOTDIR); a directory cannot move into itself
// (EINVAL). Renaming a path to itself does nothing (but is reported to the
// hook).
func (m *MemFS) Rename(oldpath, newpath string) error {
	lerr := func(e error) error { return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: e} }
	op, ok1 := cleanPath(oldpath)
	np, ok2 := cleanPath(newpath)
	if !ok1 || !ok2 {
		return lerr(syscall.EINVAL)
	}
	return m.mutate(func(apply bool) (Op, error) {
		if op == "/" || np == "/" {
			return Op{}, lerr(syscall.EBUSY)
		}
		od, oname, e := m.parent(op)
		if e != 0 {
			return Op{}, lerr(e)
		}
		src := od.entries[oname]
		if src == nil {
			return Op{}, lerr(syscall.ENOENT)
		}
		nd, nname, e := m.parent(np)
		if e != 0 {
			return Op{}, lerr(e)
		}
		if src.isDir() && strings.HasPrefix(np, op+"/") {
			return Op{}, lerr(syscall.EINVAL)
		}
		dst := nd.entries[nname]
		if dst != nil && dst != src {
			switch {
			case dst.isDir() && !src.isDir():
				return Op{}, lerr(syscall.EISDIR)
			case !dst.isDir() && src.isDir():
				return Op{}, lerr(syscall.ENOTDIR)
			case dst.isDir() && len(dst.entries) > 0:
				return Op{}, lerr(syscall.ENOTEMPTY)
			}
		}
		desc := Op{Kind: OpRename, Path: op, NewPath: np}
		if !apply || dst == src {
			return desc, nil
		}
		now := time.Now()
		delete(od.entries, oname)
		nd.entries[nname] = src
		od.modTime, nd.modTime = now, now
		if od == nd {
			m.addDirOp(dirOp{kind: dirRename, dir: od, name: oname, newName: nname, ino: src})
		} else {
			m.addDirOp(dirOp{kind: dirRemove, dir: od, name: oname, ino: src})
			m.addDirOp(dirOp{kind: dirAdd, dir: nd, name: nname, ino: src, replace: true})
		}
		return desc, nil
	})
}

// Remove removes a file or an empty directory.
func (m *MemFS) Remove(name string) error {
	p, ok := cleanPath(name)
	if !ok {
		return pathErr("remove", name, syscall.EINVAL)
	}
	return m.mutate(func(apply bool) (Op, error) {
		if p == "/" {
			return Op{}, pathErr("remove", name, syscall.EBUSY)
		}
		d, base, e := m.parent(p)
		if e != 0 {
			return Op{}, pathErr("remove", name, e)
		}
		ino := d.entries[base]
		if ino == nil {
			return Op{}, pathErr("remove", name, syscall.ENOENT)
		}
		if ino.isDir() && len(ino.entries) > 0 {
			return Op{}, pathErr("remove", name, syscall.ENOTEMPTY)
		}
		if apply {
			delete(d.entries, base)
			d.modTime = time.Now()
			m.addDirOp(dirOp{kind: dirRemove, dir: d, name: base, ino: ino})
		}
		return Op{Kind: OpRemove, Path: p}, nil
	})
}

// ReadDir lists directory name sorted by name.
func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, ok := cleanPath(name)
	if !ok {
		return nil, pathErr("readdir", name, syscall.EINVAL)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, e := m.walk(p)
	if e == 0 && !d.isDir() {
		e = syscall.ENOTDIR
	}
	if e != 0 {
		return nil, pathErr("readdir", name, e)
	}
	list := make([]fs.DirEntry, 0, len(d.entries))
	for n, ino := range d.entries {
		list = append(list, fs.FileInfoToDirEntry(ino.info(n)))
	}
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}

// SyncDir makes the entries of directory name durable. It fails with
// ENOTDIR on a file.
func (m *MemFS) SyncDir(name string) error {
	p, ok := cleanPath(name)
	if !ok {
		return pathErr("syncdir", name, syscall.EINVAL)
	}
	return m.mutate(func(apply bool) (Op, error) {
		d, e := m.walk(p)
		if e == 0 && !d.isDir() {
			e = syscall.ENOTDIR
		}
		if e != 0 {
			return Op{}, pathErr("syncdir", name, e)
		}
		if apply {
			m.syncDir(d)
		}
		return Op{Kind: OpSyncDir, Path: p}, nil
	})
}

// Unsynced reports whether what is now at path has operations that are not
// yet durable: pending data operations for a file, pending directory
// operations in it for a directory. It is false for a path that does not
// exist.
func (m *MemFS) Unsynced(path string) bool {
	p, ok := cleanPath(path)
	if !ok {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, e := m.walk(p)
	switch {
	case e != 0:
		return false
	case n.isDir():
		return n.npending > 0
	}
	return len(n.pending) > 0
}

// Durable reports whether a crash with DropUnsynced would keep path exactly
// as it is now: path's entry and that of every directory above it are
// durable, and path has no pending operations (data operations for a file,
// directory operations in it for a directory; what is below a directory is
// not considered). It is false for a path that does not exist.
func (m *MemFS) Durable(path string) bool {
	p, ok := cleanPath(path)
	if !ok {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for rest := strings.TrimPrefix(p, "/"); rest != ""; {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		if !n.isDir() {
			return false
		}
		child := n.entries[c]
		if child == nil || n.durEntries[c] != child {
			return false
		}
		n = child
	}
	if n.isDir() {
		return n.npending == 0
	}
	return len(n.pending) == 0
}

// ReadFile returns the current content of the file at path.
func (m *MemFS) ReadFile(path string) ([]byte, error) {
	p, ok := cleanPath(path)
	if !ok {
		return nil, pathErr("read", path, syscall.EINVAL)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, e := m.walk(p)
	if e == 0 && n.isDir() {
		e = syscall.EISDIR
	}
	if e != 0 {
		return nil, pathErr("read", path, e)
	}
	return append([]byte{}, n.data...), nil
}

// WriteFile sets up a durable file for a test: it creates path with perm's
// permission bits, or truncates the file there, writes data, and makes the
// file's data and the entries of every directory from its parent up to "/"
// durable, as Sync of the file and SyncDir of each directory would (so
// other pending changes in those directories become durable too). Its
// parent must exist. It bypasses the hook and is not counted by Ops.
func (m *MemFS) WriteFile(path string, data []byte, perm fs.FileMode) error {
	p, ok := cleanPath(path)
	if !ok {
		return pathErr("open", path, syscall.EINVAL)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p == "/" {
		return pathErr("open", path, syscall.EISDIR)
	}
	d, base, e := m.parent(p)
	if e != 0 {
		return pathErr("open", path, e)
	}
	now := time.Now()
	ino := d.entries[base]
	switch {
	case ino == nil:
		ino = &inode{mode: perm & fs.ModePerm}
		d.entries[base] = ino
		d.modTime = now
		m.addDirOp(dirOp{kind: dirAdd, dir: d, name: base, ino: ino})
	case ino.isDir():
		return pathErr("open", path, syscall.EISDIR)
	}
	ino.data = bytes.Clone(data)
	ino.durable, ino.shared, ino.pending = nil, true, nil
	ino.modTime = now
	for dir := p; dir != "/"; {
		dir = filepath.Dir(dir)
		dn, _ := m.walk(dir)
		m.syncDir(dn)
	}
	return nil
}

// Files returns the current content of every regular file, keyed by
// absolute path.
func (m *MemFS) Files() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	var walk func(dir string, d *inode)
	walk = func(dir string, d *inode) {
		for name, n := range d.entries {
			p := filepath.Join(dir, name)
			if n.isDir() {
				walk(p, n)
			} else {
				out[p] = append([]byte{}, n.data...)
			}
		}
	}
	walk("/", m.root)
	return out
}

// memInfo is a MemFS fs.FileInfo: a snapshot.
type memInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (n *inode) info(name string) memInfo {
	fi := memInfo{name: name, mode: n.mode, modTime: n.modTime}
	if !n.isDir() {
		fi.size = int64(len(n.data))
	}
	return fi
}

func (fi memInfo) Name() string       { return fi.name }
func (fi memInfo) Size() int64        { return fi.size }
func (fi memInfo) Mode() fs.FileMode  { return fi.mode }
func (fi memInfo) ModTime() time.Time { return fi.modTime }
func (fi memInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi memInfo) Sys() any           { return nil }

// memFile is an open MemFS file; all its state is guarded by m.mu.
type memFile struct {
	m      *MemFS
	ino    *inode
	name   string // as given to OpenFile
	path   string // cleaned
	read   bool
	write  bool
	append bool
	pos    int64
	closed bool
}

func (f *memFile) Name() string { return f.name }

// readable checks that f is open for reading; m.mu is held.
func (f *memFile) readable(op string) error {
	switch {
	case f.closed:
		return pathErr(op, f.name, os.ErrClosed)
	case f.ino.isDir():
		return pathErr(op, f.name, syscall.EISDIR)
	case !f.read:
		return pathErr(op, f.name, syscall.EBADF)
	}
	return nil
}

// writable checks that f is open for writing and that a write of n bytes at
// off fits; m.mu is held.
func (f *memFile) writable(op string, off int64, n int) error {
	switch {
	case f.closed:
		return pathErr(op, f.name, os.ErrClosed)
	case !f.write:
		return pathErr(op, f.name, syscall.EBADF)
	case off > maxMemFileSize-int64(n):
		return pathErr(op, f.name, syscall.EFBIG)
	}
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.readable("read"); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.pos >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[f.pos:])
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.readable("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, syscall.EINVAL)
	}
	n := 0
	if off < int64(len(f.ino.data)) {
		n = copy(p, f.ino.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	n := 0
	err := f.m.mutate(func(apply bool) (Op, error) {
		off := f.pos
		if f.append {
			off = int64(len(f.ino.data))
		}
		if err := f.writable("write", off, len(p)); err != nil {
			return Op{}, err
		}
		if apply {
			f.ino.writeAt(p, off, time.Now())
			f.pos = off + int64(len(p))
			n = len(p)
		}
		return Op{Kind: OpWrite, Path: f.path, Off: -1, Len: len(p)}, nil
	})
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	n := 0
	err := f.m.mutate(func(apply bool) (Op, error) {
		if err := f.writable("write", off, len(p)); err != nil {
			return Op{}, err
		}
		if off < 0 || f.append {
			return Op{}, pathErr("write", f.name, syscall.EINVAL)
		}
		if apply {
			f.ino.writeAt(p, off, time.Now())
			n = len(p)
		}
		return Op{Kind: OpWrite, Path: f.path, Off: off, Len: len(p)}, nil
	})
	return n, err
}

func (f *memFile) Truncate(size int64) error {
	return f.m.mutate(func(apply bool) (Op, error) {
		switch {
		case f.closed:
			return Op{}, pathErr("truncate", f.name, os.ErrClosed)
		case !f.write || size < 0:
			return Op{}, pathErr("truncate", f.name, syscall.EINVAL)
		case size > maxMemFileSize:
			return Op{}, pathErr("truncate", f.name, syscall.EFBIG)
		}
		if apply {
			f.ino.truncate(size, time.Now())
		}
		return Op{Kind: OpTruncate, Path: f.path, Off: size}, nil
	})
}

func (f *memFile) Chmod(mode fs.FileMode) error {
	return f.m.mutate(func(apply bool) (Op, error) {
		if f.closed {
			return Op{}, pathErr("chmod", f.name, os.ErrClosed)
		}
		if apply {
			f.ino.mode = f.ino.mode&^fs.ModePerm | mode&fs.ModePerm
		}
		return Op{Kind: OpChmod, Path: f.path}, nil
	})
}

// Sync makes the file's data durable; on a directory, its entries, as
// SyncDir does.
func (f *memFile) Sync() error { return f.sync(OpSync) }

// SyncData is Sync.
func (f *memFile) SyncData() error { return f.sync(OpSyncData) }

func (f *memFile) sync(kind OpKind) error {
	return f.m.mutate(func(apply bool) (Op, error) {
		if f.closed {
			return Op{}, pathErr(kind.String(), f.name, os.ErrClosed)
		}
		if apply {
			if f.ino.isDir() {
				f.m.syncDir(f.ino)
			} else {
				f.ino.sync()
			}
		}
		return Op{Kind: kind, Path: f.path}, nil
	})
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return nil, pathErr("stat", f.name, os.ErrClosed)
	}
	return f.ino.info(filepath.Base(f.path)), nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}
