package shard_test

import (
	"context"
	"fmt"
	"os"

	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

func Example() {
	root, _ := os.MkdirTemp("", "shard-example-")
	defer os.RemoveAll(root)
	ctx := context.Background()
	e, err := txn.Open(ctx, root, nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()

	// A shard of 2x2 inner chunks, index at the end with a CRC-32C.
	l := shard.Layout{Chunks: []int{2, 2}, IndexCRC: true}

	// Two inner chunks in one Update: one transaction, both or neither.
	err = shard.Update(ctx, e, "arr/c/0/0", l, func(w *shard.Writer) error {
		if err := w.Put([]int{0, 1}, []byte("north")); err != nil {
			return err
		}
		return w.Put([]int{1, 0}, []byte("south"))
	})
	if err != nil {
		panic(err)
	}

	chunks, err := shard.ReadAll(ctx, e, "arr/c/0/0", l)
	if err != nil {
		panic(err)
	}
	for i, c := range chunks {
		fmt.Printf("%d: %q\n", i, c)
	}
	info, _ := shard.Inspect(ctx, e, "arr/c/0/0", l)
	fmt.Println("size", info.Size, "live", info.Live, "dead", info.Dead)
	// Output:
	// 0: ""
	// 1: "north"
	// 2: "south"
	// 3: ""
	// size 78 live 10 dead 0
}

// ExampleWriteRegion writes a 2x3 box of inner chunks of a uint8 array from
// one slice — one Update per shard the box touches — and reads it back.
func ExampleWriteRegion() {
	root, _ := os.MkdirTemp("", "shard-example-")
	defer os.RemoveAll(root)
	ctx := context.Background()
	e, err := txn.Open(ctx, root, nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()

	// 4x6 elements in shards of 2x2 inner chunks of 1x1: 4x6 inner chunks.
	a := shard.Array{Shape: []int{4, 6}, DType: shard.Uint8, ShardShape: []int{2, 2}, ChunkShape: []int{1, 1}}
	if err := shard.CreateArray(ctx, e, "img", a); err != nil {
		panic(err)
	}
	// Inner chunks [1, 3) x [2, 5): a 2x3 box across four shards.
	box := []byte{1, 2, 3, 4, 5, 6}
	if err := shard.WriteRegion(ctx, e, "img", a, []int{1, 2}, []int{2, 3}, box); err != nil {
		panic(err)
	}
	all, err := shard.ReadArray(ctx, e, "img", a)
	if err != nil {
		panic(err)
	}
	for r := range 4 {
		fmt.Println(all[r*6 : r*6+6])
	}
	// Output:
	// [0 0 0 0 0 0]
	// [0 0 1 2 3 0]
	// [0 0 4 5 6 0]
	// [0 0 0 0 0 0]
}
