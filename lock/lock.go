// Package lock serialises access to values: one writer or many readers per
// key, across the goroutines of a process and, for the file locker, across
// processes.
//
// Each key also carries a small holder marker, readable and writable only by
// the holder of the key's exclusive lock. The txn package uses it to name the
// journal that may hold committed but unapplied changes to the value, so the
// next holder in any process can settle them first.
package lock

import (
	"context"
	"errors"
)

// ErrLocked is returned by TryLock when the key is held by someone else.
var ErrLocked = errors.New("lock: key is locked")

// Unlock releases a lock. It must be called exactly once; later calls do nothing.
type Unlock func()

// Locker hands out per-key locks. All methods are safe for concurrent use.
// Locks are not recursive, as with sync.RWMutex: a holder that takes the
// same key again, even shared, can deadlock with a waiting writer.
type Locker interface {
	// Lock takes the exclusive lock on key, waiting as long as needed. If ctx
	// ends first it returns an error wrapping ctx.Err() and holds nothing.
	Lock(ctx context.Context, key string) (Unlock, error)
	// RLock takes a shared lock on key: any number of shared holders, no
	// exclusive one. Waiting honours ctx as Lock does.
	RLock(ctx context.Context, key string) (Unlock, error)
	// TryLock takes the exclusive lock if it is free at once; otherwise it
	// returns an error wrapping ErrLocked.
	TryLock(key string) (Unlock, error)
	// Marker returns key's holder marker ("" if none). The caller must hold
	// a lock on key.
	Marker(key string) (string, error)
	// SetMarker replaces key's holder marker; "" clears it. The caller must
	// hold the exclusive lock on key. The marker survives the death of the
	// process that wrote it but is not made durable against power loss.
	SetMarker(key string, marker string) error
}
