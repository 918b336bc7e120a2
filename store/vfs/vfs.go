// Package vfs is the file-system layer store.Local runs on: small
// interfaces built from the io ones, with the real operating system's
// implementation (Default) and test implementations side by side.
//
// The test implementations exist to prove crash safety. MemFS keeps files in
// memory and remembers what was made durable: a file's data only after
// File.Sync or File.SyncData, a directory's entries (creations, renames,
// removals) only after FS.SyncDir of that directory. Its Crash method
// returns the file system a power loss at that moment could leave, keeping,
// dropping or tearing each unsynced operation. Inject wraps any FS and fails
// chosen operations with chosen errors (EIO, ENOSPC, EFBIG, ...).
//
// Paths are operating-system paths ('/'-separated, absolute or relative to
// the working directory for Default; absolute and clean for MemFS).
package vfs

import (
	"io"
	"io/fs"
)

// FS is the set of file-system operations store.Local needs. Every method
// has the semantics of the os function of the same name unless its comment
// says otherwise; errors are *fs.PathError or *os.LinkError wrapping a
// syscall.Errno where the operating system would return one.
type FS interface {
	// OpenFile opens name with os.OpenFile's flags and permission
	// (permission less the umask, for Default).
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Lstat describes name without following a final symbolic link. For
	// regular files Sys may carry a *syscall.Stat_t (Default does).
	Lstat(name string) (fs.FileInfo, error)
	// Mkdir creates one directory. Like every change to a directory's
	// entries it is durable only after SyncDir of its parent.
	Mkdir(name string, perm fs.FileMode) error
	// Rename replaces newpath by oldpath atomically (for concurrent
	// observers); durable only after SyncDir of both directories.
	Rename(oldpath, newpath string) error
	// Remove removes a file or an empty directory; durable only after
	// SyncDir of its parent.
	Remove(name string) error
	// ReadDir lists a directory sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// SyncDir makes the entries of directory name (creations, renames and
	// removals in it so far) durable: fsync of the directory.
	SyncDir(name string) error
}

// File is an open file. ReadAt and WriteAt may be called concurrently;
// Read, Write and Close may not race with anything else on the same File.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Name is the name the file was opened with.
	Name() string
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
	Chmod(mode fs.FileMode) error
	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// SyncData makes the file's data, and the metadata needed to read it
	// back such as its size, durable (fdatasync). It does not make the
	// file's directory entry durable.
	SyncData() error
}
