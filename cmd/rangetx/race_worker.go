package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

// raceWorkerCmd is the hidden command the shard race starts its writer
// processes with (this same executable).
const raceWorkerCmd = "shard-race-worker"

// runRaceWorker is one writer of the shard race:
//
//	shard-race-worker --root DIR --worker W [--naive [--tear-at N]]
//
// It prints "ready", waits for a line on stdin, then makes writer W's
// updates (racePlan) and prints "ack N" after update N returned, or, naive
// only, "fail N: cause" when it could not make it. With rangetx each update
// is shard.PutChunk in journal mode, and at the end it prints "settled N":
// the entries of dead writers its engine replayed (txn.Stats.Settled); --naive reads the shard file, replaces
// the chunk and writes the file back, as a store without rangetx does.
// --tear-at N makes the naive writer stop halfway through writing the file
// in its first write from update N on: it prints "crashpoint naive-write"
// to stderr and blocks until it is killed.
func runRaceWorker(ctx context.Context, ev env, args []string) error {
	f := newFlags(raceWorkerCmd, true)
	w := f.Int("worker", 0, "writer number")
	naive := f.Bool("naive", false, "read-modify-write the shard files without rangetx")
	tearAt := f.Int("tear-at", 0, "naive: stop in the middle of the first write from this update on")
	if _, err := f.parse(args); err != nil {
		return err
	}
	root, err := f.rootDir(ev)
	if err != nil {
		return err
	}
	a := raceArrayDef
	put := func(n int, u raceUpdate) error {
		return naivePut(root, a, u, *tearAt > 0 && n >= *tearAt, ev)
	}
	done := func() error { return nil }
	if !*naive {
		e, err := openEngine(ctx, ev, f, txn.ModeJournal, false)
		if err != nil {
			return err
		}
		defer e.Close()
		if a, err = shard.OpenArray(ctx, e, raceArray); err != nil {
			return err
		}
		put = func(_ int, u raceUpdate) error {
			return shard.PutChunk(ctx, e, raceArray, a, u.chunk, raceContent(a, u.id, u.version))
		}
		done = func() error {
			if err := e.Close(); err != nil {
				return err
			}
			fmt.Fprintf(ev.stdout, "settled %d\n", e.Stats().Settled)
			return nil
		}
	}
	fmt.Fprintln(ev.stdout, "ready")
	if _, err := bufio.NewReader(ev.stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the start: %w", err)
	}
	for i, u := range racePlan(a, *w) {
		err := put(i+1, u)
		switch {
		case err == nil:
			fmt.Fprintf(ev.stdout, "ack %d\n", i+1)
		case *naive && errors.Is(err, shard.ErrCorruptIndex):
			fmt.Fprintf(ev.stdout, "fail %d: %v\n", i+1, err)
		default:
			return fmt.Errorf("writer %d update %d: %w", *w, i+1, err)
		}
	}
	return done()
}

// naivePut is one update without rangetx: read the whole shard file, decode
// it, replace one inner chunk, encode the whole shard again, and write it
// back over the file (truncate, write, fsync). Nothing stops two writers
// from reading the same shard and each writing back its own version of it,
// and a writer killed while writing leaves a torn file. A shard that does
// not decode is ErrCorruptIndex and is left alone. With tear, the write
// stops halfway and the process waits to be killed.
func naivePut(root string, a shard.Array, u raceUpdate, tear bool, ev env) error {
	l := a.Layout()
	file := raceShardFile(root, a, u.chunk)
	var chunks [][]byte
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		chunks = make([][]byte, l.NumChunks())
	case err != nil:
		return err
	default:
		if chunks, err = shard.DecodeShard(l, b); err != nil {
			return fmt.Errorf("shard %s: %w", file, err)
		}
	}
	enc, err := a.EncodeChunk(raceContent(a, u.id, u.version))
	if err != nil {
		return err
	}
	_, local, _ := a.ShardOf(u.chunk)
	i, _ := l.Linear(local)
	chunks[i] = enc
	out, err := shard.EncodeShard(l, chunks)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	fh, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer fh.Close()
	if tear {
		if _, err := fh.Write(out[:len(out)/2]); err != nil {
			return err
		}
		fmt.Fprintln(ev.stderr, "crashpoint naive-write")
		select {}
	}
	if _, err := fh.Write(out); err != nil {
		return err
	}
	return fh.Sync()
}
