// Package store defines where rangetx values live: a small Store interface for
// whole values, optional range capabilities discovered by type assertion, and
// two implementations, Memory and Local.
//
// A Store by itself gives per-call guarantees only: Put replaces a whole value
// atomically and durably, but a sequence of range writes is neither atomic nor
// isolated. The txn package adds atomicity, isolation and crash recovery on top.
package store

import (
	"context"
	"io"
	"io/fs"
	"time"
)

// Info describes a stored value.
type Info struct {
	Key     string      // the value's key
	Size    int64       // length in bytes
	Mode    fs.FileMode // permission bits (0 for stores without modes)
	ModTime time.Time   // last modification time (zero when unknown)
}

// Store holds values addressed by keys. Keys are '/'-separated relative names
// (see ValidateKey). All methods are safe for concurrent use; none of them
// takes locks across calls, so concurrent writers of one key must be
// serialised by the caller (the txn package does).
type Store interface {
	// Get returns the whole value. A missing key is ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put atomically replaces the whole value with the bytes read from r,
	// creating it (and its parent directories) if needed. When Put returns nil
	// the new value is durable; if it returns ErrNotDurable the new value is
	// in place but may not survive a power loss; after any other error the
	// old value (or its absence) is unchanged. A crash during Put leaves the
	// old or the new value.
	Put(ctx context.Context, key string, r io.Reader) error
	// Delete removes the value durably. A missing key is ErrNotFound;
	// ErrNotDurable means it is removed but may come back after a power loss.
	Delete(ctx context.Context, key string) error
	// Stat describes the value. A missing key is ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// List returns the keys under prefix in lexical order. The prefix is a
	// key-path prefix: "a/b" lists "a/b" and "a/b/c" but not "a/bc". An empty
	// prefix lists every key.
	List(ctx context.Context, prefix string) ([]string, error)
}

// RangeReader is implemented by stores that can read part of a value without
// reading all of it.
type RangeReader interface {
	// ReadAt reads len(p) bytes of key's value starting at off, with the
	// semantics of io.ReaderAt: it returns io.EOF when fewer than len(p)
	// bytes are available. A negative off is ErrInvalidRange.
	ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error)
}

// RangeWriter is implemented by stores that can change part of an existing
// value in place. A range write is NOT atomic: a crash can leave any mix of
// old and new bytes, and other readers may observe it half done. The txn
// package makes range writes atomic by journaling them first.
type RangeWriter interface {
	// WriteAt writes p into key's existing value at off. A write that would
	// end past the value's current size, or a negative off, is
	// ErrInvalidRange and writes nothing; a missing value is ErrNotFound.
	WriteAt(ctx context.Context, key string, p []byte, off int64) (int, error)
	// Truncate changes the size of key's existing value, dropping bytes past
	// size or growing it with zeros. Not atomic, not durable until Sync.
	Truncate(ctx context.Context, key string, size int64) error
	// Sync makes every completed WriteAt and Truncate of key durable.
	Sync(ctx context.Context, key string) error
}

// Patch describes a new version of a value relative to its current version:
// the current bytes cut to MinSize, then resized to Size (growing with
// zeros), then each Copy made (its bytes read from the current version, so
// the order of Copies does not matter), then each Range written over.
// Ranges and Copy destinations lie inside [0, Size); Copy sources inside
// the current version.
type Patch struct {
	MinSize int64
	Size    int64
	Ranges  []Range
	Copies  []Copy
}

// Range is a run of bytes at an offset.
type Range struct {
	Off  int64
	Data []byte
}

// Copy is a run of N bytes of a value's current version, from offset Src,
// placed at offset Off of its new version. It lets a patch move bytes
// without the caller holding them in memory.
type Copy struct {
	Off, Src, N int64
}

// Patcher is implemented by stores that can build a patched copy of a value
// and swap it in atomically without the caller reading the whole value
// (copy mode). PatchCopy is atomic and durable like Put: a crash leaves the
// old or the new value, when it returns nil the new value is durable, and
// ErrNotDurable means the same as from Put.
// If the value does not exist it is created from an empty one.
type Patcher interface {
	PatchCopy(ctx context.Context, key string, p Patch) error
}

// TempCleaner is implemented by stores that leave recognisable temporary
// files behind when a process dies during Put or PatchCopy.
type TempCleaner interface {
	// RemoveTemp deletes every temporary file whose owner (see WithOwner)
	// isDead reports as dead, and returns their keys-relative paths.
	RemoveTemp(ctx context.Context, isDead func(owner string) bool) ([]string, error)
}
