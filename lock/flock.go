package lock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// Poll delays while another process holds a lock file: short at first, so a
// briefly held lock costs little, then capped so a long wait costs few syscalls.
const (
	minPoll = time.Millisecond
	maxPoll = 20 * time.Millisecond
)

// newFlock returns a lock on path; the file is created 0o644 on first use.
func newFlock(path string) *flock.Flock {
	return flock.New(path, flock.SetPermissions(0o644))
}

// tryFlock tries once, without blocking, to take fl, creating the lock
// file's directory if it is missing.
func tryFlock(fl *flock.Flock, exclusive bool) (bool, error) {
	try := fl.TryRLock
	if exclusive {
		try = fl.TryLock
	}
	ok, err := try()
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(fl.Path()), 0o755); err != nil {
			return false, err
		}
		ok, err = try()
	}
	return ok, err
}

// pollFlock takes fl, trying at once and then polling until it succeeds,
// fails, or ctx ends (in which case it returns ctx.Err() and holds nothing).
// flock(2) itself cannot be interrupted by a context, hence the polling.
func pollFlock(ctx context.Context, fl *flock.Flock, exclusive bool) error {
	for delay := minPoll; ; delay = min(2*delay, maxPoll) {
		ok, err := tryFlock(fl, exclusive)
		if ok || err != nil {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// LockFile takes a flock(2) lock on path, exclusive or shared, creating the
// file (0o644) and its directory if missing. Waiting honours ctx as
// Locker.Lock does. The engine uses it for store-wide locks such as the
// recovery lock.
//
// LockFile is safe for concurrent use. Each call opens its own descriptor,
// so an exclusive LockFile conflicts with every other lock on path, even one
// taken by the same process or goroutine (which would wait until ctx ends).
// The lock is released by the returned Unlock or by the death of the process;
// the file is never removed. Keep the Unlock reachable (a deferred call does)
// for as long as the lock must hold: it is what keeps the open file alive.
func LockFile(ctx context.Context, path string, exclusive bool) (Unlock, error) {
	fl := newFlock(path)
	if err := pollFlock(ctx, fl, exclusive); err != nil {
		return nil, fmt.Errorf("lock: waiting for %s: %w", path, err)
	}
	// The closure keeps fl, and so its open file, reachable while held.
	return once(func() { _ = fl.Unlock() }), nil
}
