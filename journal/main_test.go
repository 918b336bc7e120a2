package journal_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
)

// childEnv makes the test binary act as a journal owner (see ownerChild).
const childEnv = "RANGETX_JOURNAL_TEST_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(ownerChild(dir))
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
