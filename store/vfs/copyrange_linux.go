package vfs

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// kernelCopy copies as much of the range as copy_file_range will between
// two operating system files and returns how much that was; the caller
// copies the rest itself. It copies nothing when the files are not both
// operating system files or the kernel is older than 5.3 (whose
// copy_file_range has known bugs; the standard library avoids it there
// too), and stops without an error where the kernel cannot copy between
// the two files (different file systems, an unsupported file system, a
// sandbox that forbids the call).
func kernelCopy(dst File, dstOff int64, src File, srcOff, n int64) (int64, error) {
	d, ok := dst.(osFile)
	s, ok2 := src.(osFile)
	if !ok || !ok2 || !copyFileRangeWorks() {
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
			errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EBADF), errors.Is(err, syscall.EPERM),
			errors.Is(err, syscall.EIO) && done == 0:
			return done, nil // not here: copy the rest through memory
		default:
			return done, &fs.PathError{Op: "copy_file_range", Path: d.Name(), Err: err}
		}
	}
	return done, nil
}

// copyFileRangeWorks reports whether the kernel is Linux 5.3 or later.
var copyFileRangeWorks = sync.OnceValue(func() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	major, rest, _ := strings.Cut(unix.ByteSliceToString(u.Release[:]), ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(leadingDigits(rest))
	return err1 == nil && err2 == nil && (ma > 5 || ma == 5 && mi >= 3)
})

// leadingDigits returns the decimal digits s starts with ("3" of "3-rc1").
func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
