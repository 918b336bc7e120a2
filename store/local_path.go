package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// path returns the file path of key under the root. It rejects, with
// ErrInvalidKey, a malformed key and a key that reaches outside the root (or
// into the root's ReservedDir) through a symbolic link: every existing path
// component is checked with Lstat and every link is resolved.
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
		fi, err := os.Lstat(p)
		if notExist(err) {
			break // nothing below a missing component can be a link
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if err := l.checkLink(p); err != nil {
			return "", fmt.Errorf("%w %q: %v", ErrInvalidKey, key, err)
		}
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// checkLink reports why the symbolic link at p may not be followed: it does
// not resolve, or it resolves outside the root or into ReservedDir.
func (l *Local) checkLink(p string) error {
	target, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("symbolic link %s does not resolve: %w", p, err)
	}
	rel, err := filepath.Rel(l.root, target)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("symbolic link %s leaves the root", p)
	}
	if rel == ReservedDir || strings.HasPrefix(rel, ReservedDir+string(filepath.Separator)) {
		return fmt.Errorf("symbolic link %s leads into %s", p, ReservedDir)
	}
	return nil
}

// errNotValue is returned for a key that names a directory or anything else
// that is not a regular file.
var errNotValue = fmt.Errorf("%w: not a regular file", ErrNotFound)

// open opens key's value with flag. It stats the path first so that opening
// a FIFO can never block, and checks the opened file again.
func (l *Local) open(key string, flag int) (*os.File, fs.FileInfo, error) {
	path, err := l.path(key)
	if err != nil {
		return nil, nil, err
	}
	if fi, err := os.Stat(path); err != nil {
		return nil, nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, nil, errNotValue
	}
	f, err := os.OpenFile(path, flag, 0)
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

// replaceable returns the mode a new version of the value at path must get
// and whether it must be set exactly (it is kept from an existing value) or
// left to the umask (new value). A directory at path cannot be replaced.
func replaceable(path string) (mode fs.FileMode, keep bool, err error) {
	fi, err := os.Stat(path)
	switch {
	case notExist(err):
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

// mkdirs creates dir and its missing parents below the root, then fsyncs
// each new directory and the directory it was made in, so that a value
// renamed into dir keeps its path after a power loss.
func (l *Local) mkdirs(dir string) error {
	var missing []string // deepest first
	for d := dir; d != l.root; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: d, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
	}
	if len(missing) == 0 {
		return nil
	}
	for i := len(missing) - 1; i >= 0; i-- {
		// A concurrent Put may win the race; its directory serves as well.
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if err := syncDir(filepath.Dir(missing[len(missing)-1])); err != nil {
		return err
	}
	for _, d := range missing {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// notExist reports whether err means the path does not exist, including a
// path component that is a file rather than a directory.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
