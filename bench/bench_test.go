// Package bench measures rangetx against what users would otherwise do.
// Run with:
//
//	go test -run '^$' -bench . -benchmem ./bench
//
// Every benchmark updates 64 KiB inside a 64 MiB value on the local disk.
package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rangetx/rangetx/txn"
)

const (
	valueSize = 64 << 20
	writeSize = 64 << 10
)

func setup(b *testing.B) (root string, patch []byte) {
	root = b.TempDir()
	if err := os.WriteFile(filepath.Join(root, "v"), bytes.Repeat([]byte{7}, valueSize), 0o644); err != nil {
		b.Fatal(err)
	}
	return root, bytes.Repeat([]byte{9}, writeSize)
}

// offset spreads the writes over the value.
func offset(i int) int64 { return int64(i*writeSize*7) % (valueSize - writeSize) }

func benchMode(b *testing.B, mode txn.Mode) {
	root, patch := setup(b)
	ctx := context.Background()
	e, err := txn.Open(ctx, root, &txn.Options{Mode: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.SetBytes(writeSize)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		err := txn.Do(ctx, e, "v", func(tx *txn.Tx) error {
			_, err := tx.WriteAt(patch, offset(i))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJournal(b *testing.B) { benchMode(b, txn.ModeJournal) }
func BenchmarkCopy(b *testing.B)    { benchMode(b, txn.ModeCopy) }
func BenchmarkAuto(b *testing.B)    { benchMode(b, txn.ModeAuto) }

// BenchmarkNaiveRewrite is what stores do today for an atomic update: read
// the whole value, patch it, write a temporary file, fsync, rename, fsync
// the directory.
func BenchmarkNaiveRewrite(b *testing.B) {
	root, patch := setup(b)
	path := filepath.Join(root, "v")
	b.SetBytes(writeSize)
	for i := 0; b.Loop(); i++ {
		v, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		copy(v[offset(i):], patch)
		tmp := path + ".tmp"
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(v); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		d, _ := os.Open(root)
		d.Sync()
		d.Close()
	}
}

// BenchmarkRawPwrite is the physical floor: pwrite and fdatasync with no
// atomicity at all.
func BenchmarkRawPwrite(b *testing.B) {
	root, patch := setup(b)
	f, err := os.OpenFile(filepath.Join(root, "v"), os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(writeSize)
	for i := 0; b.Loop(); i++ {
		if _, err := f.WriteAt(patch, offset(i)); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}
