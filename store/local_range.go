package store

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/rangetx/rangetx/store/vfs"
)

// ReadAt reads len(p) bytes of key's value at off with io.ReaderAt
// semantics: fewer bytes come with io.EOF, returned unwrapped.
func (l *Local) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, l.err("read", key, err)
	}
	if off < 0 {
		return 0, l.err("read", key, fmt.Errorf("%w: negative offset %d", ErrInvalidRange, off))
	}
	f, _, err := l.open(key, os.O_RDONLY)
	if err != nil {
		return 0, l.err("read", key, err)
	}
	defer f.Close()
	n, err := f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return n, l.err("read", key, err)
	}
	return n, err
}

// WriteAt overwrites bytes of key's existing value in place with one
// pwrite. It is NOT atomic (a crash or a concurrent reader can see part of
// it) and not durable until Sync. A range past the current end is
// ErrInvalidRange and writes nothing.
func (l *Local) WriteAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, l.err("write", key, err)
	}
	f, fi, err := l.open(key, os.O_WRONLY)
	if err != nil {
		return 0, l.err("write", key, err)
	}
	defer f.Close()
	if err := checkRange(off, int64(len(p)), fi.Size()); err != nil {
		return 0, l.err("write", key, err)
	}
	n, err := f.WriteAt(p, off)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return n, l.err("write", key, err)
	}
	return n, nil
}

// Truncate resizes key's existing value, growing it with zeros (sparsely
// where the file system can). Not atomic, not durable until Sync.
func (l *Local) Truncate(ctx context.Context, key string, size int64) error {
	if err := ctx.Err(); err != nil {
		return l.err("truncate", key, err)
	}
	if size < 0 {
		return l.err("truncate", key, fmt.Errorf("%w: negative size %d", ErrInvalidRange, size))
	}
	f, _, err := l.open(key, os.O_WRONLY)
	if err != nil {
		return l.err("truncate", key, err)
	}
	defer f.Close()
	err = f.Truncate(size)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return l.err("truncate", key, err)
	}
	return nil
}

// Sync makes completed WriteAt and Truncate calls on key durable with
// File.SyncData (fdatasync on vfs.Default). It does not make a new directory
// entry durable; values created by Put or PatchCopy already are.
func (l *Local) Sync(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return l.err("sync", key, err)
	}
	f, _, err := l.open(key, os.O_RDONLY)
	if err != nil {
		return l.err("sync", key, err)
	}
	defer f.Close()
	if err := f.SyncData(); err != nil {
		return l.err("sync", key, err)
	}
	return nil
}

// copyPrefix makes the new file f hold the first n bytes of old, whose
// size is oldSize, as cheaply as the file system allows: a reflink clone
// of the whole file cut back to n, else a copy in the kernel. Never through
// this process's memory for OS files.
func copyPrefix(f, old vfs.File, n, oldSize int64) error {
	cloned, err := vfs.Clone(f, old)
	if err != nil {
		return err
	}
	if cloned {
		if n < oldSize {
			return f.Truncate(n)
		}
		return nil
	}
	// Between two vfs.Default files this reaches (*os.File).ReadFrom with
	// an *os.File source: the kernel copies (copy_file_range). Keep passing
	// the vfs.File values themselves.
	_, err = io.CopyN(f, old, n)
	return err
}

// PatchCopy atomically and durably replaces key's value with a patched copy,
// like Put: the first min(MinSize, old size) bytes are copied file to file
// (on vfs.Default by the kernel, copy_file_range on Linux, never through
// memory), the copy is resized to Size, the copies are made from the old
// file (vfs.CopyRange) and the ranges are written over it.
// The copy is a reflink clone (FICLONE) where the file system supports one.
// A missing value is patched from empty, creating parent directories. An
// invalid patch is ErrInvalidRange and writes nothing; so does a cancelled
// ctx. ErrNotDurable means the new value is in place but its directory sync
// failed.
func (l *Local) PatchCopy(ctx context.Context, key string, p Patch) error {
	if err := ctx.Err(); err != nil {
		return l.err("patch", key, err)
	}
	if err := p.check(); err != nil {
		return l.err("patch", key, err)
	}
	if err := l.patchCopy(ctx, key, p); err != nil {
		return l.err("patch", key, err)
	}
	return nil
}

func (l *Local) patchCopy(ctx context.Context, key string, p Patch) error {
	path, mode, keep, err := l.target(key)
	if err != nil {
		return err
	}
	var old vfs.File
	var oldSize int64
	if keep {
		f, fi, err := l.open(key, os.O_RDONLY)
		if err != nil {
			return err // includes the value vanishing since replaceable
		}
		defer f.Close()
		old, oldSize = f, fi.Size()
	}
	if err := p.checkCopies(oldSize); err != nil {
		return err
	}
	return l.replace(ctx, path, mode, keep, func(f vfs.File) error {
		if n := min(p.MinSize, oldSize); n > 0 {
			if err := copyPrefix(f, old, n, oldSize); err != nil {
				return err
			}
		}
		if err := f.Truncate(p.Size); err != nil {
			return err
		}
		for _, c := range p.Copies {
			if err := vfs.CopyRange(f, c.Off, old, c.Src, c.N); err != nil {
				return err
			}
		}
		for _, r := range p.Ranges {
			if _, err := f.WriteAt(r.Data, r.Off); err != nil {
				return err
			}
		}
		return nil
	})
}
