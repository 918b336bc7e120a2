package journal_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
)

func removeOrphans(t *testing.T, dir string) []string {
	t.Helper()
	ids, err := journal.RemoveOrphans(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func mustLive(t *testing.T, dir, id string) {
	t.Helper()
	if live, err := journal.IsLive(dir, id); err != nil || !live {
		t.Fatalf("IsLive(%s) = %v, %v; want true", id, live, err)
	}
	if _, err := os.Stat(filepath.Join(dir, id+".owner")); err != nil {
		t.Fatalf("owner file of a live journal: %v", err)
	}
}

// A process killed inside Create, after making the owner file and before
// the .db file, leaves an orphan owner file, which RemoveOrphans deletes;
// while that process lives, its owner file is left alone.
func TestRemoveOrphansKilledCreate(t *testing.T) {
	dir := t.TempDir()
	id, kill := startChild(t, createChildEnv, dir)
	want := []string{id + ".owner"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files inside Create = %v, want %v", got, want)
	}
	if got := removeOrphans(t, dir); got != nil {
		t.Fatalf("RemoveOrphans during another process's Create removed %v", got)
	}
	mustLive(t, dir, id)

	kill()
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files after the kill = %v, want %v", got, want)
	}
	if got := removeOrphans(t, dir); !slices.Equal(got, []string{id}) {
		t.Fatalf("RemoveOrphans = %v, want [%s]", got, id)
	}
	if got := dirNames(t, dir); got != nil {
		t.Fatalf("files after RemoveOrphans = %v", got)
	}
	if got := removeOrphans(t, dir); got != nil {
		t.Fatalf("second RemoveOrphans = %v", got)
	}
}

// A journal being created in this process (owner file locked, no .db yet)
// is not an orphan.
func TestRemoveOrphansSkipsCreating(t *testing.T) {
	dir := t.TempDir()
	calls := 0
	journal.SetOwnerHooks(nil, func(d, id string) {
		calls++
		if got, err := journal.RemoveOrphans(d); err != nil || got != nil {
			t.Errorf("RemoveOrphans inside Create = %v, %v", got, err)
		}
		if names := dirNames(t, d); !slices.Equal(names, []string{id + ".owner"}) {
			t.Errorf("files inside Create = %v", names)
		}
		if live, err := journal.IsLive(d, id); err != nil || !live {
			t.Errorf("IsLive inside Create = %v, %v", live, err)
		}
	})
	defer journal.SetOwnerHooks(nil, nil)
	j := create(t, dir)
	if calls != 1 {
		t.Fatalf("hook ran %d times", calls)
	}
	mustLive(t, dir, j.ID())
	if got := dirNames(t, dir); !slices.Equal(got, journalFiles(j.ID())) {
		t.Fatalf("files = %v", got)
	}
}

// An open journal's owner file is never removed, even while its .db file
// is gone (as inside Remove); once its owner is gone it is an orphan.
func TestRemoveOrphansSkipsLive(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	if got := removeOrphans(t, dir); got != nil {
		t.Fatalf("RemoveOrphans removed %v", got)
	}
	if err := os.Remove(filepath.Join(dir, j.ID()+".db")); err != nil {
		t.Fatal(err)
	}
	if got := removeOrphans(t, dir); got != nil {
		t.Fatalf("RemoveOrphans removed %v while the owner holds the lock", got)
	}
	mustLive(t, dir, j.ID())
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := removeOrphans(t, dir); !slices.Equal(got, []string{j.ID()}) {
		t.Fatalf("RemoveOrphans after Close = %v", got)
	}
	if got := dirNames(t, dir); got != nil {
		t.Fatalf("files = %v", got)
	}
}

// A Remove killed between its two deletions leaves an orphan owner file; a
// dead journal (its .db file still there) keeps its owner file; other
// files are ignored.
func TestRemoveOrphansKilledRemove(t *testing.T) {
	dir := t.TempDir()
	dead := create(t, dir)
	if err := dead.Close(); err != nil {
		t.Fatal(err)
	}
	half := create(t, dir)
	if err := half.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, half.ID()+".db")); err != nil { // the .db part of Remove
		t.Fatal(err)
	}
	junk := []string{"x.owner", strings.ToUpper(uuid.NewString()) + ".owner", uuid.NewString() + ".owner.tmp"}
	for _, name := range junk {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	subdir := uuid.NewString() + ".owner"
	if err := os.Mkdir(filepath.Join(dir, subdir), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := removeOrphans(t, dir); !slices.Equal(got, []string{half.ID()}) {
		t.Fatalf("RemoveOrphans = %v, want [%s]", got, half.ID())
	}
	want := append(append(journalFiles(dead.ID()), subdir), junk...)
	slices.Sort(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %v, want %v", got, want)
	}
}

func TestRemoveOrphansMissingDir(t *testing.T) {
	if got, err := journal.RemoveOrphans(filepath.Join(t.TempDir(), "none")); err != nil || got != nil {
		t.Fatalf("RemoveOrphans of a missing dir = %v, %v", got, err)
	}
}

// A sweeper that deletes a fresh owner file between Create's O_EXCL open
// and its lock, or holds that file locked, makes Create start over with a
// fresh id; the journal it returns is live and intact.
func TestCreateRacesSweeper(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sweep func(t *testing.T, dir, id string) (cleanup func())
	}{
		{"deleted", func(t *testing.T, dir, id string) func() {
			if got, err := journal.RemoveOrphans(dir); err != nil || !slices.Equal(got, []string{id}) {
				t.Errorf("RemoveOrphans in Create's window = %v, %v; want [%s]", got, err, id)
			}
			return func() {}
		}},
		{"locked", func(t *testing.T, dir, id string) func() {
			f, err := os.Open(filepath.Join(dir, id+".owner"))
			if err != nil {
				t.Error(err)
				return func() {}
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				t.Error(err)
			}
			return func() { f.Close() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var first string
			cleanup := func() {}
			journal.SetOwnerHooks(func(d, id string) {
				if first == "" {
					first = id
					cleanup = tc.sweep(t, d, id)
				}
			}, nil)
			defer journal.SetOwnerHooks(nil, nil)
			j := create(t, dir)
			cleanup()
			if first == "" || j.ID() == first {
				t.Fatalf("Create did not start over: first id %q, journal %s", first, j.ID())
			}
			mustLive(t, dir, j.ID())
			if got := dirNames(t, dir); !slices.Equal(got, journalFiles(j.ID())) {
				t.Fatalf("files = %v", got)
			}
			if got := removeOrphans(t, dir); got != nil {
				t.Fatalf("RemoveOrphans = %v", got)
			}
			if _, err := j.Append(context.Background(), rec("k", "x")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Journals created, closed and removed while sweepers in this process and
// in another loop RemoveOrphans: every open journal stays live with its
// owner file, no created journal's owner file is ever swept, and what is
// left in the end is exactly the closed journals' files.
func TestRemoveOrphansStress(t *testing.T) {
	dir := t.TempDir()
	workers, rounds := 4, 40
	if testing.Short() {
		rounds = 10
	}

	// A sweeper in another process.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), sweepChildEnv+"="+dir)
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
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	childSwept := make(chan []string, 1)
	go func() {
		var ids []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "done" {
				break
			}
			ids = append(ids, sc.Text())
		}
		childSwept <- ids
	}()

	// Sweepers in this process.
	var stop atomic.Bool
	var sweepers sync.WaitGroup
	var mu sync.Mutex
	var swept []string
	for range 2 {
		sweepers.Go(func() {
			for !stop.Load() {
				ids, err := journal.RemoveOrphans(dir)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				swept = append(swept, ids...)
				mu.Unlock()
			}
		})
	}

	var workersWG sync.WaitGroup
	var created, closed sync.Map // id → true
	for w := range workers {
		workersWG.Go(func() {
			for r := range rounds {
				j, err := journal.Create(dir, nil)
				if err != nil {
					t.Error(err)
					return
				}
				created.Store(j.ID(), true)
				check := func(when string) bool {
					if live, err := journal.IsLive(dir, j.ID()); err != nil || !live {
						t.Errorf("journal %s %s: IsLive = %v, %v", j.ID(), when, live, err)
						return false
					}
					if _, err := os.Stat(filepath.Join(dir, j.ID()+".owner")); err != nil {
						t.Errorf("journal %s %s: %v", j.ID(), when, err)
						return false
					}
					return true
				}
				ok := check("after Create")
				if ok {
					_, err = j.Append(context.Background(), rec(fmt.Sprint("w", w), "x"))
					ok = err == nil && check("after Append")
					if err != nil {
						t.Error(err)
					}
				}
				if !ok {
					_ = j.Close()
					return
				}
				if r%2 == 0 {
					closed.Store(j.ID(), true)
					err = j.Close()
				} else {
					if d, err := openDeadBriefly(dir, j.ID()); !errors.Is(err, journal.ErrOwnerAlive) {
						t.Errorf("OpenDead of an open journal = %v", err)
						if d != nil {
							d.Close()
						}
					}
					if err = j.MarkApplied(context.Background(), fmt.Sprint("w", w), 1); err == nil {
						err = j.Remove()
					}
				}
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	workersWG.Wait()
	stop.Store(true)
	sweepers.Wait()
	stdin.Close()
	all := append(swept, <-childSwept...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sweeper process: %v", err)
	}
	for _, id := range all {
		if _, ok := created.Load(id); ok {
			t.Errorf("the owner file of created journal %s was swept", id)
		}
	}
	t.Logf("%d owner files swept from abandoned Create attempts", len(all))

	if got := removeOrphans(t, dir); got != nil {
		t.Errorf("orphans left after the run: %v", got)
	}
	var want []string
	closed.Range(func(k, _ any) bool {
		want = append(want, journalFiles(k.(string))...)
		return true
	})
	slices.Sort(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %v, want the %d closed journals' files", got, len(want)/4)
	}
}

// openDeadBriefly is OpenDead giving up after a while: on a journal open in
// this process that wrongly looks dead it would wait for bbolt's lock.
func openDeadBriefly(dir, id string) (*journal.Journal, error) {
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return journal.OpenDead(c, dir, id, &journal.Options{LockPoll: 100 * time.Millisecond})
}
