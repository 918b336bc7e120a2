package journal

import (
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Stats describes a journal's contents, for inspection.
type Stats struct {
	ID          string
	Entries     int               // entries stored, corrupt ones included
	PendingKeys []string          // sorted keys with intact entries above their watermark
	Applied     map[string]uint64 // watermarks by key
	Corrupt     []uint64          // LSNs of entries that fail verification; 0 for a stored key that is not an LSN
}

// Stats reads the journal's contents. Unlike Pending it tolerates corrupt
// entries and lists their LSNs; unreadable watermarks are logged and left
// out of Applied.
func (j *Journal) Stats(ctx context.Context) (Stats, error) {
	st := Stats{ID: j.id, Applied: make(map[string]uint64)}
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("journal %s: stats: %w", j.id, err)
	}
	defer j.holdSegments()()
	db, err := j.acquire()
	if err != nil {
		return st, err
	}
	defer j.mu.RUnlock()
	err = j.view(db, func(tx *bolt.Tx) error {
		applied := tx.Bucket(appliedBucket)
		if applied != nil {
			err := applied.ForEach(func(k, v []byte) error {
				if n, ok := keyLSN(v); ok {
					st.Applied[string(k)] = n
				} else {
					j.log.Warn("corrupt watermark", "journal", j.id, "key", string(k), "bytes", len(v))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		entries := tx.Bucket(entriesBucket)
		if entries == nil {
			return nil
		}
		pending := make(map[string]bool)
		c := entries.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			st.Entries++
			r, ref, err := entry(k, v)
			if err == nil && ref != nil {
				err = j.loadData(&r, ref)
			}
			if err != nil {
				n, _ := keyLSN(k)
				st.Corrupt = append(st.Corrupt, n)
				j.log.Warn("corrupt journal entry", "journal", j.id, "lsn", n, "err", err)
				continue
			}
			if r.LSN > st.Applied[r.Key] {
				pending[r.Key] = true
			}
		}
		for k := range pending {
			st.PendingKeys = append(st.PendingKeys, k)
		}
		slices.Sort(st.PendingKeys)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("journal %s: stats: %w", j.id, err)
	}
	return st, nil
}
