package vfs_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/rangetx/rangetx/store/vfs"
)

// TestCopyRange copies ranges between operating system files (the kernel's
// copy) and between memory files (through a buffer), across the 1 MiB
// buffer size, into the middle and past the end of dst, and checks dst
// byte for byte; a range past the end of src is io.ErrUnexpectedEOF.
func TestCopyRange(t *testing.T) {
	src := make([]byte, 3<<20+17)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	dir := t.TempDir()
	for name, fsys := range map[string]vfs.FS{"os": vfs.Default, "mem": vfs.NewMem()} {
		t.Run(name, func(t *testing.T) {
			open := func(base string, b []byte) vfs.File {
				p := filepath.Join(dir, name+"-"+base)
				if name == "mem" {
					p = "/" + base
				}
				f, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				if _, err := f.WriteAt(b, 0); err != nil {
					t.Fatal(err)
				}
				return f
			}
			s := open("src", src)
			d := open("dst", bytes.Repeat([]byte{0xee}, 1000))
			want := bytes.Repeat([]byte{0xee}, 1000)
			for _, c := range []struct{ dst, src, n int64 }{
				{10, 5, 100},                    // inside dst
				{900, 1 << 20, 2<<20 + 10},      // more than the buffer, past dst's end
				{0, int64(len(src)) - 17, 17},   // src's last bytes
				{5 << 20, 0, 0},                 // nothing
				{4 << 20, 12345, (1 << 20) + 1}, // a gap of zeros before it
			} {
				if err := vfs.CopyRange(d, c.dst, s, c.src, c.n); err != nil {
					t.Fatalf("CopyRange(%+v): %v", c, err)
				}
				if c.n == 0 {
					continue
				}
				if end := c.dst + c.n; end > int64(len(want)) {
					want = append(want, make([]byte, end-int64(len(want)))...)
				}
				copy(want[c.dst:], src[c.src:c.src+c.n])
			}
			got := make([]byte, len(want)+1)
			n, err := d.ReadAt(got, 0)
			if err != io.EOF || !bytes.Equal(got[:n], want) {
				t.Fatalf("dst differs (%d bytes read, want %d, %v)", n, len(want), err)
			}
			if err := vfs.CopyRange(d, 0, s, int64(len(src))-10, 11); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("copy past src's end: %v", err)
			}
			if err := vfs.CopyRange(d, 0, s, -1, 1); err == nil {
				t.Fatal("negative offset accepted")
			}
		})
	}
}
