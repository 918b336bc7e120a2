package journal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rangetx/rangetx/journal"
	bolt "go.etcd.io/bbolt"
)

// damaged is a dead journal's bbolt file, to be damaged by a test: three
// 16 KiB entries for "v" (LSNs 1, 3, 4) and one small one for "w" (LSN 2).
type damaged struct {
	id   string
	file []byte // the sound file
	used int64  // the bytes bbolt's newest transaction uses
	page int64  // bbolt's page size
}

func newDamaged(t *testing.T) *damaged {
	t.Helper()
	dir := t.TempDir()
	j := create(t, dir)
	appendAll(t, j, rec("v", strings.Repeat("1", 16<<10)), rec("w", "W"),
		rec("v", strings.Repeat("2", 16<<10)), rec("v", strings.Repeat("3", 16<<10)))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	d := &damaged{id: j.ID(), page: int64(os.Getpagesize())}
	path := filepath.Join(dir, d.id+".db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		d.used = tx.Size()
		return nil
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if d.file, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if d.used < 8*d.page || int64(len(d.file)) <= d.used {
		t.Fatalf("fixture: file of %d bytes uses %d: want several pages and an unused tail", len(d.file), d.used)
	}
	return d
}

// write stores b as the journal's file in a fresh directory, without an
// owner file: the journal is dead. It returns the directory.
func (d *damaged) write(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, d.id+".db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyFile returns a copy of the sound file.
func (d *damaged) copyFile() []byte { return bytes.Clone(d.file) }

// meta returns the offset of the meta page bbolt uses (the valid one with
// the higher transaction id) in the sound file; its fields start 16 bytes
// in: magic, version, page size, flags (4 bytes each), root page and
// sequence, freelist page, high-water mark, transaction id (8 each), and
// an FNV-64a checksum of the 56 bytes before it.
func (d *damaged) meta() int64 {
	txid := func(off int64) uint64 { return binary.NativeEndian.Uint64(d.file[off+16+48:]) }
	if txid(d.page) > txid(0) {
		return d.page
	}
	return 0
}

// freelist returns the freelist page of the meta page in use.
func (d *damaged) freelist() int64 {
	return int64(binary.NativeEndian.Uint64(d.file[d.meta()+16+32:]))
}

// reseal recomputes the checksum of the meta page at off in b.
func reseal(b []byte, off int64) {
	m := b[off+16:]
	h := fnv.New64a()
	h.Write(m[:56])
	binary.NativeEndian.PutUint64(m[56:], h.Sum64())
}

// timeout fails the test if fn does not return within a few seconds: a
// damaged file must not leave anything waiting forever.
func timeout(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// wantCorrupt fails unless err wraps ErrCorrupt and names journal id.
func wantCorrupt(t *testing.T, what string, err error, id string) {
	t.Helper()
	if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), id) {
		t.Fatalf("%s = %v, want ErrCorrupt naming journal %s", what, err, id)
	}
}

// wantRefused checks that OpenDead refuses the journal in dir as corrupt,
// leaving its file as it was and unlocked, and refuses it again promptly.
func (d *damaged) wantRefused(t *testing.T, dir, mention string) {
	t.Helper()
	path := filepath.Join(dir, d.id+".db")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for try := 1; try <= 2; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		j, err := journal.OpenDead(ctx, dir, d.id, nil)
		cancel()
		if err == nil {
			j.Close()
		}
		wantCorrupt(t, fmt.Sprintf("OpenDead, try %d", try), err, d.id)
		if !strings.Contains(err.Error(), mention) {
			t.Fatalf("OpenDead = %v, want it to mention %q", err, mention)
		}
		if strings.Contains(err.Error(), "damaged bbolt file") {
			t.Fatalf("OpenDead = %v: bbolt faulted inside Open instead of the file being checked first", err)
		}
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the refused file changed (%v)", err)
	}
	// Nothing of the refusal holds bbolt's lock on the file.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the refused file is still locked: %v", err)
	}
}

// TestOpenDeadTruncated: a journal file cut short inside the pages bbolt
// uses is ErrCorrupt naming the journal, and the file is left untouched
// and unlocked. bbolt would map the missing pages and fault on them.
func TestOpenDeadTruncated(t *testing.T) {
	d := newDamaged(t)
	for _, cut := range []int64{1, 100, d.page - 1, d.page, d.page + 1, 2 * d.page, 3 * d.page,
		d.used / 2, d.used - d.page, d.used - 1} {
		t.Run(fmt.Sprintf("cut-%d", cut), func(t *testing.T) {
			d.wantRefused(t, d.write(t, d.file[:cut]), "")
		})
	}
}

// TestOpenDeadUnusedTail: a cut that keeps every page bbolt uses (bbolt
// grows files ahead of need) loses nothing: the journal opens and every
// entry is pending.
func TestOpenDeadUnusedTail(t *testing.T) {
	d := newDamaged(t)
	j, err := journal.OpenDead(context.Background(), d.write(t, d.file[:d.used]), d.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs, err := j.Pending(context.Background(), "")
	if err != nil || !slices.Equal(lsns(recs), []uint64{1, 2, 3, 4}) {
		t.Fatalf("Pending = %v, %v; want LSNs 1-4", lsns(recs), err)
	}
	if string(recs[3].Ranges[0].Data) != strings.Repeat("3", 16<<10) {
		t.Fatal("entry 4 lost its data")
	}
}

// TestOpenDeadEmptyFile: an empty journal file is what a Create killed
// before bbolt wrote anything leaves (with its owner file, no longer
// locked). Nothing was committed to it: it opens as an empty journal and
// Remove deletes both files.
func TestOpenDeadEmptyFile(t *testing.T) {
	d := newDamaged(t)
	dir := d.write(t, nil)
	if err := os.WriteFile(filepath.Join(dir, d.id+".owner"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := journal.OpenDead(context.Background(), dir, d.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := j.Pending(context.Background(), ""); err != nil || len(recs) != 0 {
		t.Fatalf("Pending = %d records, %v", len(recs), err)
	}
	if empty, err := j.Empty(); err != nil || !empty {
		t.Fatalf("Empty = %v, %v", empty, err)
	}
	if err := j.Remove(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); names != nil {
		t.Fatalf("files left: %v", names)
	}
}

// TestOpenDeadDamagedMeta: damage bbolt would meet while it opens the
// file, before any guard could release the lock it holds, is refused by
// OpenDead's own check: a freelist page that is not one or whose page ids
// run off its pages, a meta page naming pages beyond those in use or no
// freelist at all (bbolt would then walk the whole tree to rebuild it), a
// file with no valid meta page.
func TestOpenDeadDamagedMeta(t *testing.T) {
	d := newDamaged(t)
	fl := d.freelist() * d.page
	m := d.meta() + 16
	ne := binary.NativeEndian
	cases := []struct {
		name, mention string
		damage        func(b []byte)
	}{
		{"freelist-zeroed", "bbolt freelist page", func(b []byte) { clear(b[fl : fl+d.page]) }},
		{"freelist-wrong-id", "bbolt freelist page", func(b []byte) { ne.PutUint64(b[fl:], 1) }},
		{"freelist-wrong-type", "bbolt freelist page", func(b []byte) { ne.PutUint16(b[fl+8:], 0x02) }},
		{"freelist-count", "bbolt freelist page", func(b []byte) { ne.PutUint16(b[fl+10:], 0xFFFE) }},
		{"freelist-long-count", "bbolt freelist page", func(b []byte) {
			ne.PutUint16(b[fl+10:], 0xFFFF)
			ne.PutUint64(b[fl+16:], 1<<40)
		}},
		{"freelist-overflow", "bbolt freelist page", func(b []byte) { ne.PutUint32(b[fl+12:], 1<<20) }},
		{"meta-no-freelist", "no freelist", func(b []byte) {
			ne.PutUint64(b[m+32:], ^uint64(0))
			reseal(b, m-16)
		}},
		{"meta-root-beyond", "root page", func(b []byte) {
			ne.PutUint64(b[m+16:], ne.Uint64(b[m+40:]))
			reseal(b, m-16)
		}},
		{"meta-freelist-beyond", "freelist page", func(b []byte) {
			ne.PutUint64(b[m+32:], ne.Uint64(b[m+40:])+5)
			reseal(b, m-16)
		}},
		{"no-valid-meta", "meta page", func(b []byte) {
			clear(b[:16+64])
			clear(b[d.page : d.page+16+64])
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := d.copyFile()
			c.damage(b)
			d.wantRefused(t, d.write(t, b), c.mention)
		})
	}
}

// TestDamagedPage: any one page after the meta pages overwritten with
// zeros or random bytes. bbolt keeps no checksums of its own pages, so a
// damaged page of its tree makes it panic or read outside the file. Every
// read and write of the journal must then fail with ErrCorrupt naming the
// journal, never crash, and every Pending that succeeds returns every
// entry intact. Close returns, and the file is left unlocked.
func TestDamagedPage(t *testing.T) {
	d := newDamaged(t)
	ctx := context.Background()
	refused := 0
	for p := int64(2); p*d.page < d.used; p++ {
		for _, fill := range []string{"zeros", "random"} {
			b := d.copyFile()
			if fill == "zeros" {
				clear(b[p*d.page : (p+1)*d.page])
			} else {
				rand.NewChaCha8([32]byte{byte(p)}).Read(b[p*d.page : (p+1)*d.page])
			}
			dir := d.write(t, b)
			what := func(op string) string { return fmt.Sprintf("page %d %s: %s", p, fill, op) }
			j, err := journal.OpenDead(ctx, dir, d.id, nil)
			if err != nil {
				wantCorrupt(t, what("OpenDead"), err, d.id)
				refused++
				continue
			}
			failed := false
			check := func(op string, err error) {
				if err != nil {
					wantCorrupt(t, what(op), err, d.id)
					failed = true
				}
			}
			recs, err := j.Pending(ctx, "")
			check("Pending", err)
			if err == nil {
				if !slices.Equal(lsns(recs), []uint64{1, 2, 3, 4}) || string(recs[2].Ranges[0].Data) != strings.Repeat("2", 16<<10) {
					t.Fatalf("%s: Pending succeeded with LSNs %v or wrong data", what(""), lsns(recs))
				}
			}
			_, err = j.Stats(ctx)
			check("Stats", err)
			_, err = j.Empty()
			check("Empty", err)
			err = j.MarkApplied(ctx, "w", 2)
			check("MarkApplied", err)
			if failed {
				refused++
			}
			timeout(t, what("Close"), func() { j.Close() })
			f, err := os.Open(filepath.Join(dir, d.id+".db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				t.Fatalf("%s: file still locked after Close: %v", what(""), err)
			}
			f.Close()
		}
	}
	if refused == 0 {
		t.Fatal("no damaged page was refused")
	}
}

// TestFaultInOpenJournal: a file cut short under an open journal makes
// bbolt fault on every page past the cut. Reads fail with ErrCorrupt
// naming the journal, the journal then refuses writes (ErrNotWritten), and
// Close returns and releases the file even when bbolt faulted again while
// rolling a write transaction back, leaving its own locks held.
func TestFaultInOpenJournal(t *testing.T) {
	d := newDamaged(t)
	ctx := context.Background()
	for _, first := range []string{"read", "write"} {
		t.Run(first, func(t *testing.T) {
			dir := d.write(t, d.file)
			path := filepath.Join(dir, d.id+".db")
			j, err := journal.OpenDead(ctx, dir, d.id, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 2*d.page); err != nil { // the meta pages only
				t.Fatal(err)
			}
			if first == "write" {
				err := j.MarkApplied(ctx, "w", 2)
				wantCorrupt(t, "MarkApplied", err, d.id)
				if !errors.Is(err, journal.ErrNotWritten) {
					t.Fatalf("MarkApplied faulting before its commit = %v, want ErrNotWritten", err)
				}
			}
			_, err = j.Pending(ctx, "")
			wantCorrupt(t, "Pending", err, d.id)
			_, err = j.Stats(ctx)
			wantCorrupt(t, "Stats", err, d.id)
			_, err = j.Empty()
			wantCorrupt(t, "Empty", err, d.id)
			if _, err := j.Append(ctx, rec("w", "x")); !errors.Is(err, journal.ErrNotWritten) || !errors.Is(err, journal.ErrCorrupt) {
				t.Fatalf("Append after a fault = %v, want ErrNotWritten and ErrCorrupt", err)
			}
			if err := j.MarkApplied(ctx, "w", 2); !errors.Is(err, journal.ErrNotWritten) {
				t.Fatalf("MarkApplied after a fault = %v, want ErrNotWritten", err)
			}
			if err := j.Remove(); !errors.Is(err, journal.ErrCorrupt) {
				t.Fatalf("Remove = %v, want ErrCorrupt", err)
			}
			timeout(t, "Close", func() {
				if err := j.Close(); err != nil {
					t.Error(err)
				}
			})
			// The file is released: opening it again is a prompt refusal,
			// not a wait for a lock.
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err = journal.OpenDead(cctx, dir, d.id, nil)
			wantCorrupt(t, "OpenDead after Close", err, d.id)
		})
	}
}

// TestGuard: guard turns a panic into an error wrapping ErrCorrupt and a
// memory fault into a panic first, and restores the goroutine's
// panic-on-fault setting however fn ends.
func TestGuard(t *testing.T) {
	for _, fn := range []func() error{
		func() error { return nil },
		func() error { return errors.New("plain") },
		func() error { panic("bad page") },
		func() error {
			var p *[8]byte
			return fmt.Errorf("%d", p[3]) // nil dereference
		},
	} {
		err := journal.Guard(fn)
		if old := debug.SetPanicOnFault(false); old {
			t.Fatal("guard left panic-on-fault set")
		}
		if err != nil && err.Error() != "plain" && !errors.Is(err, journal.ErrCorrupt) {
			t.Fatalf("guard = %v", err)
		}
	}
	debug.SetPanicOnFault(true)
	journal.Guard(func() error { panic("x") })
	if old := debug.SetPanicOnFault(false); !old {
		t.Fatal("guard cleared a panic-on-fault setting it did not make")
	}
}
