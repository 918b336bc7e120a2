package shard_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

var ctx = context.Background()

// openEngine opens an engine on a fresh root and closes it at the end.
func openEngine(t *testing.T) (string, *txn.Engine) {
	t.Helper()
	root := t.TempDir()
	return root, openOn(t, root)
}

func openOn(t *testing.T, root string) *txn.Engine {
	t.Helper()
	e, err := txn.Open(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// raw returns the shard's file as stored, after every commit is applied in
// place; nil if the file does not exist.
func raw(t *testing.T, root string, e *txn.Engine, key string) []byte {
	t.Helper()
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// put runs one Update putting each chunk.
func put(t *testing.T, e *txn.Engine, key string, l shard.Layout, chunks map[int][]byte) {
	t.Helper()
	err := shard.Update(ctx, e, key, l, func(w *shard.Writer) error {
		for i := range l.NumChunks() {
			if d, ok := chunks[i]; ok {
				if err := w.Put(coordsOf(l, i), d); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// coordsOf is the inverse of Layout.Linear.
func coordsOf(l shard.Layout, i int) []int {
	c := make([]int, len(l.Chunks))
	for d := len(l.Chunks) - 1; d >= 0; d-- {
		c[d] = i % l.Chunks[d]
		i /= l.Chunks[d]
	}
	return c
}

// decodeRaw decodes the index of a raw shard file.
func decodeRaw(t *testing.T, l shard.Layout, b []byte) []shard.Entry {
	t.Helper()
	ib := l.IndexBytes()
	if int64(len(b)) < ib {
		t.Fatalf("shard of %d bytes, index %d", len(b), ib)
	}
	idx := b[int64(len(b))-ib:]
	if l.IndexAtStart {
		idx = b[:ib]
	}
	entries, err := shard.DecodeIndex(l, idx, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// chunkOf returns the bytes entry i names in a raw shard.
func chunkOf(b []byte, en shard.Entry) []byte {
	return b[en.Offset : en.Offset+en.NBytes]
}

// fill returns n bytes of c.
func fill(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

// bothLocations runs f for an index at the end and at the start.
func bothLocations(t *testing.T, f func(t *testing.T, l shard.Layout)) {
	for _, start := range []bool{false, true} {
		name := "end"
		if start {
			name = "start"
		}
		t.Run(name, func(t *testing.T) {
			f(t, shard.Layout{Chunks: []int{2, 3}, IndexAtStart: start, IndexCRC: true})
		})
	}
}
