package journal_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rangetx/rangetx/journal"
)

// TestAppendNotWritten: failures known to write nothing say so, so a caller
// can tell them from a commit whose outcome is uncertain.
func TestAppendNotWritten(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Append(cctx, rec("k", "x")); !errors.Is(err, journal.ErrNotWritten) {
		t.Errorf("Append with a cancelled context = %v, want ErrNotWritten", err)
	}
	if _, err := j.Append(context.Background(), &journal.Record{Key: ""}); !errors.Is(err, journal.ErrNotWritten) {
		t.Errorf("Append of an invalid record = %v, want ErrNotWritten", err)
	}
	if empty, err := j.Empty(); err != nil || !empty {
		t.Fatalf("refused appends left entries: %v %v", empty, err)
	}
	j.Close()
	if _, err := j.Append(context.Background(), rec("k", "x")); !errors.Is(err, journal.ErrNotWritten) {
		t.Errorf("Append on a closed journal = %v, want ErrNotWritten", err)
	}
}

// TestRelease: an empty journal is removed, one with entries is only closed.
func TestRelease(t *testing.T) {
	dir := t.TempDir()
	empty := create(t, dir)
	if removed, err := empty.Release(); err != nil || !removed {
		t.Fatalf("Release of an empty journal = %v, %v", removed, err)
	}
	full := create(t, dir)
	appendAll(t, full, rec("k", "x"))
	if removed, err := full.Release(); err != nil || removed {
		t.Fatalf("Release of a journal with entries = %v, %v", removed, err)
	}
	if ids, _ := journal.List(dir); len(ids) != 1 || ids[0] != full.ID() {
		t.Fatalf("journals left = %v, want only %s", ids, full.ID())
	}
	if live, _ := journal.IsLive(dir, full.ID()); live {
		t.Fatal("a released journal still looks alive")
	}
}
