package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/gofrs/flock"
)

// The owner file carries the owner's liveness: its creator holds an
// exclusive flock on it for the journal's whole life, and the kernel drops
// the lock when the process dies. It is never renamed, and deleted only by
// Remove after the .db file, so a lock on a stale inode cannot matter.

// createOwner creates dir/<id>.owner (which must not exist) and locks it.
func createOwner(dir, id string) (*flock.Flock, error) {
	path := ownerPath(dir, id)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryLock()
	if err == nil && !ok {
		err = errors.New("fresh owner file is locked by someone else")
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, err
	}
	return fl, nil
}

// IsLive reports whether the owner of journal id in dir still holds its
// owner lock. It probes with a non-blocking shared lock on a descriptor
// opened without O_CREATE, so it never creates files and never waits; a
// missing owner file means the owner is dead (or the journal is gone).
//
// The answer can only change from true to false: a dead owner never comes
// back. A journal open in this very process also reports true.
func IsLive(dir, id string) (bool, error) {
	if err := checkID(id); err != nil {
		return false, err
	}
	fl := flock.New(ownerPath(dir, id), flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryRLock()
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("journal %s: probe owner: %w", id, err)
	}
	if !ok {
		return true, nil
	}
	if err := fl.Unlock(); err != nil {
		return false, fmt.Errorf("journal %s: probe owner: %w", id, err)
	}
	return false, nil
}
