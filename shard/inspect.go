package shard

import (
	"context"
	"io"

	"github.com/rangetx/rangetx/txn"
)

// Info summarises a shard, as Inspect found it.
type Info struct {
	// Exists is false for a missing shard; the other fields are then zero.
	Exists bool
	// Entries is the decoded index, in C order.
	Entries []Entry
	// Size is the value's size in bytes.
	Size int64
	// Live is the number of bytes the entries use (bytes two entries share
	// count once); Dead is the rest of the data region, Size minus the
	// index minus Live, which Compact would reclaim.
	Live, Dead int64
}

// DeadRatio returns the share of the data region that is dead, Dead / (Live
// + Dead): 0 for a shard without dead bytes (or without data), 1 for one
// whose every data byte is dead. Compacting pays when it is high.
func (in Info) DeadRatio() float64 {
	if in.Dead <= 0 {
		return 0
	}
	return float64(in.Dead) / float64(in.Live+in.Dead)
}

// Chunks returns the number of non-empty entries.
func (in Info) Chunks() int {
	n := 0
	for _, e := range in.Entries {
		if !e.Empty() {
			n++
		}
	}
	return n
}

// Inspect decodes the index of the shard stored at key and measures its
// live and dead bytes, under one consistent view (Engine.View), verifying
// the index as Read does. A missing shard is Info{Exists: false}, not an
// error. Safe for concurrent use with any other call.
func Inspect(ctx context.Context, e *txn.Engine, key string, l Layout) (Info, error) {
	var in Info
	err := view(ctx, e, key, l, func(_ io.ReaderAt, size int64, entries []Entry) error {
		if entries != nil {
			in = info(l, size, entries)
		}
		return nil
	})
	return in, err
}

// info builds the Info of a shard of size bytes with these entries.
func info(l Layout, size int64, entries []Entry) Info {
	live := liveBytes(entries)
	return Info{Exists: true, Entries: entries, Size: size, Live: live, Dead: size - l.IndexBytes() - live}
}

// DeadSpace returns the live and dead bytes of the shard stored at key (see
// Info), so callers can decide when to Compact. A missing shard is 0, 0.
func DeadSpace(ctx context.Context, e *txn.Engine, key string, l Layout) (live, dead int64, err error) {
	in, err := Inspect(ctx, e, key, l)
	return in.Live, in.Dead, err
}
