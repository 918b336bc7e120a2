package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

// raceWorkerCmd is the hidden command the shard race starts its writer
// processes with (this same executable).
const raceWorkerCmd = "shard-race-worker"

// raceMethod is how a writer of the shard race stores an update; it names
// the run's directory under the race's root too.
type raceMethod string

const (
	raceInPlace raceMethod = "naive"        // read, replace, rewrite the file in place, fsync
	raceRename  raceMethod = "naive-rename" // read, replace, write a new file, fsync, rename it over, fsync the directory
	raceRangetx raceMethod = "rangetx"      // shard.PutChunk
)

var raceMethods = []raceMethod{raceInPlace, raceRename, raceRangetx}

// runRaceWorker is one writer of the shard race:
//
//	shard-race-worker --root DIR --worker W --method naive|naive-rename|rangetx [--tear-at N]
//
// It prints "ready", waits for a line on stdin, then makes writer W's
// updates (racePlan) one at a time and prints "ack N" as soon as update N
// returned — through rangetx "ack N S", S being the entries of dead writers
// its engine has replayed so far (txn.Stats.Settled) — or, without
// rangetx, "fail N: cause" when the shard it read did not decode. With
// --tear-at N a writer without rangetx stops halfway through writing a
// file in its first write from update N on: it prints "crashpoint
// naive-write" to stderr and blocks until it is killed.
func runRaceWorker(ctx context.Context, ev env, args []string) error {
	f := newFlags(raceWorkerCmd, true)
	w := f.Int("worker", 0, "writer number")
	method := f.String("method", "", "naive, naive-rename or rangetx")
	tearAt := f.Int("tear-at", 0, "without rangetx: stop in the middle of the first write from this update on")
	if _, err := f.parse(args); err != nil {
		return err
	}
	root, err := f.rootDir(ev)
	if err != nil {
		return err
	}
	a := raceArrayDef
	m := raceMethod(*method)
	put := func(n int, u raceUpdate) (string, error) {
		return "", naivePut(root, a, u, m == raceRename, *tearAt > 0 && n >= *tearAt, ev)
	}
	done := func() error { return nil }
	switch m {
	case raceInPlace, raceRename:
	case raceRangetx:
		e, err := openEngine(ctx, ev, f, txn.ModeJournal, false)
		if err != nil {
			return err
		}
		defer e.Close()
		if a, err = shard.OpenArray(ctx, e, raceArray); err != nil {
			return err
		}
		put = func(_ int, u raceUpdate) (string, error) {
			err := shard.PutChunk(ctx, e, raceArray, a, u.chunk, raceContent(a, u.id, u.version))
			return " " + strconv.FormatInt(e.Stats().Settled, 10), err
		}
		done = e.Close
	default:
		return fmt.Errorf("%w: --method %q", errUsage, *method)
	}
	fmt.Fprintln(ev.stdout, "ready")
	if _, err := bufio.NewReader(ev.stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the start: %w", err)
	}
	for i, u := range racePlan(a, *w) {
		extra, err := put(i+1, u)
		switch {
		case err == nil:
			fmt.Fprintf(ev.stdout, "ack %d%s\n", i+1, extra)
		case m != raceRangetx && errors.Is(err, shard.ErrCorruptIndex):
			fmt.Fprintf(ev.stdout, "fail %d: %v\n", i+1, err)
		default:
			return fmt.Errorf("writer %d update %d: %w", *w, i+1, err)
		}
	}
	return done()
}

// naivePut is one update without rangetx: read the whole shard file, decode
// it, replace one inner chunk, encode the whole shard again, and store it
// with one write and an fsync — over the file itself, truncated first (as a
// plain local store writes a value), or, with rename, into a new file that
// is then renamed over the shard and the directory synced. Nothing stops
// two writers from reading the same shard and each storing its own copy of
// it; a writer killed while rewriting in place leaves a torn file. A shard
// that does not decode is ErrCorruptIndex and is left alone. With tear, the
// write stops halfway and the process waits to be killed.
func naivePut(root string, a shard.Array, u raceUpdate, rename, tear bool, ev env) error {
	l := a.Layout()
	file := raceShardFile(root, a, u.chunk)
	chunks, err := readShardFile(file, l)
	if err != nil {
		return err
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
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	target := file
	if rename {
		target = fmt.Sprintf("%s.tmp-%d", file, os.Getpid())
	}
	fh, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
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
	if err := fh.Sync(); err != nil || !rename {
		return err
	}
	if err := os.Rename(target, file); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
