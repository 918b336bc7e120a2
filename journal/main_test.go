package journal_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
)

// childEnv makes the test binary act as a journal owner (see ownerChild).
const childEnv = "RANGETX_JOURNAL_TEST_CHILD"

// createChildEnv makes the test binary stop inside Create (see
// createChild), sweepChildEnv sweep orphans (see sweepChild).
const (
	createChildEnv = "RANGETX_JOURNAL_TEST_CREATE_CHILD"
	sweepChildEnv  = "RANGETX_JOURNAL_TEST_SWEEP_CHILD"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(ownerChild(dir))
	}
	if dir := os.Getenv(createChildEnv); dir != "" {
		os.Exit(createChild(dir))
	}
	if dir := os.Getenv(sweepChildEnv); dir != "" {
		os.Exit(sweepChild(dir))
	}
	os.Exit(m.Run())
}

// ownerChild creates a journal in dir, commits one record for key "child",
// prints the journal id and then holds the journal open until stdin closes
// or it is killed.
func ownerChild(dir string) int {
	j, err := journal.Create(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rec := &journal.Record{
		TxID: uuid.New(), Key: "child", BaseSize: 0, MinSize: 0, Size: 5,
		Ranges: []journal.Range{{Off: 0, Data: []byte("hello")}},
	}
	if _, err := j.Append(context.Background(), rec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(j.ID())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := j.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// createChild starts creating a journal in dir and stops once the owner
// file is locked, before the .db file exists: it prints the journal id and
// waits to be killed.
func createChild(dir string) int {
	journal.SetOwnerHooks(nil, func(_, id string) {
		fmt.Println(id)
		select {}
	})
	_, err := journal.Create(dir, nil)
	fmt.Fprintln(os.Stderr, "Create returned:", err)
	return 1
}

// sweepChild runs RemoveOrphans on dir in a loop until stdin closes,
// printing each id it removed, then prints "done".
func sweepChild(dir string) int {
	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	for !stop.Load() {
		ids, err := journal.RemoveOrphans(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, id := range ids {
			fmt.Println(id)
		}
	}
	fmt.Println("done")
	return 0
}
