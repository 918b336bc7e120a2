package journal_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "journal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	j, err := journal.Create(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	// Commit: grow a 10-byte value to 14 bytes and write its last 6.
	lsn, err := j.Append(ctx, &journal.Record{
		TxID: uuid.New(), Key: "photos/cat.jpg",
		BaseSize: 10, MinSize: 10, Size: 14,
		Ranges: []journal.Range{{Off: 8, Data: []byte("meow!!")}},
	})
	if err != nil {
		log.Fatal(err)
	}
	pending, err := j.Pending(ctx, "photos/cat.jpg")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed lsn", lsn, "pending", len(pending))

	// ... write the after-images into the value and sync it, then:
	if err := j.MarkApplied(ctx, "photos/cat.jpg", lsn); err != nil {
		log.Fatal(err)
	}
	empty, err := j.Empty()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("empty", empty)
	if err := j.Remove(); err != nil {
		log.Fatal(err)
	}
	ids, err := journal.List(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("journals left", len(ids))
	// Output:
	// committed lsn 1 pending 1
	// empty true
	// journals left 0
}
