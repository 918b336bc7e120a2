package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/internal/testutil"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/txn"
)

// TestRecoverCorruptJournal: `rangetx recover` names the corrupt journal
// and record, exits 1 and touches no value; inspect shows the bad record.
func TestRecoverCorruptJournal(t *testing.T) {
	root := t.TempDir()
	ok(t, rangetx(t, []byte("0123456789"), nil, "put", "--root", root, "k"))
	_, jdir, _ := txn.Layout(root)
	id := testutil.DeadJournal(t, jdir, journal.Record{TxID: uuid.New(), Key: "k", BaseSize: 10, MinSize: 10, Size: 10,
		Ranges: []journal.Range{{Off: 0, Data: []byte("XX")}}})
	testutil.FlipBit(t, jdir, id, 1, 77)

	r := rangetx(t, nil, nil, "recover", "--root", root)
	if r.code != 1 || !strings.Contains(r.stdout, "CORRUPT") || !strings.Contains(r.stderr, id) || !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("recover: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = rangetx(t, nil, nil, "recover", "--root", root, "--json")
	var rep struct {
		Error    string `json:"error"`
		Journals []struct {
			ID      string `json:"id"`
			Corrupt string `json:"corrupt"`
		} `json:"journals"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || rep.Error == "" ||
		len(rep.Journals) != 1 || rep.Journals[0].ID != id || rep.Journals[0].Corrupt == "" {
		t.Fatalf("recover --json: exit %d, %q (%v)", r.code, r.stdout, err)
	}
	var in inspection
	r = ok(t, rangetx(t, nil, nil, "inspect", "--root", root, "--json"))
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil || len(in.Journals) != 1 || len(in.Journals[0].Corrupt) != 1 || in.Journals[0].Corrupt[0] != 1 {
		t.Fatalf("inspect: %s (%v)", r.stdout, err)
	}
	// Reads go through the engine, whose Open also refuses to guess.
	if r := rangetx(t, nil, nil, "get", "--root", root, "k"); r.code != 1 || !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("get with a corrupt journal: exit %d %s", r.code, r.stderr)
	}
	// The value itself was never touched.
	if v := readFile(t, root, "k"); v != "0123456789" {
		t.Fatalf("value changed to %q", v)
	}
}

// TestRecoverReplaysAndInspectShowsHolders: a dead writer's entry is
// replayed by `recover`; inspect reports a held lock and a live journal.
func TestRecoverReplaysAndInspectShowsHolders(t *testing.T) {
	root := t.TempDir()
	ok(t, rangetx(t, []byte("0123456789"), nil, "put", "--root", root, "k"))
	_, jdir, _ := txn.Layout(root)
	testutil.DeadJournal(t, jdir, journal.Record{TxID: uuid.New(), Key: "k", BaseSize: 10, MinSize: 10, Size: 10,
		Ranges: []journal.Range{{Off: 2, Data: []byte("XY")}}})
	var in inspection
	r := ok(t, rangetx(t, nil, nil, "inspect", "--root", root, "--json"))
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil || len(in.Journals) != 1 || in.Journals[0].Live ||
		len(in.Journals[0].Pending) != 1 || in.Journals[0].Pending[0] != "k" {
		t.Fatalf("inspect before recover: %s", r.stdout)
	}
	r = ok(t, rangetx(t, nil, nil, "recover", "--root", root))
	if !strings.Contains(r.stdout, "replayed 1 entries for k") {
		t.Fatalf("recover said %q", r.stdout)
	}
	if v := readFile(t, root, "k"); v != "01XY456789" {
		t.Fatalf("value = %q", v)
	}

	// A live engine in this process holding k's lock.
	e, err := txn.Open(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tx, err := e.Begin(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	r = ok(t, rangetx(t, nil, nil, "inspect", "--root", root, "--json"))
	tx.Rollback()
	in = inspection{}
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil || len(in.Journals) != 1 || !in.Journals[0].Live ||
		in.Journals[0].ID != e.JournalID() || len(in.Locks) != 1 || !in.Locks[0].Held {
		t.Fatalf("inspect with a live holder: %s", r.stdout)
	}
}
