// Package recovery settles what crashed processes left behind: journal
// entries that were committed but not yet applied to their values, and
// temporary files of unfinished copy-mode commits.
//
// Run recovers a whole store; Settle recovers one value and is what a
// transaction calls when the value's lock marker names a dead journal. Both
// replay under the value's exclusive lock, in LSN order, so an old entry is
// never written over a newer commit.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/store"
)

// Config tells Run what to recover.
type Config struct {
	Store      store.Store // the values
	Locker     lock.Locker // per-key locks shared with every engine on the store
	JournalDir string      // directory of the journals
	// LockPath is the store-wide recovery lock file. Run holds it
	// exclusively, so two recoveries never work on one store at once.
	LockPath string
	// Self is the journal of the calling engine, which is never recovered.
	Self string
	// Logger receives one line per action. Default: slog.Default().
	Logger *slog.Logger
	// Progress, if set, is called after each value settled.
	Progress func(done, total int)
}

// Report says what Run did.
type Report struct {
	Journals    []JournalReport `json:"journals"`
	Replayed    int             `json:"replayed"`     // entries replayed in all
	TempRemoved []string        `json:"temp_removed"` // temporary files deleted
	// OrphanOwners are the ids whose orphan owner file (no journal file,
	// no owner) Run deleted; see journal.RemoveOrphans.
	OrphanOwners []string `json:"orphan_owners,omitempty"`
}

// JournalReport is what Run found and did in one journal.
type JournalReport struct {
	ID       string            `json:"id"`
	Live     bool              `json:"live"`              // owner alive: left alone
	Replayed map[string]int    `json:"replayed"`          // entries replayed per key
	Failed   map[string]string `json:"failed,omitempty"`  // keys that could not be settled, and why
	Corrupt  string            `json:"corrupt,omitempty"` // why the journal was refused
	Removed  bool              `json:"removed"`           // fully applied and deleted
}

// Run recovers the store: for every journal in cfg.JournalDir whose owner is
// gone, it replays each value's unapplied entries in LSN order under that
// value's exclusive lock, syncs, advances the watermark and deletes the
// journal once empty; then it deletes orphan owner files (see
// journal.RemoveOrphans; a failure there is logged, not returned) and
// temporary files of dead owners.
//
// Run reads and verifies every dead journal before it touches any value. If a
// record is corrupt, Run applies nothing at all and returns an error wrapping
// journal.ErrCorrupt, with the Report naming the journal and record.
//
// If a value's entries cannot be replayed (an I/O error, a value changed
// outside rangetx), Run fences that value (see ErrUnsettled), goes on with
// the others, and returns an error wrapping ErrUnsettled.
//
// Run is safe to call while other engines use the store; interrupted (by a
// crash or ctx), it can simply be run again.
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rep.Journals, rep.TempRemoved = []JournalReport{}, []string{}
	unlock, err := lock.LockFile(ctx, cfg.LockPath, true)
	if err != nil {
		return rep, fmt.Errorf("recovery: store lock: %w", err)
	}
	defer unlock()

	ids, err := journal.List(cfg.JournalDir)
	if err != nil {
		return rep, fmt.Errorf("recovery: %w", err)
	}
	type work struct {
		at   int // index into rep.Journals
		keys []string
	}
	var todo []work
	var corrupt error
	for _, id := range ids {
		if id == cfg.Self {
			continue
		}
		jr := JournalReport{ID: id, Replayed: map[string]int{}}
		keys, err := pendingKeys(ctx, cfg.JournalDir, id)
		switch {
		case errors.Is(err, journal.ErrOwnerAlive):
			jr.Live = true
		case errors.Is(err, journal.ErrGone):
			continue
		case errors.Is(err, journal.ErrCorrupt):
			jr.Corrupt = err.Error()
			corrupt = errors.Join(corrupt, err)
		case err != nil:
			return rep, fmt.Errorf("recovery: journal %s: %w", id, err)
		}
		if !jr.Live && jr.Corrupt == "" {
			todo = append(todo, work{len(rep.Journals), keys})
		}
		rep.Journals = append(rep.Journals, jr)
	}
	if corrupt != nil {
		return rep, fmt.Errorf("recovery: refusing to replay anything: %w", corrupt)
	}
	total := 0
	for _, w := range todo {
		total += len(w.keys)
	}
	done := 0
	var unsettled error
	for _, w := range todo {
		jr := &rep.Journals[w.at]
		for _, key := range w.keys {
			n, err := settleLocked(ctx, cfg, jr.ID, key)
			if ctx.Err() != nil {
				return rep, fmt.Errorf("recovery: %w", ctx.Err())
			}
			if errors.Is(err, ErrUnfenced) {
				return rep, err
			}
			if err != nil {
				// One value's trouble must not stop the rest of the store.
				if jr.Failed == nil {
					jr.Failed = map[string]string{}
				}
				jr.Failed[key] = err.Error()
				unsettled = errors.Join(unsettled, err)
				log.Error("recovery: could not settle", "journal", jr.ID, "key", key, "err", err)
			}
			if n > 0 {
				jr.Replayed[key] = n
				rep.Replayed += n
				log.Info("recovery: replayed", "journal", jr.ID, "key", key, "entries", n)
			}
			done++
			if cfg.Progress != nil {
				cfg.Progress(done, total)
			}
		}
		gone, err := removeIfEmpty(ctx, cfg.JournalDir, jr.ID)
		if err != nil {
			return rep, err
		}
		jr.Removed = gone
	}

	// Owner files left by a process killed inside journal.Create or
	// Journal.Remove. Harmless, so trouble here is only logged.
	orphans, oerr := journal.RemoveOrphans(cfg.JournalDir)
	rep.OrphanOwners = orphans
	for _, id := range orphans {
		log.Info("recovery: removed orphan owner file", "journal", id)
	}
	if oerr != nil {
		log.Warn("recovery: could not remove orphan owner files", "err", oerr)
	}

	if unsettled != nil {
		defer func() {
			if err == nil {
				err = fmt.Errorf("%w: %w", ErrUnsettled, unsettled)
			}
		}()
	}
	if tc, ok := cfg.Store.(store.TempCleaner); ok {
		removed, terr := tc.RemoveTemp(ctx, func(owner string) bool {
			if owner == cfg.Self {
				return false
			}
			live, err := journal.IsLive(cfg.JournalDir, owner)
			return err == nil && !live
		})
		if removed != nil {
			rep.TempRemoved = removed
		}
		for _, p := range removed {
			log.Info("recovery: removed temporary file", "path", p)
		}
		if terr != nil {
			return rep, fmt.Errorf("recovery: temporary files: %w", terr)
		}
	}
	return rep, nil
}

// pendingKeys lists the keys with unapplied entries in a dead journal, in
// order of their first pending LSN, after verifying every record.
func pendingKeys(ctx context.Context, dir, id string) ([]string, error) {
	j, recs, err := openPending(ctx, dir, id, "")
	if err != nil {
		return nil, err
	}
	j.Close()
	seen := map[string]bool{}
	var keys []string
	for _, r := range recs {
		if !seen[r.Key] {
			seen[r.Key] = true
			keys = append(keys, r.Key)
		}
	}
	return keys, nil
}

// openPending opens the dead journal id in dir and reads key's pending
// entries (every key's if key is ""). On success the caller must close or
// release the journal; on error it is closed, never released, so a journal
// that cannot be read is never removed. A damaged journal file is
// journal.ErrCorrupt (see journal.OpenDead).
func openPending(ctx context.Context, dir, id, key string) (*journal.Journal, []journal.Record, error) {
	j, err := journal.OpenDead(ctx, dir, id, nil)
	if err != nil {
		return nil, nil, err
	}
	recs, err := j.Pending(ctx, key)
	if err != nil {
		j.Close()
		return nil, nil, err
	}
	return j, recs, nil
}

// settleLocked settles one key of a dead journal under the key's exclusive
// lock, and clears the key's marker if it names that journal.
func settleLocked(ctx context.Context, cfg Config, id, key string) (int, error) {
	unlock, err := cfg.Locker.Lock(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("recovery: lock %q: %w", key, err)
	}
	defer unlock()
	n, pending, err := settle(ctx, cfg.Store, cfg.JournalDir, id, key)
	m, merr := cfg.Locker.Marker(key)
	if err != nil {
		if ctx.Err() != nil {
			return n, err // interrupted, not failed: a later run goes on
		}
		if !pending {
			// Failed before it could tell whether anything is pending, so
			// it cannot tell whether a fence is needed or would hide
			// another writer's marker: stop rather than guess.
			return n, fmt.Errorf("%w: %q: %w", ErrUnfenced, key, err)
		}
		// Fence the value: its marker may have been lost or reverted by a
		// power loss, and without it the next writer would not know to
		// settle first. Entries still pending here mean no writer has
		// committed to key since (each settles first), so whatever the
		// marker says now is stale.
		if ferr := cfg.Locker.SetMarker(key, id); ferr != nil {
			return n, fmt.Errorf("%w: %q: %w", ErrUnfenced, key, errors.Join(err, ferr))
		}
		return n, err
	}
	// Settled. A marker naming this journal, or one that cannot be read
	// (torn by a power loss; every dead journal is settled here before any
	// engine commits), is cleared.
	if merr != nil || m == id {
		if err := cfg.Locker.SetMarker(key, ""); err != nil {
			return n, fmt.Errorf("recovery: clear marker of %q: %w", key, err)
		}
	}
	return n, nil
}

// removeIfEmpty deletes a dead journal that has no entries left.
func removeIfEmpty(ctx context.Context, dir, id string) (bool, error) {
	j, err := journal.OpenDead(ctx, dir, id, nil)
	if errors.Is(err, journal.ErrGone) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("recovery: journal %s: %w", id, err)
	}
	return j.Release()
}

// SortedKeys returns the keys of m in order; a convenience for reports.
func SortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
