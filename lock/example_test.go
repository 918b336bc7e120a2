package lock_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/rangetx/rangetx/lock"
)

func ExampleFile() {
	root, err := os.MkdirTemp("", "rangetx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	// The engine keeps its lock files under <root>/.rangetx/locks.
	dir := filepath.Join(root, ".rangetx", "locks")
	l, err := lock.NewFile(dir)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	unlock, err := l.Lock(ctx, "videos/big.bin")
	if err != nil {
		log.Fatal(err)
	}
	// Name the journal that will hold this transaction's changes, so that
	// if this process dies the next holder knows what to settle.
	if err := l.SetMarker("videos/big.bin", "journal-42"); err != nil {
		log.Fatal(err)
	}

	// Other holders, in this process or another, must wait.
	if _, err := l.TryLock("videos/big.bin"); err != nil {
		fmt.Println("TryLock:", err)
	}
	unlock()

	st, err := lock.Scan(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range st {
		fmt.Printf("%s held=%v marker=%s\n", s.Key, s.Held, s.Marker)
	}
	rel, _ := filepath.Rel(root, l.LockPath("videos/big.bin"))
	fmt.Println(filepath.ToSlash(rel))
	// Output:
	// TryLock: lock: key is locked: "videos/big.bin"
	// videos/big.bin held=false marker=journal-42
	// .rangetx/locks/videos.d/big.bin.lock
}
