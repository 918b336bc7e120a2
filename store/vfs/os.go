package vfs

import (
	"io"
	"io/fs"
	"os"
)

// Default is the operating system's file system. Its File.SyncData is
// fdatasync where the platform has it, and copies between two of its Files
// (io.Copy, io.CopyN) are done by the kernel (copy_file_range on Linux).
var Default FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Lstat(name string) (fs.FileInfo, error)     { return os.Lstat(name) }
func (osFS) Mkdir(name string, perm fs.FileMode) error  { return os.Mkdir(name, perm) }
func (osFS) Rename(oldpath, newpath string) error       { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                   { return os.Remove(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// SyncDir opens the directory read-only and fsyncs it: an fsync of a file
// does not cover the file's name.
func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// osFile is an *os.File; the embedding supplies every File method but
// SyncData and a ReadFrom that keeps the kernel copy.
type osFile struct{ *os.File }

func (f osFile) SyncData() error { return fdatasync(f.File) }

// ReadFrom lets io.Copy and io.CopyN from another osFile reach
// (*os.File).ReadFrom with an *os.File source, which copies in the kernel.
func (f osFile) ReadFrom(r io.Reader) (int64, error) {
	switch src := r.(type) {
	case osFile:
		return f.File.ReadFrom(src.File)
	case *io.LimitedReader:
		if o, ok := src.R.(osFile); ok {
			lr := &io.LimitedReader{R: o.File, N: src.N}
			n, err := f.File.ReadFrom(lr)
			src.N = lr.N
			return n, err
		}
	}
	return f.File.ReadFrom(r)
}
