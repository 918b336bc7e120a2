// Package fsutil holds the file-system helpers that several rangetx packages
// need to make directory changes survive a power loss.
package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// syncDir is SyncDir; tests replace it to see which directories MkdirAll
// syncs.
var syncDir = SyncDir

// SyncDir opens dir read-only and fsyncs it, so that entries created,
// renamed or removed in it survive a power loss: an fsync of a file does not
// cover the file's name.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// MkdirAll is os.MkdirAll made durable: it creates dir and its missing
// parents with perm (less the umask), then fsyncs every directory it
// created and the existing directory the topmost one was created in, so
// that a file later made durable in dir keeps its whole path after a power
// loss. If dir already exists it does nothing. A non-directory in the way
// is an error wrapping syscall.ENOTDIR. Directories a concurrent caller
// creates first are used, and synced, as if MkdirAll had made them.
func MkdirAll(dir string, perm fs.FileMode) error {
	var missing []string // deepest first
	for d := dir; ; {
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
		if err := os.Mkdir(missing[i], perm); err != nil {
			// Lost a race: someone else's directory serves as well.
			if fi, serr := os.Stat(missing[i]); serr != nil || !fi.IsDir() {
				return err
			}
		}
	}
	if top := missing[len(missing)-1]; filepath.Dir(top) != top {
		if err := syncDir(filepath.Dir(top)); err != nil {
			return err
		}
	}
	for _, d := range missing {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}
