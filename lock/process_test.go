package lock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// childEnv selects a child-process role for the re-executed test binary.
const childEnv = "RANGETX_LOCK_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := child(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child plays one role in another process:
//
//	counter: once the file LOCK_GO exists, LOCK_ITERS times, lock LOCK_KEY
//	         and increment the number in the file LOCK_COUNTER with a pause
//	         between read and write.
//	hold:    take LOCK_KEY (shared if LOCK_SHARED is set), set the marker
//	         if exclusive, print "locked" and wait to be killed.
//	holdfile: LockFile(LOCK_PATH) exclusively, print "locked", wait.
//	readers: in 4 goroutines, take LOCK_KEY shared for 2 ms at a time, back
//	         to back and overlapping; print "locked" once all have held it
//	         and go on until killed.
func child(role string) error {
	ctx := context.Background()
	key := os.Getenv("LOCK_KEY")
	var l *File
	if role != "holdfile" {
		var err error
		if l, err = NewFile(os.Getenv("LOCK_DIR")); err != nil {
			return err
		}
	}
	switch role {
	case "counter":
		iters, err := strconv.Atoi(os.Getenv("LOCK_ITERS"))
		if err != nil {
			return err
		}
		// Start together, so the children contend from the first iteration.
		for {
			if _, err := os.Stat(os.Getenv("LOCK_GO")); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		for range iters {
			u, err := l.Lock(ctx, key)
			if err != nil {
				return err
			}
			err = increment(os.Getenv("LOCK_COUNTER"))
			u()
			if err != nil {
				return err
			}
		}
		return nil
	case "hold":
		if os.Getenv("LOCK_SHARED") != "" {
			if _, err := l.RLock(ctx, key); err != nil {
				return err
			}
		} else {
			if _, err := l.Lock(ctx, key); err != nil {
				return err
			}
			if err := l.SetMarker(key, "child-journal"); err != nil {
				return err
			}
		}
	case "holdfile":
		if _, err := LockFile(ctx, os.Getenv("LOCK_PATH"), true); err != nil {
			return err
		}
	case "readers":
		errs := make(chan error, 1)
		var started sync.WaitGroup
		for i := range 4 {
			started.Add(1)
			go func() {
				time.Sleep(time.Duration(i) * 500 * time.Microsecond)
				for n := 0; ; n++ {
					u, err := l.RLock(ctx, key)
					if err != nil {
						errs <- err
						return
					}
					time.Sleep(2 * time.Millisecond)
					u()
					if n == 0 {
						started.Done()
					}
				}
			}()
		}
		started.Wait()
		fmt.Println("locked")
		return <-errs
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	fmt.Println("locked")
	time.Sleep(time.Hour) // until killed; the Unlock is never called
	return nil
}

// increment adds one to the number in path, pausing between read and write
// so that two unserialised writers would lose an update.
func increment(path string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	n := 0
	if len(b) > 0 {
		if n, err = strconv.Atoi(string(b)); err != nil {
			return err
		}
	}
	time.Sleep(time.Millisecond)
	return os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o644)
}

// startChild re-executes the test binary in role with env added.
func startChild(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+role)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// startHolder starts a child in a holding role and waits until it holds.
func startHolder(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := startChild(t, role, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	return cmd
}

// kill SIGKILLs a holder, so it dies without unlocking.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func TestCrossProcessExclusion(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const children, iters = 4, 20
	dir := t.TempDir()
	tmp := t.TempDir()
	counter, start := filepath.Join(tmp, "counter"), filepath.Join(tmp, "go")
	var cmds []*exec.Cmd
	for range children {
		cmd := startChild(t, "counter",
			"LOCK_DIR="+dir, "LOCK_KEY=values/c", "LOCK_COUNTER="+counter,
			"LOCK_ITERS="+strconv.Itoa(iters), "LOCK_GO="+start)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	b, err := os.ReadFile(counter)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(children*iters) {
		t.Fatalf("counter = %s, want %d", got, children*iters)
	}
}

func TestLockFreedOnProcessDeath(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	f := newFile(t, dir)
	cmd := startHolder(t, "hold", "LOCK_DIR="+dir, "LOCK_KEY=a/k")

	if _, err := f.TryLock("a/k"); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock while the child holds: err = %v, want ErrLocked", err)
	}
	waitFails(t, f.Lock, "a/k")
	waitFails(t, f.RLock, "a/k")
	st, err := Scan(context.Background(), dir)
	if err != nil || len(st) != 1 || st[0] != (Status{Key: "a/k", Held: true, Marker: "child-journal"}) {
		t.Fatalf("Scan = %+v, %v", st, err)
	}

	kill(t, cmd)
	u := mustLock(t, f, "a/k")
	defer u()
	// The dead holder's marker is still there for the next holder to settle.
	if m, err := f.Marker("a/k"); err != nil || m != "child-journal" {
		t.Fatalf("marker = %q, %v; want child-journal", m, err)
	}
}

func TestSharedAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	f := newFile(t, dir)
	cmd := startHolder(t, "hold", "LOCK_DIR="+dir, "LOCK_KEY=k", "LOCK_SHARED=1")

	r := mustRLock(t, f, "k") // shares with the child
	r()
	if _, err := f.TryLock("k"); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock under the child's share: err = %v, want ErrLocked", err)
	}
	kill(t, cmd)
	u, err := f.TryLock("k")
	if err != nil {
		t.Fatalf("TryLock after the child died: %v", err)
	}
	u()
}

func TestLockFileFreedOnProcessDeath(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "recovery.lock")
	cmd := startHolder(t, "holdfile", "LOCK_PATH="+path)
	waitFails(t, func(ctx context.Context, p string) (Unlock, error) { return LockFile(ctx, p, false) }, path)
	kill(t, cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := LockFile(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	u()
}

// Overlapping readers in another process must not starve a writer here: the
// child never drops its shared flock unless the turnstile stops its readers.
func TestWriterNotStarvedAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	f := newFile(t, dir)
	startHolder(t, "readers", "LOCK_DIR="+dir, "LOCK_KEY=a/k")
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		u, err := f.Lock(ctx, "a/k")
		cancel()
		if err != nil {
			t.Fatalf("writer starved by the child's readers: %v", err)
		}
		u()
		// Let the child's readers back in before the next round.
		time.Sleep(20 * time.Millisecond)
	}
}
