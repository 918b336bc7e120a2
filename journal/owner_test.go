package journal_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
)

// The owner lock is held by another process until it dies, and what that
// process committed survives SIGKILL.
func TestIsLiveAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	id, kill := startChild(t, childEnv, dir)

	if live, err := journal.IsLive(dir, id); err != nil || !live {
		t.Fatalf("IsLive while the child runs = %v, %v", live, err)
	}
	if _, err := journal.OpenDead(ctx, dir, id, nil); !errors.Is(err, journal.ErrOwnerAlive) {
		t.Fatalf("OpenDead while the child runs = %v, want ErrOwnerAlive", err)
	}

	kill()

	if live, err := journal.IsLive(dir, id); err != nil || live {
		t.Fatalf("IsLive after SIGKILL = %v, %v", live, err)
	}
	j, err := journal.OpenDead(ctx, dir, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs, err := j.Pending(ctx, "child")
	if err != nil || len(recs) != 1 || string(recs[0].Ranges[0].Data) != "hello" || recs[0].LSN != 1 {
		t.Fatalf("Pending after SIGKILL = %+v, %v", recs, err)
	}
}

func TestProbeCreatesNoFiles(t *testing.T) {
	dir := t.TempDir()
	id := uuid.NewString()
	for range 2 {
		if live, err := journal.IsLive(dir, id); err != nil || live {
			t.Fatalf("IsLive of a missing journal = %v, %v", live, err)
		}
	}
	if names := dirNames(t, dir); names != nil {
		t.Fatalf("IsLive created %v", names)
	}

	// Probing a live journal leaves its files as they were.
	j := create(t, dir)
	want := dirNames(t, dir)
	if live, err := journal.IsLive(dir, j.ID()); err != nil || !live {
		t.Fatalf("IsLive = %v, %v", live, err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %v, want %v", got, want)
	}
}

// startChild runs this test binary as a child with env=dir set, reads the
// journal id it prints, and returns it with a function that SIGKILLs the
// child and waits for it. The child is killed at the end of the test in
// any case. Its stdin stays open so that it can wait on it.
func startChild(t *testing.T, env, dir string) (id string, kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			stdin.Close()
		})
	}
	t.Cleanup(kill)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the child's journal id: %v", err)
	}
	return strings.TrimSpace(line), kill
}
