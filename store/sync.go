package store

import (
	"fmt"

	"github.com/rangetx/rangetx/internal/fsutil"
)

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a power loss. It is a variable so that tests can make it fail.
var syncDir = fsutil.SyncDir

// notDurable reports a directory fsync that failed after a rename or unlink
// had already made the change visible.
func notDurable(err error) error {
	return fmt.Errorf("%w: %w", ErrNotDurable, err)
}

// fdatasync is a stopgap until Local runs on vfs.
func fdatasync(f interface{ Sync() error }) error { return f.Sync() }
