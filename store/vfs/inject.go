package vfs

import (
	"errors"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
)

// Inject returns fsys with errors injected by rule. Every FS method and
// every method of the Files it opens, except File.Name, first describes
// itself as an Op and calls rule with it (rule must be safe for concurrent
// use if the FS is used concurrently; a nil rule injects nothing). If rule
// returns nil the call goes through to fsys. Otherwise the call returns
// rule's error wrapped in an *fs.PathError whose Op is the Op's
// Kind.String() (an *os.LinkError for Rename) and does nothing, with one
// exception: a Write or WriteAt failed with an error that is
// syscall.ENOSPC or syscall.EFBIG (by errors.Is) first writes the first
// half of its buffer through, as a filling disk does, and returns that
// count with the error (or with the underlying error if that write fails).
// A Close failed this way leaves the underlying file open. Injected files
// are not operating system files, so CopyRange between them goes through
// their ReadAt and WriteAt, and their rules.
//
// OpenFile is described by its flags: OpCreate with O_CREATE, else
// OpTruncate (Off 0) with O_TRUNC and write access, else OpOpen. Read and
// Write report Off -1, ReadAt and WriteAt their offset; both report the
// buffer's length. A File's Path is the name it was opened with.
//
// Files copied with io.Copy or io.CopyN between Files of Inject go through
// their Read and Write methods, each of which is an operation.
func Inject(fsys FS, rule func(Op) error) FS {
	return &injectFS{fs: fsys, rule: rule}
}

type injectFS struct {
	fs   FS
	rule func(Op) error
}

func (i *injectFS) check(op Op) error {
	if i.rule == nil {
		return nil
	}
	if err := i.rule(op); err != nil {
		return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
	}
	return nil
}

func (i *injectFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	op := Op{Kind: OpOpen, Path: name}
	switch {
	case flag&os.O_CREATE != 0:
		op.Kind = OpCreate
	case flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0:
		op.Kind = OpTruncate
	}
	if err := i.check(op); err != nil {
		return nil, err
	}
	f, err := i.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectFile{fs: i, f: f, name: name}, nil
}

func (i *injectFS) Lstat(name string) (fs.FileInfo, error) {
	if err := i.check(Op{Kind: OpLstat, Path: name}); err != nil {
		return nil, err
	}
	return i.fs.Lstat(name)
}

func (i *injectFS) Mkdir(name string, perm fs.FileMode) error {
	if err := i.check(Op{Kind: OpMkdir, Path: name}); err != nil {
		return err
	}
	return i.fs.Mkdir(name, perm)
}

func (i *injectFS) Rename(oldpath, newpath string) error {
	if i.rule != nil {
		if err := i.rule(Op{Kind: OpRename, Path: oldpath, NewPath: newpath}); err != nil {
			return &os.LinkError{Op: OpRename.String(), Old: oldpath, New: newpath, Err: err}
		}
	}
	return i.fs.Rename(oldpath, newpath)
}

func (i *injectFS) Remove(name string) error {
	if err := i.check(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return i.fs.Remove(name)
}

func (i *injectFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := i.check(Op{Kind: OpReadDir, Path: name}); err != nil {
		return nil, err
	}
	return i.fs.ReadDir(name)
}

func (i *injectFS) SyncDir(name string) error {
	if err := i.check(Op{Kind: OpSyncDir, Path: name}); err != nil {
		return err
	}
	return i.fs.SyncDir(name)
}

// injectFile is a File opened through Inject.
type injectFile struct {
	fs   *injectFS
	f    File
	name string
}

func (f *injectFile) op(kind OpKind) Op { return Op{Kind: kind, Path: f.name} }

func (f *injectFile) Name() string { return f.f.Name() }

func (f *injectFile) Read(p []byte) (int, error) {
	if err := f.fs.check(Op{Kind: OpRead, Path: f.name, Off: -1, Len: len(p)}); err != nil {
		return 0, err
	}
	return f.f.Read(p)
}

func (f *injectFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(Op{Kind: OpRead, Path: f.name, Off: off, Len: len(p)}); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *injectFile) Write(p []byte) (int, error) {
	if err := f.fs.check(Op{Kind: OpWrite, Path: f.name, Off: -1, Len: len(p)}); err != nil {
		if full(err) {
			return shortWrite(err, func() (int, error) { return f.f.Write(p[:len(p)/2]) })
		}
		return 0, err
	}
	return f.f.Write(p)
}

func (f *injectFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(Op{Kind: OpWrite, Path: f.name, Off: off, Len: len(p)}); err != nil {
		if full(err) {
			return shortWrite(err, func() (int, error) { return f.f.WriteAt(p[:len(p)/2], off) })
		}
		return 0, err
	}
	return f.f.WriteAt(p, off)
}

// full reports whether err says the disk or the file is full.
func full(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG)
}

// shortWrite writes half a buffer with write and returns its count with
// the injected error, or write's own error.
func shortWrite(injected error, write func() (int, error)) (int, error) {
	n, err := write()
	if err != nil {
		return n, err
	}
	return n, injected
}

func (f *injectFile) Close() error {
	if err := f.fs.check(f.op(OpClose)); err != nil {
		return err
	}
	return f.f.Close()
}

func (f *injectFile) Stat() (fs.FileInfo, error) {
	if err := f.fs.check(f.op(OpStat)); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

func (f *injectFile) Truncate(size int64) error {
	if err := f.fs.check(Op{Kind: OpTruncate, Path: f.name, Off: size}); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *injectFile) Chmod(mode fs.FileMode) error {
	if err := f.fs.check(f.op(OpChmod)); err != nil {
		return err
	}
	return f.f.Chmod(mode)
}

func (f *injectFile) Sync() error {
	if err := f.fs.check(f.op(OpSync)); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *injectFile) SyncData() error {
	if err := f.fs.check(f.op(OpSyncData)); err != nil {
		return err
	}
	return f.f.SyncData()
}

// Fault is an injection rule that fails the N-th operation it matches: pass
// its Rule method to Inject. A fault test runs a workload once with N = 0 to
// learn the Count of operations, then once for every N from 1 to that
// count, each time with a new Fault. Rule, Count and Fired are safe for
// concurrent use; the fields must not change once Rule is in use, and a
// Fault must not be copied after first use.
type Fault struct {
	// N is the 1-based number of the matched operation to fail; with
	// N <= 0 none fails.
	N int64
	// Err is the error to fail with; nil means syscall.EIO.
	Err error
	// Persistent fails every matched operation after the N-th as well.
	Persistent bool
	// Match selects the operations that count; nil selects all.
	Match func(Op) bool

	count atomic.Int64
	fired atomic.Bool
}

// Rule counts op if Match accepts it and returns Err if op is the N-th
// matched operation, or a later one when Persistent; otherwise nil.
func (f *Fault) Rule(op Op) error {
	if f.Match != nil && !f.Match(op) {
		return nil
	}
	c := f.count.Add(1)
	if f.N <= 0 || c < f.N || c > f.N && !f.Persistent {
		return nil
	}
	f.fired.Store(true)
	if f.Err == nil {
		return syscall.EIO
	}
	return f.Err
}

// Count returns the number of matched operations Rule has seen.
func (f *Fault) Count() int64 { return f.count.Load() }

// Fired reports whether Rule has returned an error.
func (f *Fault) Fired() bool { return f.fired.Load() }
