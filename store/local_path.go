package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rangetx/rangetx/store/vfs"
)

// path returns the file path of key under the root. It rejects, with
// ErrInvalidKey, a malformed key and a key whose path has a symbolic link in
// any component below the root (the root itself was resolved by NewLocal),
// or whose file has more than one hard link (known only where Lstat's Sys is
// a *syscall.Stat_t, as on vfs.Default): a link inside the root would
// let two keys name one file and so defeat per-key locks, and one leading
// out would escape the root. Every existing path component is checked with
// Lstat. (Two stores whose roots nest alias keys the same way; that is not
// supported.)
//
// The check and the later use of the path are separate system calls. Local
// assumes that nobody replaces a directory under the root with a symbolic
// link in between; an adversary who can do that can defeat the check.
func (l *Local) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	p := l.root
	for seg := range strings.SplitSeq(key, "/") {
		p = filepath.Join(p, seg)
		fi, err := l.fs.Lstat(p)
		if notExist(err) {
			break // nothing below a missing component can be a link
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%w %q: %s is a symbolic link", ErrInvalidKey, key, p)
		}
		// A hard link is the same aliasing as a symbolic one.
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			return "", fmt.Errorf("%w %q: %s has %d hard links", ErrInvalidKey, key, p, st.Nlink)
		}
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// errNotValue is returned for a key that names a directory or anything else
// that is not a regular file.
var errNotValue = fmt.Errorf("%w: not a regular file", ErrNotFound)

// open opens key's value with flag. It stats the path first so that opening
// a FIFO can never block, and checks the opened file again.
func (l *Local) open(key string, flag int) (vfs.File, fs.FileInfo, error) {
	path, err := l.path(key)
	if err != nil {
		return nil, nil, err
	}
	if fi, err := l.fs.Lstat(path); err != nil {
		return nil, nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, nil, errNotValue
	}
	f, err := l.fs.OpenFile(path, flag, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotValue
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// target prepares key's path for Put and PatchCopy: it returns the path and
// the new value's mode (see replaceable) and creates missing parent
// directories durably. A key that cannot hold a value, because a directory
// is at its path or a file is where a parent directory would be, is
// ErrInvalidKey naming the OS cause.
func (l *Local) target(key string) (path string, mode fs.FileMode, keep bool, err error) {
	if path, err = l.path(key); err != nil {
		return "", 0, false, err
	}
	mode, keep, err = l.replaceable(path)
	if err == nil && !keep {
		err = vfs.MkdirAll(l.fs, filepath.Dir(path), 0o755)
		if err == nil {
			err = l.syncAncestors(filepath.Dir(path))
		}
	}
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) {
		return "", 0, false, fmt.Errorf("%w %q: %w", ErrInvalidKey, key, err)
	}
	return path, mode, keep, err
}

// syncAncestors makes the entry of dir, and of every directory above it up
// to the root, durable by syncing each one's parent. A new value needs its
// whole path durable, and a directory that already exists may not be: a
// concurrent Put may have created it and not yet synced its parent, or a
// process may have been killed in between. (For directories MkdirAll just
// created this repeats some of its syncs; new values are the rare case.)
func (l *Local) syncAncestors(dir string) error {
	for d := dir; d != l.root && filepath.Dir(d) != d; d = filepath.Dir(d) {
		if err := l.fs.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// replaceable returns the mode a new version of the value at path must get
// and whether it must be set exactly (it is kept from an existing value) or
// left to the umask (new value). A directory at path cannot be replaced
// (EISDIR), nor can a path below a file (ENOTDIR from Lstat). Lstat, not
// Stat: path has no links (see path), and a link made since is not followed.
func (l *Local) replaceable(path string) (mode fs.FileMode, keep bool, err error) {
	fi, err := l.fs.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return defaultMode, false, nil
	case err != nil:
		return 0, false, err
	case fi.IsDir():
		return 0, false, &fs.PathError{Op: "replace", Path: path, Err: syscall.EISDIR}
	}
	return fi.Mode() & keptMode, true, nil
}

// Mode bits of a new value (before the umask), and the bits kept from an old
// value when it is replaced.
const (
	defaultMode = 0o644
	keptMode    = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
)

// notExist reports whether err means the path does not exist, including a
// path component that is a file rather than a directory.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
