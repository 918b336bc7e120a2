package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rangetx/rangetx/shard"
)

// The shard race's workload: raceWorkers processes write the inner chunks
// of one gzip-compressed Zarr array. Every shard has inner chunks of every
// writer, so every writer updates every shard; no two writers ever write the
// same inner chunk.
const (
	raceArray   = "data/race"
	raceWorkers = 8
	raceRounds  = 6 // versions written of each inner chunk
)

// raceArrayDef is the array: 2x2 shards of 4x4 inner chunks of 8x8 int32.
// Gzip makes an inner chunk's size change with its content, so every update
// appends the chunk and rewrites the shard's index: the read-modify-write
// that races.
var raceArrayDef = shard.Array{
	Shape:      []int{64, 64},
	DType:      shard.Int32,
	ShardShape: []int{32, 32},
	ChunkShape: []int{8, 8},
	Gzip:       true,
}

// A raceUpdate is one write of one inner chunk: chunk (ChunkGrid
// coordinates) gets version of its content.
type raceUpdate struct {
	chunk   []int
	id      int // position of chunk in ChunkGrid, C order
	version int
}

// raceChunks lists every inner chunk of the array in C order.
func raceChunks(a shard.Array) [][]int {
	g := a.ChunkGrid()
	var out [][]int
	for i := range g[0] {
		for j := range g[1] {
			out = append(out, []int{i, j})
		}
	}
	return out
}

// raceOwner returns the writer that owns an inner chunk: its position in
// its shard, modulo the number of writers.
func raceOwner(a shard.Array, chunk []int) int {
	_, local, err := a.ShardOf(chunk)
	if err != nil {
		panic(err)
	}
	i, err := a.Layout().Linear(local)
	if err != nil {
		panic(err)
	}
	return i % raceWorkers
}

// racePlan returns writer w's updates in the order it makes them: round by
// round, each of its inner chunks in C order. Update n (counted from 1) is
// racePlan(a, w)[n-1].
func racePlan(a shard.Array, w int) []raceUpdate {
	var plan []raceUpdate
	chunks := raceChunks(a)
	for v := 1; v <= raceRounds; v++ {
		for id, c := range chunks {
			if raceOwner(a, c) == w {
				plan = append(plan, raceUpdate{chunk: c, id: id, version: v})
			}
		}
	}
	return plan
}

// raceContent returns the raw elements of version v of inner chunk id:
// element 0 is id, element 1 is v, then a pseudo-random run whose length
// depends on both, then zeros, so the compressed size varies between
// versions. Version 0 is the fill value (all zeros).
func raceContent(a shard.Array, id, v int) []byte {
	b := make([]byte, a.ChunkRawBytes())
	if v == 0 {
		return b
	}
	n := len(b) / 4
	binary.LittleEndian.PutUint32(b[0:], uint32(id))
	binary.LittleEndian.PutUint32(b[4:], uint32(v))
	run := 8 + (id*5+v*11)%(n-8)
	x := uint32(id*7919 + v*104729 + 1)
	for i := 2; i < run; i++ {
		x = x*1664525 + 1013904223
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// raceVersion returns which version of inner chunk id raw is, or an error
// if it is none of them.
func raceVersion(a shard.Array, id int, raw []byte) (int, error) {
	if len(raw) != a.ChunkRawBytes() {
		return 0, fmt.Errorf("chunk %d: %d bytes", id, len(raw))
	}
	v := int(binary.LittleEndian.Uint32(raw[4:]))
	if v < 0 || v > raceRounds || string(raw) != string(raceContent(a, id, v)) {
		return 0, fmt.Errorf("chunk %d: content is no version of it", id)
	}
	return v, nil
}

// raceShardFile is where the shard holding chunk lies under root.
func raceShardFile(root string, a shard.Array, chunk []int) string {
	sh, _, err := a.ShardOf(chunk)
	if err != nil {
		panic(err)
	}
	return filepath.Join(root, filepath.FromSlash(a.ShardKey(raceArray, sh)))
}

// readShardFile reads and decodes the shard file at file directly, as any
// Zarr reader would: the encoded bytes of its inner chunks in C order (all
// nil for a missing file). A shard that does not decode is
// shard.ErrCorruptIndex.
func readShardFile(file string, l shard.Layout) ([][]byte, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return make([][]byte, l.NumChunks()), nil
	}
	if err != nil {
		return nil, err
	}
	chunks, err := shard.DecodeShard(l, b)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", file, err)
	}
	return chunks, nil
}

// raceOutcome is what a finished race left in a store.
type raceOutcome struct {
	Undecodable int `json:"undecodable_shards"` // shards whose index does not decode
	Lost        int `json:"lost"`               // inner chunks without their last acknowledged write, in all:
	LostInTorn  int `json:"lost_in_torn"`       // in shards that do not decode,
	LostGarbled int `json:"lost_garbled"`       // holding bytes that are no version of the chunk,
	LostStale   int `json:"lost_stale"`         // holding an older version
	Unexpected  int `json:"unexpected"`         // inner chunks holding garbage or a version never written
}

// raceCheck reads every shard file under root directly, as any Zarr reader
// would, and compares each inner chunk with acked (the last version of each
// chunk whose write was acknowledged, by id; 0 for none) and inflight (a
// version that may or may not be there because its writer was killed while
// writing it). A chunk may hold its acked version, or its in-flight one.
func raceCheck(root string, a shard.Array, acked, inflight map[int]int) (raceOutcome, error) {
	var out raceOutcome
	l := a.Layout()
	decoded := map[string][][]byte{}
	for id, c := range raceChunks(a) {
		file := raceShardFile(root, a, c)
		chunks, seen := decoded[file]
		if !seen {
			var err error
			switch chunks, err = readShardFile(file, l); {
			case errors.Is(err, shard.ErrCorruptIndex):
				out.Undecodable++
			case err != nil:
				return out, err
			}
			decoded[file] = chunks
		}
		if chunks == nil { // the shard does not decode
			if acked[id] > 0 {
				out.LostInTorn++
			}
			continue
		}
		_, local, _ := a.ShardOf(c)
		i, _ := l.Linear(local)
		v := 0
		if chunks[i] != nil {
			raw, err := a.DecodeChunk(chunks[i])
			if err == nil {
				v, err = raceVersion(a, id, raw)
			}
			if err != nil {
				out.Unexpected++
				if acked[id] > 0 {
					out.LostGarbled++
				}
				continue
			}
		}
		switch {
		case v == acked[id]:
		case v < acked[id]:
			out.LostStale++
		case v != inflight[id]:
			out.Unexpected++
		}
	}
	out.Lost = out.LostInTorn + out.LostGarbled + out.LostStale
	return out, nil
}
