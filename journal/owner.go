package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/gofrs/flock"
	"github.com/rangetx/rangetx/store/vfs"
)

// The owner file carries the owner's liveness: its creator holds an
// exclusive flock on it for the journal's whole life, and the kernel drops
// the lock when the process dies. It is never renamed.
//
// Protocol. Create makes ID.owner with O_CREATE|O_EXCL and takes the
// exclusive flock on that very descriptor (never on a reopened one), then
// checks that the path still names the descriptor's inode; only then does
// it create ID.db. The Journal keeps the descriptor until Close, which
// releases the lock by closing it. Remove deletes ID.db, then ID.owner,
// both while holding the lock, then closes.
//
// A process killed inside Create (owner made, no .db yet) or inside Remove
// (.db deleted, owner not yet) leaves an orphan: ID.owner, unlocked, with
// no ID.db. RemoveOrphans deletes those. It takes the same exclusive flock
// (non-blocking) on a descriptor of its own and deletes the path only while
// holding it, after checking again that no ID.db exists and that the path
// still names the locked inode. So it cannot delete the owner file of a
// live journal: the owner holds the lock from before ID.db exists until
// after ID.db is gone. Nor can it strand a creator: if it deletes a fresh
// owner file between the creator's O_EXCL open and its flock, the creator
// either fails to take the lock or takes it on an inode no longer at the
// path, sees so, and starts over with a fresh id; ids are never reused, so
// no file ever reappears at a deleted owner path.

// ownerAttempts bounds how often Create starts over because a sweeper
// (RemoveOrphans) took or deleted its fresh owner file.
const ownerAttempts = 100

// errOwnerLost means a fresh owner file was locked or deleted by someone
// else before its creator locked it; the creator starts over with a new id.
var errOwnerLost = errors.New("fresh owner file was taken by another process")

// Test hooks, nil outside tests: hookOwnerOpened runs in createOwner
// between the O_EXCL open and the flock, hookOwnerLocked in Create once the
// owner file is locked and before the .db file exists.
var hookOwnerOpened, hookOwnerLocked func(dir, id string)

// createOwner creates dir/<id>.owner (which must not exist), takes the
// exclusive owner lock on the descriptor that created it and checks that
// the path still names it. It returns the open, locked file; closing it
// releases the lock. errOwnerLost means a sweeper got there first.
func createOwner(dir, id string) (_ *os.File, err error) {
	path := ownerPath(dir, id)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			// Nobody else ever creates a file at this path, so it names
			// f's inode or nothing.
			_ = os.Remove(path)
		}
	}()
	if hookOwnerOpened != nil {
		hookOwnerOpened(dir, id)
	}
	if ok, err := tryLock(f); err != nil {
		return nil, err
	} else if !ok {
		return nil, errOwnerLost
	}
	if same, err := isFileAt(f, path); err != nil {
		return nil, err
	} else if !same {
		return nil, errOwnerLost
	}
	return f, nil
}

// tryLock takes an exclusive flock(2) lock on f without waiting; it
// reports false if another open file holds a lock on the same inode.
func tryLock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case !errors.Is(err, syscall.EINTR):
			return false, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
	}
}

// IsLive reports whether the owner of journal id in dir still holds its
// owner lock. It probes with a non-blocking shared lock on a descriptor
// opened without O_CREATE, so it never creates files and never waits; a
// missing owner file means the owner is dead (or the journal is gone).
//
// The answer can only change from true to false: a dead owner never comes
// back. A journal open in this very process also reports true. (While
// RemoveOrphans holds an orphan owner file locked, for the moment it takes
// to delete it, IsLive of that id reports true too: an orphan has no .db,
// so this only delays whoever asks.)
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

// RemoveOrphans deletes the orphan owner files in dir and returns the ids
// whose owner file it deleted, sorted. An orphan is a regular file
// <id>.owner with no <id>.db next to it and nobody holding its lock: what a
// process killed inside Create (after making the owner file, before the
// .db file) or inside Remove (after deleting the .db file, before the owner
// file) leaves. A missing dir holds no orphans.
//
// For each <id>.owner without an <id>.db, RemoveOrphans opens it (never
// creating it) and tries a non-blocking exclusive flock. If the lock is
// held, by a live owner or by a Create in progress, the file is left
// alone. If RemoveOrphans gets the lock, it checks again, under the lock,
// that no <id>.db exists and that the path still names the locked file,
// deletes the path while still holding the lock, and then closes its
// descriptor. After deleting anything it syncs dir.
//
// It is safe to run at any time, concurrently with Create, Remove, Close,
// OpenDead and other RemoveOrphans, in this process or others: it never
// deletes the owner file of an open journal, and a Create it races with
// starts over with a fresh id (see the comment at the top of owner.go).
// Files that are not named <uuid>.owner are ignored. An error about one
// file does not stop the others; the ids removed so far are returned with
// the errors joined.
func RemoveOrphans(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: remove orphans: %w", err)
	}
	names := make(map[string]bool, len(ents))
	for _, e := range ents {
		names[e.Name()] = true
	}
	var removed []string
	var errs error
	for _, e := range ents { // ReadDir sorts by name; ids have equal length
		id, ok := strings.CutSuffix(e.Name(), ownerSuffix)
		if !ok || !e.Type().IsRegular() || checkID(id) != nil || names[id+dbSuffix] {
			continue
		}
		gone, err := removeOrphan(dir, id)
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("journal %s: remove orphan owner file: %w", id, err))
		}
		if gone {
			removed = append(removed, id)
		}
	}
	if len(removed) > 0 {
		if err := vfs.Default.SyncDir(dir); err != nil {
			errs = errors.Join(errs, fmt.Errorf("journal: remove orphans: %w", err))
		}
	}
	return removed, errs
}

// removeOrphan deletes dir/<id>.owner if it is an orphan (see
// RemoveOrphans), reporting whether it did.
func removeOrphan(dir, id string) (bool, error) {
	path := ownerPath(dir, id)
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed meanwhile
	}
	if err != nil {
		return false, err
	}
	defer f.Close() // releases the lock, after the deletion
	if ok, err := tryLock(f); err != nil || !ok {
		return false, err // a live owner or a creator holds it
	}
	// Under the lock nobody can be creating or removing this journal: a
	// .db file here now belongs to a dead journal, whose owner file stays.
	if _, err := os.Lstat(dbPath(dir, id)); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if same, err := isFileAt(f, path); err != nil || !same {
		return false, err // deleted meanwhile
	}
	// Remove deletes the segment files before the owner file, so these are
	// left only by a process that died in between.
	if err := removeSegments(dir, id); err != nil {
		return false, err
	}
	if err := os.Remove(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}
