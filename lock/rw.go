package lock

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/semaphore"
)

// An in-process RW lock is a semaphore.Weighted of size maxReaders: a reader
// takes 1, a writer takes all of it. Unlike sync.RWMutex, waiting honours a
// context, and waiters are served in FIFO order so writers do not starve.
const maxReaders = 1 << 30

func newRW() *semaphore.Weighted { return semaphore.NewWeighted(maxReaders) }

// weight is what a holder of the given mode takes from the semaphore.
func weight(exclusive bool) int64 {
	if exclusive {
		return maxReaders
	}
	return 1
}

// once makes f safe to call any number of times; only the first call runs it.
func once(f func()) Unlock {
	var o sync.Once
	return func() { o.Do(f) }
}

// checkKey refuses what no file name can hold. Callers validate keys fully
// (store.ValidateKey) before they reach a Locker.
func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("lock: empty key")
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("lock: key %q contains NUL", key)
	}
	return nil
}

// waitErr reports that waiting for key ended early, wrapping the cause
// (ctx.Err() when the context ended).
func waitErr(key string, err error) error {
	return fmt.Errorf("lock: waiting for %q: %w", key, err)
}

// lockedErr reports that TryLock found key held.
func lockedErr(key string) error {
	return fmt.Errorf("%w: %q", ErrLocked, key)
}
