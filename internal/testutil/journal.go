// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rangetx/rangetx/journal"
	bolt "go.etcd.io/bbolt"
)

// DeadJournal commits recs to a new journal in dir and closes it without
// applying them, leaving what a writer killed after its commit point
// leaves: a journal with committed entries and no live owner.
func DeadJournal(t testing.TB, dir string, recs ...journal.Record) string {
	t.Helper()
	j, err := journal.Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if _, err := j.Append(context.Background(), &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	id := j.ID()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return id
}

// FlipBit flips one bit of the stored record with the given LSN in a closed
// journal, as a failing disk might.
func FlipBit(t testing.TB, dir, id string, lsn uint64, bit int) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, id+".db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		k := make([]byte, 8)
		for i := range 8 {
			k[i] = byte(lsn >> (56 - 8*i))
		}
		v := append([]byte(nil), b.Get(k)...)
		if len(v) == 0 {
			t.Fatalf("journal %s has no record %d", id, lsn)
		}
		v[bit/8%len(v)] ^= 1 << (bit % 8)
		return b.Put(k, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}
