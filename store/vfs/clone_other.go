//go:build !linux

package vfs

// Clone reports false: cloning is only implemented on Linux. See the Linux
// version.
func Clone(dst, src File) (bool, error) { return false, nil }
