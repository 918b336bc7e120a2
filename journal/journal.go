package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/gofrs/flock"
	"github.com/google/uuid"
	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/store/vfs"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	entriesBucket = []byte("entries") // 8-byte big-endian LSN → encoded Record
	appliedBucket = []byte("applied") // value key → 8-byte big-endian LSN
)

// Journal is an open journal. All methods are safe for concurrent use;
// bbolt runs one write transaction at a time and any number of readers.
type Journal struct {
	id, dir string
	log     *slog.Logger

	// mu is held shared by every operation and exclusively by Close and
	// Remove, so neither pulls the database from under a running one.
	mu    sync.RWMutex
	db    *bolt.DB     // nil once closed
	owner *flock.Flock // nil for a journal from OpenDead

	// broken holds the first failed commit. The kernel may have dropped the
	// pages of a failed fsync, so no later commit could be trusted: writes
	// are refused and recovery must take over after Close.
	broken atomic.Pointer[error]
}

// Create creates a new journal with a fresh id in dir, creating dir if
// needed, and makes this process its owner until Close: it holds the owner
// lock for that long, so IsLive reports the journal live and OpenDead
// refuses it.
//
// When Create returns, both files and their directory entries are durable,
// so everything Append commits later survives power loss.
func Create(dir string, opts *Options) (_ *Journal, err error) {
	u, err := uuid.NewV7() // time-ordered, so List shows journals oldest first
	if err != nil {
		return nil, fmt.Errorf("journal: create: %w", err)
	}
	id := u.String()
	fail := func(err error) error { return fmt.Errorf("journal %s: create: %w", id, err) }
	if err := vfs.MkdirAll(vfs.Default, dir, 0o755); err != nil {
		return nil, fail(err)
	}
	// The owner lock comes before the .db file exists: List finds journals
	// by their .db file, so nobody can see this one unowned.
	owner, err := createOwner(dir, id)
	if err != nil {
		return nil, fail(err)
	}
	j := &Journal{id: id, dir: dir, log: opts.logger(), owner: owner}
	defer func() {
		if err != nil {
			_ = j.close()
			_ = os.Remove(dbPath(dir, id))
			_ = os.Remove(ownerPath(dir, id))
		}
	}()

	j.db, err = bolt.Open(dbPath(dir, id), 0o600, &bolt.Options{
		Timeout: opts.lockPoll(),
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			return os.OpenFile(name, flag|os.O_EXCL, mode) // never adopt an existing file
		},
	})
	if err != nil {
		return nil, fail(err)
	}
	err = j.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(entriesBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucket(appliedBucket)
		return err
	})
	if err != nil {
		return nil, fail(err)
	}
	if err := vfs.Default.SyncDir(dir); err != nil {
		return nil, fail(err)
	}
	j.log.Debug("journal created", "journal", id, "dir", dir)
	return j, nil
}

// OpenDead opens the journal id in dir for recovery after its owner died.
// It returns ErrGone if the journal no longer exists and ErrOwnerAlive if
// its owner still holds the owner lock (see IsLive). It never creates
// files.
//
// Another recoverer may have the journal open; OpenDead then waits for it
// to close, looking at ctx every Options.LockPoll. If that recoverer
// removes the journal meanwhile, OpenDead returns ErrGone.
//
// The returned Journal does not hold the owner lock; Remove still deletes
// the owner file.
func OpenDead(ctx context.Context, dir, id string, opts *Options) (*Journal, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	fail := func(err error) error { return fmt.Errorf("journal %s: open: %w", id, err) }
	path := dbPath(dir, id)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fail(ErrGone)
	} else if err != nil {
		return nil, fail(err)
	}
	if live, err := IsLive(dir, id); err != nil {
		return nil, err
	} else if live {
		return nil, fail(ErrOwnerAlive)
	}

	log := opts.logger()
	var f *os.File // the file bbolt opened, to check it is still the one at path
	bopts := &bolt.Options{
		Timeout: opts.lockPoll(),
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			var err error
			f, err = os.OpenFile(name, flag&^os.O_CREATE, mode)
			return f, err
		},
	}
	for waited := false; ; waited = true {
		if err := ctx.Err(); err != nil {
			return nil, fail(err)
		}
		db, err := bolt.Open(path, 0o600, bopts)
		switch {
		case err == nil:
			// While we waited, the other recoverer may have removed the file
			// and we may hold the lock of an unlinked inode.
			if same, err := isFileAt(f, path); err != nil || !same {
				_ = db.Close()
				if err == nil {
					err = ErrGone
				}
				return nil, fail(err)
			}
			log.Info("opened dead journal", "journal", id, "dir", dir)
			return &Journal{id: id, dir: dir, log: log, db: db}, nil
		case errors.Is(err, fs.ErrNotExist):
			return nil, fail(ErrGone)
		case errors.Is(err, berrors.ErrTimeout):
			if !waited {
				log.Info("waiting for another process to close the journal", "journal", id)
			}
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch):
			return nil, fail(fmt.Errorf("%w: %w", ErrCorrupt, err))
		default:
			return nil, fail(err)
		}
	}
}

func isFileAt(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// ID returns the journal's id.
func (j *Journal) ID() string { return j.id }

// Dir returns the directory the journal lives in.
func (j *Journal) Dir() string { return j.dir }

// Append commits rec: one bbolt transaction assigns it the next LSN (LSNs
// grow strictly within a journal, across reopenings too), sets rec.LSN and
// stores it. This is the commit point: when Append returns nil the record
// is durable (bbolt has fdatasync'ed the data pages, then the meta page).
//
// ctx is looked at only before starting; a commit in progress runs to the
// end. An invalid record is ErrInvalid and nothing is written. If the
// commit itself fails, the record may or may not survive a crash: the
// caller must treat the value as "old or new, recovery decides", and the
// Journal refuses further writes.
func (j *Journal) Append(ctx context.Context, rec *Record) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("journal %s: append: %w: %w", j.id, ErrNotWritten, err)
	}
	buf, err := rec.MarshalBinary() // outside the write lock: only the LSN is patched in
	if err != nil {
		return 0, fmt.Errorf("journal %s: append: %w: %w", j.id, ErrNotWritten, err)
	}
	if err := crashpoint.Check(crashpoint.JournalAppend, rec.Key); err != nil {
		return 0, fmt.Errorf("journal %s: append: %w: %w", j.id, ErrNotWritten, err)
	}
	db, err := j.acquire()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotWritten, err)
	}
	defer j.mu.RUnlock()
	var lsn uint64
	err = j.update(db, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(entriesBucket)
		if err != nil {
			return err
		}
		if lsn, err = b.NextSequence(); err != nil {
			return err
		}
		setLSN(buf, lsn)
		return b.Put(lsnKey(lsn), buf)
	})
	if err != nil {
		return 0, fmt.Errorf("journal %s: append: %w", j.id, err)
	}
	rec.LSN = lsn
	crashpoint.Check(crashpoint.JournalAppended, rec.Key) // observers only: the record is durable
	return lsn, nil
}

// MarkApplied records that key's value holds every change of key's entries
// up to lsn: in one bbolt transaction it raises key's watermark to lsn (it
// never lowers it) and deletes key's entries with LSN ≤ lsn. Entries of
// other keys, and entries that fail verification, stay.
//
// Call it only after the value is synced. When it returns nil the
// watermark and the deletions are durable; on error they may or may not
// be, which is harmless since replay is idempotent. An lsn beyond the last
// one Append assigned is ErrInvalid: it would hide future commits.
func (j *Journal) MarkApplied(ctx context.Context, key string, lsn uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("journal %s: mark applied: %w", j.id, err)
	}
	if err := checkKey(key); err != nil {
		return fmt.Errorf("journal %s: mark applied: %w", j.id, err)
	}
	if err := crashpoint.Check(crashpoint.JournalMark, key); err != nil {
		return fmt.Errorf("journal %s: mark applied: %w", j.id, err)
	}
	db, err := j.acquire()
	if err != nil {
		return err
	}
	defer j.mu.RUnlock()
	err = j.update(db, func(tx *bolt.Tx) error {
		entries, err := tx.CreateBucketIfNotExists(entriesBucket)
		if err != nil {
			return err
		}
		applied, err := tx.CreateBucketIfNotExists(appliedBucket)
		if err != nil {
			return err
		}
		if last := entries.Sequence(); lsn > last {
			return fmt.Errorf("%w: lsn %d is beyond the last assigned, %d", ErrInvalid, lsn, last)
		}
		old, err := watermark(applied, key)
		if err != nil {
			return err
		}
		if lsn > old {
			if err := applied.Put([]byte(key), lsnKey(lsn)); err != nil {
				return err
			}
		}
		// Collect first: deleting under a bbolt cursor can skip the next item.
		var drop [][]byte
		c := entries.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n, ok := keyLSN(k)
			if ok && n > lsn {
				break
			}
			var r Record
			if ok && parse(v, &r) == nil && r.LSN == n && r.Key == key {
				drop = append(drop, lsnKey(n))
			}
		}
		for _, k := range drop {
			if err := entries.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal %s: mark applied %q up to %d: %w", j.id, key, lsn, err)
	}
	return nil
}

// Pending returns key's entries above key's watermark (every key's when key
// is ""), in LSN order, fully decoded and verified, with their data copied
// out of the database. If any entry in the journal is corrupt it returns no
// records and an error wrapping ErrCorrupt that names the journal and the
// LSN: a corrupt entry's key cannot be trusted, so it may belong to key.
func (j *Journal) Pending(ctx context.Context, key string) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("journal %s: pending: %w", j.id, err)
	}
	if key != "" {
		if err := checkKey(key); err != nil {
			return nil, fmt.Errorf("journal %s: pending: %w", j.id, err)
		}
	}
	db, err := j.acquire()
	if err != nil {
		return nil, err
	}
	defer j.mu.RUnlock()
	var out []Record
	err = db.View(func(tx *bolt.Tx) error {
		entries := tx.Bucket(entriesBucket)
		if entries == nil {
			return nil
		}
		applied := tx.Bucket(appliedBucket)
		marks := make(map[string]uint64)
		c := entries.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := entry(k, v)
			if err != nil {
				return err
			}
			if key != "" && r.Key != key {
				continue
			}
			w, ok := marks[r.Key]
			if !ok {
				if w, err = watermark(applied, r.Key); err != nil {
					return err
				}
				marks[r.Key] = w
			}
			if r.LSN > w {
				r.cloneData() // bbolt's memory is valid only inside the transaction
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journal %s: pending: %w", j.id, err)
	}
	return out, nil
}

// Empty reports whether the journal holds no entries at all (watermarks do
// not count).
func (j *Journal) Empty() (bool, error) {
	db, err := j.acquire()
	if err != nil {
		return false, err
	}
	defer j.mu.RUnlock()
	return j.empty(db)
}

func (j *Journal) empty(db *bolt.DB) (bool, error) {
	var empty bool
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(entriesBucket)
		if b == nil {
			empty = true
		} else {
			k, _ := b.Cursor().First()
			empty = k == nil
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("journal %s: %w", j.id, err)
	}
	return empty, nil
}

// Close closes the database and releases the owner lock, if held. Nothing
// needs syncing: every commit was durable when it returned. Close waits
// for running operations and is idempotent.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.close()
}

func (j *Journal) close() error {
	var err error
	if j.db != nil {
		err = j.db.Close()
		j.db = nil
	}
	if j.owner != nil {
		err = errors.Join(err, j.owner.Unlock())
		j.owner = nil
	}
	if err != nil {
		return fmt.Errorf("journal %s: close: %w", j.id, err)
	}
	return nil
}

// Release removes the journal if it holds no entries and closes it
// otherwise, reporting which. Either way the Journal is closed afterwards.
func (j *Journal) Release() (removed bool, err error) {
	err = j.Remove()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotEmpty), errors.Is(err, ErrClosed):
		return false, j.Close()
	}
	return false, errors.Join(err, j.Close())
}

// Remove deletes an empty journal: the .db file, then the owner file (so
// that at no moment does a live-looking owner guard a dead .db), then syncs
// the directory and closes the Journal. A journal with entries is
// ErrNotEmpty and stays open. When Remove returns nil the removal is
// durable and OpenDead reports ErrGone.
func (j *Journal) Remove() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return fmt.Errorf("journal %s: remove: %w", j.id, ErrClosed)
	}
	empty, err := j.empty(j.db)
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("journal %s: remove: %w", j.id, ErrNotEmpty)
	}
	if err := os.Remove(dbPath(j.dir, j.id)); err != nil {
		return fmt.Errorf("journal %s: remove: %w", j.id, err)
	}
	err = os.Remove(ownerPath(j.dir, j.id))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	err = errors.Join(err, vfs.Default.SyncDir(j.dir), j.close())
	if err != nil {
		return fmt.Errorf("journal %s: remove: %w", j.id, err)
	}
	j.log.Debug("journal removed", "journal", j.id)
	return nil
}

// acquire takes j.mu shared for one operation; the caller must RUnlock it
// if acquire succeeds.
func (j *Journal) acquire() (*bolt.DB, error) {
	j.mu.RLock()
	if j.db == nil {
		j.mu.RUnlock()
		return nil, fmt.Errorf("journal %s: %w", j.id, ErrClosed)
	}
	return j.db, nil
}

// update runs fn in a write transaction. A failure to commit (as opposed to
// an error from fn, which only rolls back) breaks the Journal for writes.
func (j *Journal) update(db *bolt.DB, fn func(*bolt.Tx) error) error {
	if p := j.broken.Load(); p != nil {
		return fmt.Errorf("%w: writes refused after a failed commit: %w", ErrNotWritten, *p)
	}
	var fnErr error
	err := db.Update(func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	if fnErr != nil {
		return fmt.Errorf("%w: %w", ErrNotWritten, err) // rolled back
	}
	if err != nil {
		j.broken.CompareAndSwap(nil, &err)
		j.log.Error("journal commit failed; refusing further writes", "journal", j.id, "err", err)
	}
	return err
}

// entry decodes and verifies the entry stored under k, aliasing v.
func entry(k, v []byte) (Record, error) {
	var r Record
	n, ok := keyLSN(k)
	if !ok {
		return r, fmt.Errorf("%w: entry key %x is not an LSN", ErrCorrupt, k)
	}
	if err := parse(v, &r); err != nil {
		return r, fmt.Errorf("entry %d: %w", n, err)
	}
	if r.LSN != n {
		return r, fmt.Errorf("entry %d: %w: record says lsn %d", n, ErrCorrupt, r.LSN)
	}
	return r, nil
}

// watermark returns key's applied LSN; b may be nil.
func watermark(b *bolt.Bucket, key string) (uint64, error) {
	if b == nil {
		return 0, nil
	}
	v := b.Get([]byte(key))
	if v == nil {
		return 0, nil
	}
	n, ok := keyLSN(v)
	if !ok {
		return 0, fmt.Errorf("%w: watermark of %q is %d bytes", ErrCorrupt, key, len(v))
	}
	return n, nil
}

func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes", ErrInvalid, len(key))
	}
	return nil
}

func lsnKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func keyLSN(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}
