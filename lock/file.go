package lock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
	"golang.org/x/sync/semaphore"
)

// File is a Locker shared by processes: key's lock is a flock(2) lock on the
// file LockPath(dir, key), and key's marker is that file's content.
//
// All methods are safe for concurrent use. Goroutines of one process queue
// in front of one flock per key; two File values on the same dir, like two
// processes, exclude each other through the flock. A lock is released by its
// Unlock or by the death of the holding process. Lock files and their
// directories are created on demand and never renamed or removed. Markers
// survive the death of the process that wrote them but are not synced, so a
// power loss may lose or revert them.
//
// Readers cannot starve a writer in another process. A process holds the
// shared flock while any of its goroutines reads, so overlapping readers
// alone would never let it go, and flock(2) itself prefers no one. Each key
// therefore also has a turnstile file beside its lock file (a.d/b.turn for
// "a/b"), likewise created on demand and never removed: a writer holds the
// turnstile exclusively while it waits for the lock, and every reader, also
// one joining its process's shared flock, must first pass the turnstile by
// taking it shared for an instant. So a waiting writer stops new readers in
// every process, the current ones drain, and the writer gets in. TryLock
// neither waits for nor takes the turnstile.
//
// Locking relies on flock(2) semantics (Linux, the BSDs, macOS). Over NFS
// it is only as good as the server's lock manager.
type File struct {
	dir  string
	keys table[*fileKey]
}

// fileKey is the per-key state of a File.
type fileKey struct {
	rw *semaphore.Weighted // queues this File's goroutines

	// gate guards readers and the shared flock. It is a semaphore rather
	// than a mutex so that a reader waiting behind the first one, which may
	// be polling for the flock, still honours its context.
	gate    *semaphore.Weighted
	readers int // in-process shared holders

	// fl is the only flock of this File on the key's lock file, turn the
	// only one on its turnstile. The state holding them stays reachable
	// while they are held, so the finalizer of an open file cannot close it
	// and drop the lock.
	fl   *flock.Flock
	turn *flock.Flock

	// passing queues this File's readers at the turnstile, one at a time,
	// since turn is a single flock. A writer uses turn only while it holds
	// rw, so never at the same time as a reader.
	passing *semaphore.Weighted
}

var _ Locker = (*File)(nil)

// NewFile returns a Locker keeping its lock files under dir, creating dir
// (0o755) if missing.
func NewFile(dir string) (*File, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f := &File{dir: abs}
	f.keys.make = func(key string) *fileKey {
		return &fileKey{
			rw:      newRW(),
			gate:    semaphore.NewWeighted(1),
			fl:      newFlock(LockPath(abs, key)),
			turn:    newFlock(turnPath(abs, key)),
			passing: semaphore.NewWeighted(1),
		}
	}
	return f, nil
}

// LockPath returns the path of key's lock file.
func (f *File) LockPath(key string) string { return LockPath(f.dir, key) }

// Lock takes the exclusive lock on key; see Locker.
func (f *File) Lock(ctx context.Context, key string) (Unlock, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	k := f.keys.acquire(key)
	if err := k.rw.Acquire(ctx, maxReaders); err != nil {
		f.keys.release(key)
		return nil, waitErr(key, err)
	}
	// Holding the turnstile while waiting keeps new readers out of the key
	// in every process, so the current ones drain and cannot starve us.
	if err := pollFlock(ctx, k.turn, true); err != nil {
		k.rw.Release(maxReaders)
		f.keys.release(key)
		return nil, waitErr(key, err)
	}
	err := pollFlock(ctx, k.fl, true)
	// Held or given up, we wait no more: readers may pass again and queue
	// on the flock behind us.
	_ = k.turn.Unlock()
	if err != nil {
		k.rw.Release(maxReaders)
		f.keys.release(key)
		return nil, waitErr(key, err)
	}
	return f.unlock(key, k), nil
}

// TryLock takes the exclusive lock on key only if neither this process nor
// another holds it. It ignores the turnstile: it does not wait, so it
// cannot be starved, only refused.
func (f *File) TryLock(key string) (Unlock, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	k := f.keys.acquire(key)
	if !k.rw.TryAcquire(maxReaders) {
		f.keys.release(key)
		return nil, lockedErr(key)
	}
	ok, err := tryFlock(k.fl, true)
	if !ok || err != nil {
		k.rw.Release(maxReaders)
		f.keys.release(key)
		if err != nil {
			return nil, fmt.Errorf("lock: %q: %w", key, err)
		}
		return nil, lockedErr(key)
	}
	return f.unlock(key, k), nil
}

func (f *File) unlock(key string, k *fileKey) Unlock {
	return once(func() {
		// LOCK_UN does not fail on a valid descriptor. If it ever did, the
		// dropped fl's finalizer would close the file and free the lock.
		_ = k.fl.Unlock()
		k.rw.Release(maxReaders)
		f.keys.release(key)
	})
}

// RLock takes a shared lock on key; see Locker. The first shared holder in
// the process takes the flock shared; the last one releases it. Every one
// first passes the turnstile, waiting while a writer anywhere waits.
func (f *File) RLock(ctx context.Context, key string) (Unlock, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	k := f.keys.acquire(key)
	if err := k.rw.Acquire(ctx, 1); err != nil {
		f.keys.release(key)
		return nil, waitErr(key, err)
	}
	if err := k.share(ctx); err != nil {
		k.rw.Release(1)
		f.keys.release(key)
		return nil, waitErr(key, err)
	}
	return once(func() {
		k.unshare()
		k.rw.Release(1)
		f.keys.release(key)
	}), nil
}

// share joins the in-process readers, taking the flock shared if first.
func (k *fileKey) share(ctx context.Context) error {
	// Pass before taking gate: a reader stuck at the turnstile must not
	// keep the current readers from leaving, or the writer never gets in.
	if err := k.pass(ctx); err != nil {
		return err
	}
	if err := k.gate.Acquire(ctx, 1); err != nil {
		return err
	}
	defer k.gate.Release(1)
	if k.readers == 0 {
		if err := pollFlock(ctx, k.fl, false); err != nil {
			return err
		}
	}
	k.readers++
	return nil
}

// pass waits until no writer holds the key's turnstile, by taking it
// shared and releasing it at once. A reader that has passed may still join
// after a writer starts waiting; only those already past can, so the writer
// waits for a bounded number of readers.
func (k *fileKey) pass(ctx context.Context) error {
	if err := k.passing.Acquire(ctx, 1); err != nil {
		return err
	}
	defer k.passing.Release(1)
	if err := pollFlock(ctx, k.turn, false); err != nil {
		return err
	}
	// As for fl, LOCK_UN does not fail on a valid descriptor.
	_ = k.turn.Unlock()
	return nil
}

// unshare leaves the in-process readers, releasing the flock if last.
func (k *fileKey) unshare() {
	// Never blocks for long: gate is only held across a poll when there
	// are no readers, and the caller is one.
	_ = k.gate.Acquire(context.Background(), 1)
	defer k.gate.Release(1)
	if k.readers--; k.readers == 0 {
		_ = k.fl.Unlock()
	}
}

// Marker returns key's marker, the content of its lock file ("" if the file
// is empty or missing). The caller must hold a lock on key.
func (f *File) Marker(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	b, err := os.ReadFile(f.LockPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lock: marker for %q: %w", key, err)
	}
	return decodeMarker(key, b)
}

// SetMarker replaces key's marker; "" clears it. The caller must hold the
// exclusive lock on key. A marker is at most MaxMarkerLen bytes and contains
// no newline.
//
// The marker is written through a descriptor of its own: flock(2) locks
// belong to the open file description, so opening and closing another one
// leaves the lock alone. It is not synced: it survives the death of the
// process, not a power loss.
func (f *File) SetMarker(key, marker string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkMarker(key, marker); err != nil {
		return err
	}
	if err := writeMarker(f.LockPath(key), marker); err != nil {
		return fmt.Errorf("lock: marker for %q: %w", key, err)
	}
	return nil
}

// writeMarker overwrites the lock file in place. No O_CREATE: the file
// exists while its lock is held, so a missing file is the caller's bug.
func writeMarker(path, marker string) error {
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	b := encodeMarker(marker)
	if len(b) > 0 {
		_, err = fh.WriteAt(b, 0)
	}
	if err == nil {
		err = fh.Truncate(int64(len(b)))
	}
	return errors.Join(err, fh.Close())
}
