package store

import "fmt"

// notDurable reports a directory fsync that failed after a rename or unlink
// had already made the change visible.
func notDurable(err error) error {
	return fmt.Errorf("%w: %w", ErrNotDurable, err)
}
