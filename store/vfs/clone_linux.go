package vfs

import (
	"errors"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// Clone makes dst, an empty file just created, hold all of src's bytes by
// sharing src's blocks (the FICLONE ioctl: a reflink on btrfs, XFS and
// other copy-on-write file systems), in time independent of the size. It
// reports false with a nil error when the files are not both operating
// system files or the file system cannot clone, so the caller copies
// instead. Like a copy, the clone is durable only after dst is synced.
func Clone(dst, src File) (bool, error) {
	d, ok := dst.(osFile)
	s, ok2 := src.(osFile)
	if !ok || !ok2 {
		return false, nil
	}
	err := unix.IoctlFileClone(int(d.Fd()), int(s.Fd()))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOTTY), errors.Is(err, syscall.EXDEV),
		errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENOSYS):
		return false, nil // not supported here: copy instead
	}
	return false, &fs.PathError{Op: "clone", Path: d.Name(), Err: err}
}
