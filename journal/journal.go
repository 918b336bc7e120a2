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
	"syscall"
	"time"

	"github.com/google/uuid"
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
//
// A method that meets a damaged page of the bbolt file (one past the end
// of the file, or one that is not what its parent says, on which bbolt
// would fault or panic) returns an error wrapping ErrCorrupt that names
// the journal, never crashes; from then on the Journal refuses writes
// (ErrNotWritten), and Close still releases the file.
type Journal struct {
	id, dir string
	log     *slog.Logger

	// mu is held shared by every operation and exclusively by Close and
	// Remove, so neither pulls the database from under a running one.
	mu   sync.RWMutex
	db   *bolt.DB // nil once closed
	file *os.File // the file db opened, closed directly if db is wedged
	// owner is the owner file, opened by Create and holding the owner
	// lock until closed (see owner.go); nil for a journal from OpenDead
	// and once closed. Keeping it here also keeps its finalizer, which
	// would drop the lock, from running.
	owner *os.File

	// broken holds the first failed commit, or the first fault (see guard)
	// met in the file. The kernel may have dropped the pages of a failed
	// fsync, and a damaged file cannot take commits either, so no later
	// commit could be trusted: writes are refused and recovery must take
	// over after Close.
	broken atomic.Pointer[error]

	// wedged is set when a fault interrupted bbolt before it closed its
	// transaction: bbolt's own locks may then stay held forever, so Close
	// must not wait for them (see close).
	wedged atomic.Bool

	wmu    sync.Mutex // serialises Write
	segs   *segWriter // a live journal's segment files; nil for a dead one
	inline int64      // Options.InlineBytes

	readers  atomic.Int64 // open Pending and Stats calls (see holdSegments)
	segMu    sync.Mutex
	readSegs [segments]*os.File // a dead journal's segment files, opened on use
}

// Create creates a new journal with a fresh id in dir, creating dir if
// needed, and makes this process its owner until Close: it holds the owner
// lock for that long, so IsLive reports the journal live and OpenDead
// refuses it.
//
// When Create returns, both files and their directory entries are durable,
// so everything Append commits later survives power loss.
func Create(dir string, opts *Options) (_ *Journal, err error) {
	if err := vfs.MkdirAll(vfs.Default, dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: create: %w", err)
	}
	// The owner lock comes before the .db file exists: List finds journals
	// by their .db file, so nobody can see this one unowned. A sweeper
	// (RemoveOrphans) that takes the fresh owner file first makes us start
	// over with a fresh id.
	var id string
	var owner *os.File
	for attempt := 1; ; attempt++ {
		u, err := uuid.NewV7() // time-ordered, so List shows journals oldest first
		if err != nil {
			return nil, fmt.Errorf("journal: create: %w", err)
		}
		id = u.String()
		owner, err = createOwner(dir, id)
		if err == nil {
			break
		}
		if !errors.Is(err, errOwnerLost) || attempt == ownerAttempts {
			return nil, fmt.Errorf("journal %s: create: %w", id, err)
		}
	}
	fail := func(err error) error { return fmt.Errorf("journal %s: create: %w", id, err) }
	j := &Journal{id: id, dir: dir, log: opts.logger(), owner: owner, inline: opts.inlineBytes()}
	defer func() {
		if err != nil {
			// The files go while the owner lock is still held, so no
			// sweeper or recoverer sees any of them unowned.
			_ = os.Remove(dbPath(dir, id))
			_ = removeSegments(dir, id)
			_ = os.Remove(ownerPath(dir, id))
			_ = j.close()
		}
	}()
	if hookOwnerLocked != nil {
		hookOwnerLocked(dir, id)
	}

	j.db, err = bolt.Open(dbPath(dir, id), 0o600, &bolt.Options{
		Timeout: opts.lockPoll(),
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag|os.O_EXCL, mode) // never adopt an existing file
			j.file = f
			return f, err
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
	if j.segs, err = createSegments(dir, id, opts.segmentBytes()); err != nil {
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
// A damaged file is ErrCorrupt, never a crash: a file with no valid bbolt
// meta page, one cut short inside the pages its meta page says are in use
// (a cut into the unused tail bbolt grows files by loses nothing and is
// accepted), one whose freelist page is damaged or missing, and one that
// makes bbolt panic or fault while it opens it. Later damage is handled as
// described on Journal. An empty file is what an interrupted Create
// leaves: nothing was ever committed to it, and OpenDead opens it as an
// empty journal, which Remove deletes.
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
	var f *os.File // the file bbolt opened, locked and checked
	bopts := &bolt.Options{
		Timeout: opts.lockPoll(),
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			var err error
			f, err = openLocked(name, flag&^os.O_CREATE, mode, opts.lockPoll())
			return f, err
		},
	}
	for waited := false; ; waited = true {
		if err := ctx.Err(); err != nil {
			return nil, fail(err)
		}
		f = nil
		var db *bolt.DB
		err := guard(func() (err error) {
			db, err = bolt.Open(path, 0o600, bopts)
			return err
		})
		var fe *faultError
		switch {
		case err == nil:
			log.Info("opened dead journal", "journal", id, "dir", dir)
			return &Journal{id: id, dir: dir, log: log, db: db, file: f}, nil
		case errors.As(err, &fe):
			// bbolt faulted inside Open, holding the file and its lock.
			if f != nil {
				_ = abandonFile(f)
			}
			log.Error("damaged journal file", "journal", id, "err", err, "stack", string(fe.stack))
			return nil, fail(err)
		case errors.Is(err, fs.ErrNotExist):
			return nil, fail(ErrGone)
		case errors.Is(err, berrors.ErrTimeout):
			if !waited {
				log.Info("waiting for another process to close the journal", "journal", id)
			}
		case errors.Is(err, ErrCorrupt):
			return nil, fail(err)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch):
			return nil, fail(fmt.Errorf("%w: %w", ErrCorrupt, err))
		default:
			return nil, fail(err)
		}
	}
}

// openLocked opens the journal file at path for bbolt.Open and takes, on
// the returned file, the exclusive flock(2) lock bbolt would take: bbolt's
// own attempt then succeeds at once, since the lock belongs to the open
// file. It waits up to wait for the lock, then returns berrors.ErrTimeout.
//
// Under the lock no other recoverer can be committing to the file or
// removing it, so it is then checked exactly as bbolt will read it: a file
// no longer at path (removed while we waited) is fs.ErrNotExist, a damaged
// one is ErrCorrupt (see checkFile). On error the file is closed, which
// releases the lock.
func openLocked(path string, flag int, mode os.FileMode, wait time.Duration) (_ *os.File, err error) {
	f, err := os.OpenFile(path, flag, mode)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	if err := lockFile(f, wait); err != nil {
		return nil, err
	}
	if same, err := isFileAt(f, path); err != nil {
		return nil, err
	} else if !same {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	if err := checkFile(f); err != nil {
		return nil, err
	}
	return f, nil
}

// lockRetry is how often lockFile retries, as bbolt does.
const lockRetry = 50 * time.Millisecond

// lockFile takes an exclusive flock(2) lock on f, retrying every lockRetry
// for up to wait; then it returns berrors.ErrTimeout.
func lockFile(f *os.File, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR):
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		case !time.Now().Add(lockRetry).Before(deadline):
			return berrors.ErrTimeout
		}
		time.Sleep(lockRetry)
	}
}

// abandonFile releases the file of a bbolt DB that cannot be closed: it
// drops the DB's flock(2) lock on f and closes f. The unlock must be
// explicit: the DB's mapping of the file, which stays until the process
// exits, keeps the open file, and with it the lock, alive past Close.
func abandonFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err != nil {
		err = fmt.Errorf("unlock %s: %w", f.Name(), err)
	}
	return errors.Join(err, f.Close())
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

// Append commits rec alone: Write with a batch of one record, which sets
// rec.LSN (LSNs grow strictly within a journal, across reopenings too).
// This is the commit point: when Append returns nil the record is durable.
// It returns the LSN; errors are as for Write.
func (j *Journal) Append(ctx context.Context, rec *Record) (uint64, error) {
	if err := j.Write(ctx, &Batch{Records: []*Record{rec}}); err != nil {
		return 0, err
	}
	return rec.LSN, nil
}

// MarkApplied records that key's value holds every change of key's entries
// up to lsn: Write with a batch that only raises key's watermark to lsn (it
// never lowers it) and deletes key's entries with LSN ≤ lsn. Entries of
// other keys, and entries that fail verification, stay.
//
// Call it only after the value is synced. When it returns nil the
// watermark and the deletions are durable; on error they may or may not
// be, which is harmless since replay is idempotent. An lsn beyond the last
// one Append assigned is ErrInvalid: it would hide future commits.
func (j *Journal) MarkApplied(ctx context.Context, key string, lsn uint64) error {
	return j.Write(ctx, &Batch{Applied: map[string]uint64{key: lsn}})
}

// Pending returns key's entries above key's watermark (every key's when key
// is ""), in LSN order, fully decoded and verified, with their data copied
// out of the database. If any entry in the journal is corrupt it returns no
// records and an error wrapping ErrCorrupt that names the journal and the
// LSN: a corrupt entry's key cannot be trusted, so it may belong to key.
// The after-images of reference records (see segment.go) are read and
// checked for the entries returned; a record whose own CRC holds names its
// key reliably even if its after-images are damaged.
func (j *Journal) Pending(ctx context.Context, key string) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("journal %s: pending: %w", j.id, err)
	}
	if key != "" {
		if err := checkKey(key); err != nil {
			return nil, fmt.Errorf("journal %s: pending: %w", j.id, err)
		}
	}
	defer j.holdSegments()()
	db, err := j.acquire()
	if err != nil {
		return nil, err
	}
	defer j.mu.RUnlock()
	var out []Record
	err = j.view(db, func(tx *bolt.Tx) error {
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
			r, ref, err := entry(k, v)
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
			if r.LSN <= w {
				continue
			}
			if ref != nil {
				if err := j.loadData(&r, ref); err != nil {
					return err
				}
			} else {
				r.cloneData() // bbolt's memory is valid only inside the transaction
			}
			out = append(out, r)
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
	err := j.view(db, func(tx *bolt.Tx) error {
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
		if j.wedged.Load() {
			// bbolt may never release its own locks, and DB.Close would
			// wait for them.
			err = abandonFile(j.file)
		} else {
			err = j.db.Close()
		}
		j.db, j.file = nil, nil
	}
	err = errors.Join(err, j.closeSegments())
	if j.owner != nil {
		err = errors.Join(err, j.owner.Close()) // releases the owner lock
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
// that at no moment does a live-looking owner guard a dead .db), both while
// still holding the owner lock if this Journal holds it (so RemoveOrphans
// leaves the owner file alone meanwhile), then syncs the directory and
// closes the Journal. A journal with entries is ErrNotEmpty and stays
// open. When Remove returns nil the removal is durable and OpenDead reports
// ErrGone.
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
	if err := removeSegments(j.dir, j.id); err != nil {
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

// view runs fn in a read transaction of db, guarded (see transact).
func (j *Journal) view(db *bolt.DB, fn func(*bolt.Tx) error) error {
	return j.transact(db, false, fn)
}

// update runs fn in a write transaction of db, guarded (see transact). A
// failure to commit (as opposed to an error from fn, which only rolls
// back) breaks the Journal for writes. Errors known to have written
// nothing wrap ErrNotWritten: an error from fn, and a fault while fn ran
// (bbolt writes nothing to the file before fn returns).
func (j *Journal) update(db *bolt.DB, fn func(*bolt.Tx) error) error {
	if p := j.broken.Load(); p != nil {
		return fmt.Errorf("%w: writes refused after an earlier failure: %w", ErrNotWritten, *p)
	}
	var fnErr error
	inFn := false
	err := j.transact(db, true, func(tx *bolt.Tx) error {
		inFn = true
		fnErr = fn(tx)
		inFn = false
		return fnErr
	})
	var fe *faultError
	switch {
	case err == nil:
		return nil
	case fnErr != nil:
		return fmt.Errorf("%w: %w", ErrNotWritten, err) // rolled back
	case errors.As(err, &fe) && inFn:
		return fmt.Errorf("%w: %w", ErrNotWritten, err) // the commit never began
	case errors.As(err, &fe):
		return err // transact broke the Journal
	}
	j.broken.CompareAndSwap(nil, &err)
	j.log.Error("journal commit failed; refusing further writes", "journal", j.id, "err", err)
	return err
}

// transact runs fn in a bbolt transaction of db (a write transaction if
// writable) under guard, so that a damaged page bbolt meets while fn or the
// commit runs is an error wrapping ErrCorrupt rather than a crash.
//
// After such a fault the Journal refuses writes (see broken). bbolt rolls
// the transaction back as the panic passes, releasing its locks; if the
// rollback faulted too, the transaction stays open and bbolt's locks stay
// held, so the Journal is marked wedged and Close does not wait for them.
// Either way the caller's hold on j.mu is released normally.
func (j *Journal) transact(db *bolt.DB, writable bool, fn func(*bolt.Tx) error) error {
	run := db.View
	if writable {
		run = db.Update
	}
	var tx *bolt.Tx
	err := guard(func() error {
		return run(func(t *bolt.Tx) error {
			tx = t
			return fn(t)
		})
	})
	var fe *faultError
	if errors.As(err, &fe) {
		wedged := tx == nil || tx.DB() != nil // bbolt did not get to close it
		if wedged {
			j.wedged.Store(true)
		}
		j.broken.CompareAndSwap(nil, &err)
		j.log.Error("journal file damaged; refusing further writes", "journal", j.id,
			"err", err, "wedged", wedged, "stack", string(fe.stack))
	}
	return err
}

// entry decodes and verifies the entry stored under k, aliasing v. For a
// reference record it returns where the after-images lie; they are not
// loaded or checked (see loadData).
func entry(k, v []byte) (Record, *segRef, error) {
	var r Record
	n, ok := keyLSN(k)
	if !ok {
		return r, nil, fmt.Errorf("%w: entry key %x is not an LSN", ErrCorrupt, k)
	}
	ref, err := parseEntry(v, &r)
	if err != nil {
		return r, nil, fmt.Errorf("entry %d: %w", n, err)
	}
	if r.LSN != n {
		return r, nil, fmt.Errorf("entry %d: %w: record says lsn %d", n, ErrCorrupt, r.LSN)
	}
	return r, ref, nil
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
