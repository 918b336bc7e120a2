package vfs

import (
	"fmt"
	"io"
)

// copyBuf is the most CopyRange holds in memory when the kernel cannot copy.
const copyBuf = 1 << 20

// CopyRange copies n bytes of src at offset srcOff to dst at offset dstOff,
// leaving both files' read/write offsets alone. Between two operating
// system files on Linux the kernel copies (copy_file_range, which may share
// blocks on file systems that can); otherwise the bytes pass through a
// buffer of at most 1 MiB, whatever n is. Like any write, the copy is
// durable only after dst is synced. Fewer than n bytes in src is
// io.ErrUnexpectedEOF, with what was there copied.
func CopyRange(dst File, dstOff int64, src File, srcOff, n int64) error {
	if n < 0 || srcOff < 0 || dstOff < 0 {
		return fmt.Errorf("vfs: copy %d bytes from %d to %d: negative", n, srcOff, dstOff)
	}
	done, err := kernelCopy(dst, dstOff, src, srcOff, n)
	if err != nil || done == n {
		return err
	}
	buf := make([]byte, min(n-done, copyBuf))
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
