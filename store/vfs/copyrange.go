package vfs

import (
	"fmt"
	"io"
	"math"
	"sync"
)

// copyBufs holds the buffers of CopyRange's copies through memory: each
// is 1 MiB, reused from one call to the next.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// CopyRange copies n bytes of src at offset srcOff to dst at offset dstOff,
// leaving both files' read/write offsets alone. src and dst must be
// different files, or the two ranges must not overlap. Between two
// operating system files on Linux 5.3 or later the kernel copies
// (copy_file_range, which may share blocks on file systems that can);
// otherwise, or where the kernel refuses, the bytes pass through a reused
// buffer of 1 MiB, whatever n is. Like any write, the copy is durable only
// after dst is synced. Fewer than n bytes in src is io.ErrUnexpectedEOF,
// with what was there copied.
func CopyRange(dst File, dstOff int64, src File, srcOff, n int64) error {
	if n < 0 || srcOff < 0 || dstOff < 0 || n > math.MaxInt64-srcOff || n > math.MaxInt64-dstOff {
		return fmt.Errorf("vfs: copy %d bytes from %d to %d: out of range", n, srcOff, dstOff)
	}
	done, err := kernelCopy(dst, dstOff, src, srcOff, n)
	if err != nil || done == n {
		return err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for done < n {
		m := min(int64(len(buf)), n-done)
		k, err := src.ReadAt(buf[:m], srcOff+done)
		if k > 0 {
			if _, werr := dst.WriteAt(buf[:k], dstOff+done); werr != nil {
				return werr
			}
			done += int64(k)
		}
		if err == io.EOF && done < n && int64(k) < m {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
