package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/rangetx/rangetx/store"
)

func ExampleNewLocal() {
	dir, err := os.MkdirTemp("", "rangetx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.NewLocal(dir)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// Put is atomic and durable: the value is whole once it returns.
	if err := s.Put(ctx, "greetings/en", strings.NewReader("hello, world")); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 5)
	n, err := s.ReadAt(ctx, "greetings/en", buf, 7)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf[:n])
	// Output: world
}
