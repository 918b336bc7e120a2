package fuzz

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/store"
)

func seedRecord(key string, ranges ...journal.Range) []byte {
	r := journal.Record{TxID: uuid.MustParse("0193a0e4-7b1c-7d2e-9f00-0123456789ab"), LSN: 7, Key: key,
		BaseSize: 100, MinSize: 50, Size: 120, Ranges: ranges}
	b, err := r.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzJournalRecord: arbitrary bytes into the record decoder never panic;
// whatever decodes re-encodes to the same bytes (so nothing is silently
// dropped or invented), and whatever fails is ErrCorrupt.
func FuzzJournalRecord(f *testing.F) {
	f.Add(seedRecord("a/b", journal.Range{Off: 0, Data: []byte("xyz")}, journal.Range{Off: 60, Data: []byte("q")}))
	f.Add(seedRecord("k"))
	f.Add([]byte("RTXJ"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r journal.Record
		if err := r.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, journal.ErrCorrupt) {
				t.Fatalf("decode error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("decode/encode is not the identity")
		}
	})
}

// FuzzKey: every key Local accepts stays inside its root; every key it
// rejects is ErrInvalidKey.
func FuzzKey(f *testing.F) {
	for _, k := range []string{"a", "a/b/c", "", "/a", "a/../b", "a//b", ".", "..", ".rangetx/x", "a\\b", "a\x00b",
		"link/x", "x/" + store.TempMarker, strings.Repeat("s", 300), "ünï/cødé"} {
		f.Add(k)
	}
	root := f.TempDir()
	outside := f.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		f.Fatal(err)
	}
	st, err := store.NewLocal(root)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, key string) {
		err := st.Put(ctx, key, strings.NewReader("v"))
		if err != nil {
			if store.ValidateKey(key) != nil && !errors.Is(err, store.ErrInvalidKey) {
				t.Fatalf("Put(%q) on a malformed key = %v, want ErrInvalidKey", key, err)
			}
			return
		}
		if verr := store.ValidateKey(key); verr != nil {
			t.Fatalf("Put accepted %q, which ValidateKey rejects: %v", key, verr)
		}
		p, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		realRoot, _ := filepath.EvalSymlinks(root)
		if !strings.HasPrefix(p, realRoot+string(filepath.Separator)) {
			t.Fatalf("key %q was written outside the root, at %s", key, p)
		}
		if strings.HasPrefix(strings.TrimPrefix(p, realRoot+"/"), store.ReservedDir+"/") {
			t.Fatalf("key %q was written into the reserved directory", key)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Fatalf("key %q wrote through the escaping symlink", key)
		}
		st.Delete(ctx, key)
	})
}
