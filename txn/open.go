package txn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/recovery"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/store/vfs"
)

// Paths of the engine's own files under a root, inside store.ReservedDir.
const (
	LocksDir         = store.ReservedDir + "/locks"
	JournalDir       = store.ReservedDir + "/journal"
	RecoveryLockFile = store.ReservedDir + "/recovery.lock"
)

// Layout returns the engine's directories and recovery lock path under root.
func Layout(root string) (locks, journals, recoveryLock string) {
	return filepath.Join(root, LocksDir), filepath.Join(root, JournalDir), filepath.Join(root, RecoveryLockFile)
}

// Open opens an engine on the directory root (created if missing): a Local
// store on Options.FS, file locks under root/.rangetx/locks and a fresh
// journal under root/.rangetx/journal. Before it returns it runs recovery
// (recovery.Run), so every transaction a crashed process committed is
// applied first; the report is available from Recovered. Any number of
// processes may open the same root at once.
//
// Open fails if a journal holds a corrupt record (see recovery.Run). A value
// whose entries cannot be replayed does not stop Open: that value is fenced
// and every transaction on it returns the replay error until the cause is
// fixed.
func Open(ctx context.Context, root string, opts *Options) (*Engine, error) {
	o := opts.withDefaults()
	locks, jdir, rlock := Layout(root)
	// Synced, so a power loss cannot take the store's own directories
	// (and with them an acknowledged value or journal) away. A process
	// killed between creating one of these and syncing its parent would
	// leave the entry unsynced for good, so sync them on every Open, not
	// only on creation.
	err := makeDirs(vfs.Default, []string{root, locks, jdir},
		[]string{filepath.Dir(filepath.Clean(root)), root, filepath.Join(root, store.ReservedDir)})
	if err == nil && o.FS != vfs.Default {
		// The values live in o.FS, at the path NewLocal will use.
		var abs string
		if abs, err = filepath.Abs(root); err == nil {
			err = makeDirs(o.FS, []string{abs}, []string{filepath.Dir(abs), abs})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("txn: open %s: %w", root, err)
	}
	j, err := journal.Create(jdir, o.Journal)
	if err != nil {
		return nil, fmt.Errorf("txn: open %s: %w", root, err)
	}
	st, err := store.NewLocal(root, store.WithOwner(j.ID()), store.WithFS(o.FS))
	if err == nil {
		var lk *lock.File
		lk, err = lock.NewFile(locks)
		if err == nil {
			var rep recovery.Report
			rep, err = recovery.Run(ctx, recovery.Config{
				Store: st, Locker: lk, JournalDir: jdir, LockPath: rlock, Self: j.ID(), Logger: o.Logger,
			})
			if errors.Is(err, recovery.ErrUnsettled) && !errors.Is(err, journal.ErrCorrupt) {
				// Those values are fenced and report the error themselves;
				// the rest of the store is fine to use.
				o.Logger.Warn("txn: open: some values could not be settled", "err", err)
				err = nil
			}
			if err == nil {
				e, _ := New(st, lk, j, &o)
				e.recovered = rep
				return e, nil
			}
		}
	}
	return nil, errors.Join(fmt.Errorf("txn: open %s: %w", root, err), j.Remove())
}

// makeDirs creates the directories create in fsys (vfs.MkdirAll) and then
// syncs the directories sync, of which the first is the parent of the root:
// one we may enter but not read (0711) is skipped, its entry for the root is
// its owner's business.
func makeDirs(fsys vfs.FS, create, sync []string) error {
	for _, d := range create {
		if err := vfs.MkdirAll(fsys, d, 0o755); err != nil {
			return err
		}
	}
	for i, d := range sync {
		if err := fsys.SyncDir(d); err != nil && !(i == 0 && errors.Is(err, fs.ErrPermission)) {
			return err
		}
	}
	return nil
}

// Recovered returns what recovery did when Open ran it.
func (e *Engine) Recovered() recovery.Report { return e.recovered }
