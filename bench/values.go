package bench

import (
	"fmt"
	"os"
	"path/filepath"
)

// valueKey is the name of value i: its file name for the file contenders,
// its key for rangetx, its bucket for bbolt.
func valueKey(i int) string { return fmt.Sprintf("v%02d", i) }

// fill writes a deterministic pattern for the bytes at off.
func fill(b []byte, off int64) {
	for i := range b {
		x := uint64(off) + uint64(i)
		b[i] = byte(x*131 + x>>9 + 1)
	}
}

// createChunk is how much of a value is written per call while creating it.
const createChunk = 4 << 20

// createFiles writes values files of size bytes under dir, every byte
// written, and syncs them and dir.
func createFiles(dir string, values int, size int64) error {
	buf := make([]byte, min(size, createChunk))
	for v := range values {
		if err := createFile(filepath.Join(dir, valueKey(v)), size, buf); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

func createFile(path string, size int64, buf []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create value: %w", err)
	}
	for off := int64(0); off < size && err == nil; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), size-off)]
		fill(b, off)
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create value %s: %w", filepath.Base(path), err)
	}
	return nil
}

// syncDir makes the entries of directory dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}
