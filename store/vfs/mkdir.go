package vfs

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
)

// MkdirAll is os.MkdirAll made durable on fsys: it creates dir and its
// missing parents with perm, then syncs (SyncDir) every directory it
// created and the existing directory the topmost one was created in, so that
// a file later made durable in dir keeps its whole path after a power loss.
// If dir already exists it does nothing. A non-directory in the way is an
// error wrapping syscall.ENOTDIR. Directories a concurrent caller creates
// first are used, and synced, as if MkdirAll had made them.
func MkdirAll(fsys FS, dir string, perm fs.FileMode) error {
	var missing []string // deepest first
	for d := dir; ; {
		fi, err := stat(fsys, d)
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
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if len(missing) == 0 {
		return nil
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fsys.Mkdir(missing[i], perm); err != nil {
			// Lost a race: someone else's directory serves as well.
			if fi, serr := stat(fsys, missing[i]); serr != nil || !fi.IsDir() {
				return err
			}
		}
	}
	if top := missing[len(missing)-1]; filepath.Dir(top) != top {
		if err := fsys.SyncDir(filepath.Dir(top)); err != nil {
			return err
		}
	}
	for _, d := range missing {
		if err := fsys.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// stat is Lstat that follows a final symbolic link once, as os.Stat would
// for the directories MkdirAll walks (the root of a store may be a link).
func stat(fsys FS, name string) (fs.FileInfo, error) {
	fi, err := fsys.Lstat(name)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if target, lerr := filepath.EvalSymlinks(name); lerr == nil {
			return fsys.Lstat(target)
		}
	}
	return fi, err
}
