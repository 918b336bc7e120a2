package recovery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rangetx/rangetx/internal/testutil"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/recovery"
	bolt "go.etcd.io/bbolt"
)

// damagedJournalFixture is a fixture with values v and w and a dead journal
// holding three 16 KiB entries for v and one for w. It returns the
// journal's file and how much of it bbolt uses.
func damagedJournalFixture(t *testing.T) (f *fixture, id, path string, used int64) {
	t.Helper()
	f = newFixture(t)
	f.put(t, "v", bytes.Repeat([]byte("v"), 64<<10))
	f.put(t, "w", []byte("wwww"))
	id = testutil.DeadJournal(t, f.jdir,
		rec("v", 64<<10, 64<<10, 64<<10, journal.Range{Off: 0, Data: bytes.Repeat([]byte("1"), 16<<10)}),
		rec("w", 4, 4, 4, journal.Range{Off: 0, Data: []byte("W")}),
		rec("v", 64<<10, 64<<10, 64<<10, journal.Range{Off: 16 << 10, Data: bytes.Repeat([]byte("2"), 16<<10)}),
		rec("v", 64<<10, 64<<10, 64<<10, journal.Range{Off: 32 << 10, Data: bytes.Repeat([]byte("3"), 16<<10)}))
	path = filepath.Join(f.jdir, id+".db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return f, id, path, used
}

// TestRunRefusesDamagedJournalFile: a journal file cut short inside the
// pages bbolt uses, or with one of its pages overwritten, makes Run fail
// with journal.ErrCorrupt and touch nothing — bbolt would otherwise fault
// or panic and take the process down — unless the damage hit a page
// nobody reads (then Run replays everything correctly). A second Run in
// the same process refuses it again promptly: nothing of the first attempt
// (such as bbolt's lock on the file) is left holding the journal.
func TestRunRefusesDamagedJournalFile(t *testing.T) {
	_, _, _, used := damagedJournalFixture(t)
	const page = 4096
	type damage struct {
		name string
		do   func(b []byte) []byte
	}
	var cases []damage
	for _, cut := range []int64{4096, 8192, 12288, used / 2, used - 1} {
		cases = append(cases, damage{fmt.Sprintf("cut-%d", cut), func(b []byte) []byte { return b[:cut] }})
	}
	for p := int64(2); p*page < used; p++ {
		cases = append(cases, damage{fmt.Sprintf("zero-page-%d", p), func(b []byte) []byte {
			clear(b[p*page : (p+1)*page])
			return b
		}})
	}
	wantV := string(bytes.Repeat([]byte("1"), 16<<10)) + string(bytes.Repeat([]byte("2"), 16<<10)) +
		string(bytes.Repeat([]byte("3"), 16<<10)) + string(bytes.Repeat([]byte("v"), 16<<10))
	refused := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, id, path, _ := damagedJournalFixture(t)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, c.do(b), 0o600); err != nil {
				t.Fatal(err)
			}
			for run := 1; run <= 2; run++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				rep, err := recovery.Run(ctx, f.cfg)
				cancel()
				if err == nil {
					if run == 2 {
						t.Fatal("the second Run succeeded where the first refused")
					}
					if string(f.get(t, "v")) != wantV || string(f.get(t, "w")) != "Wwww" {
						t.Fatal("Run succeeded but did not replay every entry")
					}
					return
				}
				if !errors.Is(err, journal.ErrCorrupt) || len(rep.Journals) != 1 || rep.Journals[0].ID != id || rep.Journals[0].Corrupt == "" {
					t.Fatalf("run %d: Run = %v, report %+v; want ErrCorrupt naming journal %s", run, err, rep, id)
				}
				if string(f.get(t, "v")) != string(bytes.Repeat([]byte("v"), 64<<10)) || string(f.get(t, "w")) != "wwww" {
					t.Fatalf("run %d: a value changed although Run refused the journal", run)
				}
			}
			refused++
		})
	}
	if refused == 0 {
		t.Fatal("no damage was refused")
	}
}

// TestSettleRefusesTruncatedJournal: the next holder of a value settling a
// truncated dead journal gets journal.ErrCorrupt, not a crash, and the
// value is untouched.
func TestSettleRefusesTruncatedJournal(t *testing.T) {
	f, id, path, _ := damagedJournalFixture(t)
	if err := os.Truncate(path, 3*4096); err != nil {
		t.Fatal(err)
	}
	if _, err := recovery.Settle(ctx, f.st, f.jdir, id, "v"); !errors.Is(err, journal.ErrCorrupt) {
		t.Fatalf("Settle of a truncated journal = %v, want ErrCorrupt", err)
	}
	if got := f.get(t, "v"); !bytes.Equal(got, bytes.Repeat([]byte("v"), 64<<10)) {
		t.Fatal("value changed")
	}
}
