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
