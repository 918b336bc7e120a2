package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/rangetx/rangetx/store/vfs"
)

// Local is a Store whose values are regular files under a root directory,
// at the key's path with '/' as the separator. It also implements
// RangeReader, RangeWriter, Patcher and TempCleaner.
//
// Put and PatchCopy are atomic and durable: they write a temporary file
// beside the value, fsync it, rename it over the value and fsync the
// directory, so a crash leaves the old or the new value (plus, at worst, a
// temporary file that RemoveTemp deletes). If only that last directory
// fsync fails they return ErrNotDurable: the new value is in place but may
// not survive a power loss. They keep the old value's permission bits but
// not its owner. Directories they create are fsynced too. Range writes
// (WriteAt, Truncate) are NOT atomic and not durable until Sync.
//
// All methods are safe for concurrent use; Local holds no locks, so
// concurrent writers of one key must be serialised by the caller.
//
// Every key names its own file: a key whose path has a symbolic link in any
// component below the root is ErrInvalidKey, whether the link leads out of
// the root or stays inside it (where it would let two keys, and so two
// per-key locks, share one file), and List skips links. The root itself may
// be or lie under a link; NewLocal resolves it once. The check is made
// before each use of the path, so it assumes nobody swaps a directory under
// the root for a symbolic link concurrently. Reading a key that names a
// directory is ErrNotFound; writing one is ErrInvalidKey. The top-level
// ReservedDir directory and temporary files are invisible to List.
//
// Local makes every file-system call through a vfs.FS (see WithFS), by
// default the operating system's. Its guarantees hold on another FS to the
// extent that FS keeps the vfs.FS contract.
type Local struct {
	root  string // absolute and clean; free of symbolic links on vfs.Default
	owner string // names this store's temporary files
	fs    vfs.FS
}

// LocalOption configures NewLocal.
type LocalOption func(*Local)

// WithOwner names the owner of the temporary files the store creates, so
// that recovery can tell which ones a dead process left (see RemoveTemp).
// The id is 1 to 64 ASCII letters, digits, '-' or '_'; NewLocal rejects
// anything else. The default is a random UUID, different for every store.
func WithOwner(id string) LocalOption {
	return func(l *Local) { l.owner = id }
}

// WithFS makes the store keep its values on fsys instead of the operating
// system's file system (vfs.Default); a nil fsys means vfs.Default. Tests use
// it to run Local on a simulated power loss (vfs.NewMem) or on injected
// faults (vfs.Inject).
func WithFS(fsys vfs.FS) LocalOption {
	return func(l *Local) { l.fs = fsys }
}

// NewLocal returns a Local storing values under root, which must be an
// existing directory. On vfs.Default root is made absolute and its symbolic
// links are resolved, once. On any other FS (see WithFS) root is only made
// absolute and clean, nothing outside that FS is consulted, and root must be
// a directory in it, not a link to one.
func NewLocal(root string, opts ...LocalOption) (*Local, error) {
	l := &Local{owner: uuid.NewString(), fs: vfs.Default}
	for _, opt := range opts {
		opt(l)
	}
	if l.fs == nil {
		l.fs = vfs.Default
	}
	abs, err := filepath.Abs(root) // also Clean
	if err == nil && l.fs == vfs.Default {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("store: root %q: %w", root, err)
	}
	// On Default abs has no links left, so Lstat is Stat.
	fi, err := l.fs.Lstat(abs)
	if err != nil {
		return nil, fmt.Errorf("store: root %q: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: root %q: not a directory", root)
	}
	l.root = abs
	if err := validOwner(l.owner); err != nil {
		return nil, err
	}
	return l, nil
}

// Root returns the absolute path of the root directory, free of symbolic
// links on vfs.Default.
func (l *Local) Root() string { return l.root }

// Owner returns the owner id that names this store's temporary files.
func (l *Local) Owner() string { return l.owner }

// Get reads key's whole value. It is not isolated from a concurrent
// WriteAt, but a concurrent Put or PatchCopy is seen whole or not at all.
func (l *Local) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, l.err("get", key, err)
	}
	f, fi, err := l.open(key, os.O_RDONLY)
	if err != nil {
		return nil, l.err("get", key, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if n := fi.Size(); int64(int(n+1)) == n+1 {
		buf.Grow(int(n + 1)) // +1 lets ReadFrom see EOF without growing
	}
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, l.err("get", key, err)
	}
	return buf.Bytes(), nil
}

// Put atomically and durably replaces key's value with what r yields,
// creating it and its parent directories if needed. A cancelled ctx writes
// nothing; ctx is checked again before the rename, but r is not interrupted.
// On error other than ErrNotDurable the old value is untouched and no
// temporary file is left, though parent directories Put created remain.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return l.err("put", key, err)
	}
	path, mode, keep, err := l.target(key)
	if err == nil {
		err = l.replace(ctx, path, mode, keep, func(f vfs.File) error {
			_, err := io.Copy(f, r)
			return err
		})
	}
	if err != nil {
		return l.err("put", key, err)
	}
	return nil
}

// Delete removes key's value and fsyncs its directory. If only that fsync
// fails the error is ErrNotDurable: the value is gone but may come back
// after a power loss.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return l.err("delete", key, err)
	}
	path, err := l.path(key)
	if err == nil {
		var fi os.FileInfo
		if fi, err = l.fs.Lstat(path); err == nil && fi.IsDir() {
			err = errNotValue
		}
	}
	if err == nil {
		err = l.fs.Remove(path)
	}
	if err == nil {
		if err = l.fs.SyncDir(filepath.Dir(path)); err != nil {
			err = notDurable(err)
		}
	}
	if err != nil {
		return l.err("delete", key, err)
	}
	return nil
}

// Stat describes key's value: size, permission bits and modification time.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, l.err("stat", key, err)
	}
	path, err := l.path(key)
	if err != nil {
		return Info{}, l.err("stat", key, err)
	}
	fi, err := l.fs.Lstat(path)
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotValue
	}
	if err != nil {
		return Info{}, l.err("stat", key, err)
	}
	return Info{Key: key, Size: fi.Size(), Mode: fi.Mode().Perm(), ModTime: fi.ModTime()}, nil
}

// err wraps err for op on key. For operations on an existing value a
// missing path means ErrNotFound; Put and PatchCopy create missing paths, so
// for them it is only an OS error. After ErrNotDurable the change is made,
// so a missing directory is not a missing value.
func (l *Local) err(op, key string, err error) error {
	if op != "put" && op != "patch" && notExist(err) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotDurable) {
		err = fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return opErr(op, key, err)
}
