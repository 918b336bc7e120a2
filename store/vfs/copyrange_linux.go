package vfs

import (
	"errors"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// kernelCopy copies as much of the range as copy_file_range will between
// two operating system files and returns how much that was: 0 with a nil
// error when the files are not both operating system files or the kernel
// cannot copy between them, so the caller copies the rest itself.
func kernelCopy(dst File, dstOff int64, src File, srcOff, n int64) (int64, error) {
	d, ok := dst.(osFile)
	s, ok2 := src.(osFile)
	if !ok || !ok2 {
		return 0, nil
	}
	var done int64
	for done < n {
		roff, woff := srcOff+done, dstOff+done
		k, err := unix.CopyFileRange(int(s.Fd()), &roff, int(d.Fd()), &woff, int(min(n-done, 1<<30)), 0)
		switch {
		case err == nil && k == 0:
			return done, nil // end of src: the caller reports it
		case err == nil:
			done += int64(k)
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EXDEV), errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENOSYS),
			errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EBADF):
			return done, nil // not here: copy the rest through memory
		default:
			return done, &fs.PathError{Op: "copy_file_range", Path: d.Name(), Err: err}
		}
	}
	return done, nil
}
