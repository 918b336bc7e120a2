package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/internal/testutil"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/txn"
	bolt "go.etcd.io/bbolt"
)

// damagedStore is a store with two dead journals: good, whose one entry is
// intact, and bad, which a test then damages. Recovery must verify both
// before it touches any value, so when bad is damaged not even good's
// entry may be applied.
type damagedStore struct {
	root, jdir string
	good, bad  string // journal ids
	badPath    string // bad's bbolt file
}

func newDamagedStore(t *testing.T) *damagedStore {
	t.Helper()
	s := &damagedStore{root: t.TempDir()}
	ok(t, rangetx(t, []byte("0123456789"), nil, "put", "--root", s.root, "k"))
	ok(t, rangetx(t, []byte("hhhhhhhhhh"), nil, "put", "--root", s.root, "h"))
	ok(t, rangetx(t, bytes.Repeat([]byte("b"), 64<<10), nil, "put", "--root", s.root, "big/value"))
	_, s.jdir, _ = txn.Layout(s.root)
	s.good = testutil.DeadJournal(t, s.jdir, journal.Record{TxID: uuid.New(), Key: "h", BaseSize: 10, MinSize: 10, Size: 10,
		Ranges: []journal.Range{{Off: 0, Data: []byte("H")}}})
	recs := []journal.Record{{TxID: uuid.New(), Key: "k", BaseSize: 10, MinSize: 10, Size: 10,
		Ranges: []journal.Range{{Off: 0, Data: []byte("XX")}}}}
	for i := range 3 {
		recs = append(recs, journal.Record{TxID: uuid.New(), Key: "big/value", BaseSize: 64 << 10, MinSize: 64 << 10, Size: 64 << 10,
			Ranges: []journal.Range{{Off: int64(i) * 20 << 10, Data: bytes.Repeat([]byte{byte('1' + i)}, 20<<10)}}})
	}
	s.bad = testutil.DeadJournal(t, s.jdir, recs...)
	s.badPath = filepath.Join(s.jdir, s.bad+".db")
	return s
}

// clone copies the store, before any damage, to a fresh root.
func (s *damagedStore) clone(t *testing.T) *damagedStore {
	t.Helper()
	c := *s
	c.root = t.TempDir()
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		to := filepath.Join(c.root, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, c.jdir, _ = txn.Layout(c.root)
	c.badPath = filepath.Join(c.jdir, c.bad+".db")
	return &c
}

// usedBytes is the part of bad's file that bbolt's newest transaction uses
// (its high-water mark); a cut below it loses pages.
// withDamagedPage returns a clone of s whose bad journal has page p (of
// size page) overwritten with zeros or, for any other fill, random bytes.
func (s *damagedStore) withDamagedPage(t *testing.T, p, page int64, fill string) *damagedStore {
	t.Helper()
	c := s.clone(t)
	b, err := os.ReadFile(c.badPath)
	if err != nil {
		t.Fatal(err)
	}
	if fill == "zeros" {
		clear(b[p*page : (p+1)*page])
	} else {
		copy(b[p*page:], randomBytes(int(page), byte(p)))
	}
	if err := os.WriteFile(c.badPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *damagedStore) usedBytes(t *testing.T) int64 {
	t.Helper()
	db, err := bolt.Open(s.badPath, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var used int64
	db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	return used
}

// update changes bad's bbolt file through bbolt itself.
func (s *damagedStore) update(t *testing.T, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(s.badPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshot reads every file under the store's root, journals included.
func (s *damagedStore) snapshot(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		if filepath.Ext(p) == ".lock" || filepath.Ext(p) == ".turn" || filepath.Base(p) == "recovery.lock" {
			return nil // lock files are created by any command that looks
		}
		b, err := os.ReadFile(p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// assertRefused runs recover and get on the damaged store: both exit 1,
// recover names the bad journal as corrupt (and mention, if not empty), and
// no value or journal file changes.
func (s *damagedStore) assertRefused(t *testing.T, mention string) {
	t.Helper()
	before := s.snapshot(t)
	r := rangetx(t, nil, nil, "recover", "--root", s.root)
	out := r.stdout + r.stderr
	if r.code != 1 || !strings.Contains(out, s.bad) || !strings.Contains(out, "corrupt") || !strings.Contains(out, mention) {
		t.Fatalf("recover: exit %d, want 1 naming journal %s as corrupt and %q\nstdout %s\nstderr %s", r.code, s.bad, mention, r.stdout, r.stderr)
	}
	if r := rangetx(t, nil, nil, "get", "--root", s.root, "k"); r.code != 1 || !strings.Contains(r.stderr, s.bad) {
		t.Fatalf("get: exit %d, want 1 naming journal %s\nstderr %s", r.code, s.bad, r.stderr)
	}
	after := s.snapshot(t)
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("%s changed", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok && !strings.HasPrefix(name, filepath.Join(".rangetx", "journal")) {
			t.Errorf("%s appeared", name)
		}
	}
	if v := readFile(t, s.root, "h"); v != "hhhhhhhhhh" {
		t.Errorf("the intact journal's entry was applied (h = %q) although another journal is damaged", v)
	}
	if ids, err := journal.List(s.jdir); err != nil || len(ids) != 2 || ids[0] != s.good || ids[1] != s.bad {
		t.Errorf("journals after the refusal: %v, %v; want both kept", ids, err)
	}
}

// TestRecoverTruncatedJournal: a journal file cut short anywhere inside the
// pages bbolt uses is refused — `rangetx recover` and every Open exit 1
// naming it and touch nothing — instead of crashing the process (bbolt maps
// the file and would fault on a page past its end).
func TestRecoverTruncatedJournal(t *testing.T) {
	tmpl := newDamagedStore(t)
	used := tmpl.usedBytes(t)
	if used < 5*4096 {
		t.Fatalf("the journal uses only %d bytes", used)
	}
	for _, cut := range []int64{1, 100, 4095, 4096, 4097, 8192, 12288, used / 2, used - 4096, used - 1} {
		t.Run(fmt.Sprintf("cut-%d", cut), func(t *testing.T) {
			s := tmpl.clone(t)
			if err := os.Truncate(s.badPath, cut); err != nil {
				t.Fatal(err)
			}
			s.assertRefused(t, "")
		})
	}
}

// TestRecoverTruncatedUnusedTail: a cut that keeps every page bbolt uses
// (bbolt grows files ahead of need) loses nothing, and recovery replays
// the journal as usual.
func TestRecoverTruncatedUnusedTail(t *testing.T) {
	s := newDamagedStore(t)
	used := s.usedBytes(t)
	fi, err := os.Stat(s.badPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= used {
		t.Fatalf("the journal file (%d bytes) has no unused tail beyond %d", fi.Size(), used)
	}
	if err := os.Truncate(s.badPath, used); err != nil {
		t.Fatal(err)
	}
	r := ok(t, rangetx(t, nil, nil, "recover", "--root", s.root))
	if !strings.Contains(r.stdout, "replayed 3 entries for big/value") {
		t.Fatalf("recover said %s", r.stdout)
	}
	if v := readFile(t, s.root, "k"); v != "XX23456789" {
		t.Fatalf("k = %q", v)
	}
}

// TestRecoverEmptyJournalFile: an empty journal file is what a writer
// killed while creating its journal leaves (before bbolt wrote its first
// pages), so nothing was ever committed to it: recovery removes it and
// replays the others.
func TestRecoverEmptyJournalFile(t *testing.T) {
	s := newDamagedStore(t)
	if err := os.Truncate(s.badPath, 0); err != nil {
		t.Fatal(err)
	}
	ok(t, rangetx(t, nil, nil, "recover", "--root", s.root))
	if v := readFile(t, s.root, "h"); v != "Hhhhhhhhhh" {
		t.Fatalf("h = %q", v)
	}
	if v := readFile(t, s.root, "k"); v != "0123456789" {
		t.Fatalf("k = %q", v)
	}
	if ids, _ := journal.List(s.jdir); len(ids) != 0 {
		t.Fatalf("journals left: %v", ids)
	}
}

// TestRecoverGarbageRecord: entries whose bytes are garbage, stored through
// bbolt itself so that the file is a sound database, are refused by their
// checksum or structure; the message names the LSN, or the bad key where
// there is no LSN (a stored key that is not one, a garbage watermark).
func TestRecoverGarbageRecord(t *testing.T) {
	lsn := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	garbage := randomBytes(300, 3)
	cases := []struct {
		name    string
		bucket  string
		key     []byte
		value   []byte
		mention string
	}{
		{"new-entry", "entries", lsn(9), garbage, "entry 9"},
		{"over-entry", "entries", lsn(1), garbage, "entry 1"},
		{"over-last-entry", "entries", lsn(4), garbage[:40], "entry 4"},
		{"empty-entry", "entries", lsn(5), []byte{}, "entry 5"},
		{"key-not-lsn", "entries", []byte("junk"), garbage, "not an LSN"},
		{"watermark", "applied", []byte("k"), []byte("xyz"), `watermark of "k"`},
	}
	tmpl := newDamagedStore(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := tmpl.clone(t)
			s.update(t, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(c.bucket)).Put(c.key, c.value)
			})
			s.assertRefused(t, c.mention)
		})
	}
}

// TestRecoverGarbageJournalFile: a journal file replaced by zeros or random
// bytes, of its own length or shorter, is refused.
func TestRecoverGarbageJournalFile(t *testing.T) {
	tmpl := newDamagedStore(t)
	for _, c := range []struct {
		name string
		fill func(b []byte)
	}{
		{"zeros", func(b []byte) { clear(b) }},
		{"random", func(b []byte) { copy(b, randomBytes(len(b), 5)) }},
		{"random-short", func(b []byte) { copy(b, randomBytes(len(b), 6)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := tmpl.clone(t)
			fi, err := os.Stat(s.badPath)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, fi.Size())
			if c.name == "random-short" {
				b = b[:1000]
			}
			c.fill(b)
			if err := os.WriteFile(s.badPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s.assertRefused(t, "")
		})
	}
}

// randomBytes returns n reproducible random bytes.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// rangetxHere runs the command in this process, as main does: quicker than
// a child for a long sweep (a crash of the command would end the test).
func rangetxHere(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), env{bytes.NewReader(nil), &stdout, &stderr, func(string) string { return "" }}, args)
	return result{code, stdout.String(), stderr.String()}
}

// TestRecoverDamagedPage: any one page of the journal file after its meta
// pages overwritten with zeros or with random bytes. bbolt keeps no
// checksums of its own pages, so a damaged page of its tree makes bbolt
// panic or read outside the file; recovery must report that journal as
// corrupt (exit 1, nothing touched), never crash. A damaged free page or
// record page is harmless or caught by the records' own checksums: either
// way the outcome is exit 0 with every entry replayed, or exit 1 with
// nothing touched.
func TestRecoverDamagedPage(t *testing.T) {
	tmpl := newDamagedStore(t)
	used := tmpl.usedBytes(t)
	const page = 4096
	refused := 0
	for p := int64(2); p*page < used; p++ {
		for _, fill := range []string{"zeros", "random"} {
			s := tmpl.withDamagedPage(t, p, page, fill)
			before := s.snapshot(t)
			r := rangetxHere(t, "recover", "--root", s.root)
			switch r.code {
			case 0:
				for key, want := range map[string]string{"h": "Hhhhhhhhhh", "k": "XX23456789",
					"big/value": strings.Repeat("1", 20<<10) + strings.Repeat("2", 20<<10) + strings.Repeat("3", 20<<10) + strings.Repeat("b", 4<<10)} {
					if v := readFile(t, s.root, key); v != want {
						t.Fatalf("page %d %s: recovery succeeded but %s is wrong", p, fill, key)
					}
				}
			case 1:
				refused++
				if out := r.stdout + r.stderr; !strings.Contains(out, s.bad) || !strings.Contains(out, "corrupt") {
					t.Fatalf("page %d %s: exit 1 without naming the corrupt journal:\n%s", p, fill, out)
				}
				after := s.snapshot(t)
				for name, b := range before {
					if !bytes.Equal(after[name], b) {
						t.Fatalf("page %d %s: %s changed although recovery refused", p, fill, name)
					}
				}
			default:
				t.Fatalf("page %d %s: recover exit %d\nstderr %.2000s", p, fill, r.code, r.stderr)
			}
		}
	}
	if refused == 0 {
		t.Fatal("no damaged page was refused")
	}
}

// inspect runs `inspect --root` on the store, in JSON and as text, through
// run (a child process or this one). Both must exit 0: inspect reports a
// damaged journal, it does not fail on one, and it must never crash. It
// checks that the intact journal is reported as usual and that inspect
// changed no file, and returns the bad journal's status and the text.
func (s *damagedStore) inspect(t *testing.T, run func(t *testing.T, args ...string) result) (journalStatus, string) {
	t.Helper()
	before := s.snapshot(t)
	r := run(t, "inspect", "--root", s.root, "--json")
	if r.code != 0 {
		t.Fatalf("inspect --json: exit %d\nstdout %s\nstderr %.2000s", r.code, r.stdout, r.stderr)
	}
	var in inspection
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil || len(in.Journals) != 2 {
		t.Fatalf("inspect --json printed %s (%v), want two journals", r.stdout, err)
	}
	good, bad := in.Journals[0], in.Journals[1]
	if good.ID != s.good || good.Entries != 1 || !slices.Equal(good.Pending, []string{"h"}) || good.CorruptFile != "" || good.Error != "" {
		t.Fatalf("inspect reported the intact journal as %+v", good)
	}
	if bad.ID != s.bad || bad.Error != "" {
		t.Fatalf("inspect reported the damaged journal as %+v", bad)
	}
	text := run(t, "inspect", "--root", s.root)
	if text.code != 0 || !strings.Contains(text.stdout, "journals: 2\n") {
		t.Fatalf("inspect: exit %d\nstdout %s\nstderr %.2000s", text.code, text.stdout, text.stderr)
	}
	after := s.snapshot(t)
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("inspect changed %s", name)
		}
	}
	return bad, text.stdout
}

// child runs the command in a child process, where a crash is an exit
// status rather than the end of the test.
func child(t *testing.T, args ...string) result { return rangetx(t, nil, nil, args...) }

// here runs the command in this process (see rangetxHere).
func here(t *testing.T, args ...string) result { return rangetxHere(t, args...) }

// assertInspectCorrupt checks that inspect reports the bad journal's file
// as corrupt, naming the journal, in JSON (corrupt_file) and as text.
func (s *damagedStore) assertInspectCorrupt(t *testing.T, run func(t *testing.T, args ...string) result) {
	t.Helper()
	bad, text := s.inspect(t, run)
	if !strings.Contains(bad.CorruptFile, s.bad) || !strings.Contains(bad.CorruptFile, "corrupt") || bad.Entries != 0 {
		t.Fatalf("inspect --json reported the damaged journal as %+v, want its file corrupt", bad)
	}
	if !strings.Contains(text, s.bad+"  dead  CORRUPT journal file: ") {
		t.Fatalf("inspect does not report journal %s as corrupt:\n%s", s.bad, text)
	}
}

// TestInspectTruncatedJournal: inspect reports a journal file cut short
// inside the pages bbolt uses as a corrupt journal file and exits 0, as it
// does for corrupt records, instead of dying of SIGBUS.
func TestInspectTruncatedJournal(t *testing.T) {
	tmpl := newDamagedStore(t)
	used := tmpl.usedBytes(t)
	for _, cut := range []int64{1, 100, 4096, 4097, 12288, used / 2, used - 4096, used - 1} {
		t.Run(fmt.Sprintf("cut-%d", cut), func(t *testing.T) {
			s := tmpl.clone(t)
			if err := os.Truncate(s.badPath, cut); err != nil {
				t.Fatal(err)
			}
			s.assertInspectCorrupt(t, child)
		})
	}
}

// TestInspectTruncatedUnusedTail: a cut that keeps every page bbolt uses
// loses nothing, and inspect reports the journal as usual.
func TestInspectTruncatedUnusedTail(t *testing.T) {
	s := newDamagedStore(t)
	if err := os.Truncate(s.badPath, s.usedBytes(t)); err != nil {
		t.Fatal(err)
	}
	bad, _ := s.inspect(t, child)
	if bad.Entries != 4 || !slices.Equal(bad.Pending, []string{"big/value", "k"}) || bad.CorruptFile != "" || len(bad.Corrupt) != 0 {
		t.Fatalf("inspect reported %+v", bad)
	}
}

// TestInspectEmptyJournalFile: an empty journal file (an interrupted
// create) holds nothing and is no corruption; inspect reports no entries.
func TestInspectEmptyJournalFile(t *testing.T) {
	s := newDamagedStore(t)
	if err := os.Truncate(s.badPath, 0); err != nil {
		t.Fatal(err)
	}
	r := ok(t, rangetx(t, nil, nil, "inspect", "--root", s.root, "--json"))
	var in inspection
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil || len(in.Journals) != 2 {
		t.Fatalf("inspect --json printed %s (%v)", r.stdout, err)
	}
	if bad := in.Journals[1]; bad.ID != s.bad || bad.Entries != 0 || bad.CorruptFile != "" || bad.Error != "" {
		t.Fatalf("inspect reported the empty journal as %+v", bad)
	}
}

// TestInspectGarbageJournalFile: a journal file replaced by zeros or random
// bytes is reported as a corrupt journal file.
func TestInspectGarbageJournalFile(t *testing.T) {
	tmpl := newDamagedStore(t)
	fi, err := os.Stat(tmpl.badPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"zeros":        make([]byte, fi.Size()),
		"random":       randomBytes(int(fi.Size()), 5),
		"random-short": randomBytes(1000, 6),
		"random-5000":  randomBytes(5000, 7), // between one page and two
	} {
		t.Run(name, func(t *testing.T) {
			s := tmpl.clone(t)
			if err := os.WriteFile(s.badPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s.assertInspectCorrupt(t, child)
		})
	}
}

// TestInspectDamagedPage: any one page of the journal file after its meta
// pages overwritten with zeros or random bytes. inspect exits 0 and
// reports the journal either as a corrupt file (bbolt met the damage) or
// as usual, corrupt records included; it never crashes.
func TestInspectDamagedPage(t *testing.T) {
	tmpl := newDamagedStore(t)
	used := tmpl.usedBytes(t)
	const page = 4096
	corrupt := 0
	for p := int64(2); p*page < used; p++ {
		for _, fill := range []string{"zeros", "random"} {
			s := tmpl.withDamagedPage(t, p, page, fill)
			bad, text := s.inspect(t, here)
			switch {
			case bad.CorruptFile != "":
				corrupt++
				if !strings.Contains(bad.CorruptFile, s.bad) || !strings.Contains(text, s.bad+"  dead  CORRUPT journal file: ") {
					t.Fatalf("page %d %s: the corrupt file is not reported naming journal %s: %+v\n%s", p, fill, s.bad, bad, text)
				}
			case bad.Entries == 0:
				t.Fatalf("page %d %s: inspect found no entries and no corruption: %+v", p, fill, bad)
			}
		}
	}
	if corrupt == 0 {
		t.Fatal("no damaged page was reported as a corrupt file")
	}
}
