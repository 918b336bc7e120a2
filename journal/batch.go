package journal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/rangetx/rangetx/internal/crashpoint"
	bolt "go.etcd.io/bbolt"
)

// Batch is one group commit: records to append, in order, and watermarks
// to raise, all in one durable bbolt transaction.
type Batch struct {
	// Records are appended in order; Write sets each one's LSN. Several may
	// be for the same key.
	Records []*Record
	// Applied maps value keys to the LSN up to which the value holds every
	// change of its entries (see MarkApplied). It may name records of this
	// same batch only if their LSNs are known, which they are not before
	// Write returns, so in practice it names earlier ones.
	Applied map[string]uint64
}

// Write commits b: the after-images of its records, if together they are
// larger than Options.InlineBytes, go into a segment file that is synced
// first (see segment.go); then one bbolt transaction assigns the records
// consecutive LSNs, stores them, raises the watermarks and deletes every
// entry at or below its key's new watermark. That transaction is the
// commit point for the whole batch: when Write returns nil every record
// and watermark in it is durable; after a crash either all of it is
// there or none.
//
// ctx is looked at only before starting. An invalid record or watermark
// (an LSN beyond the last one assigned before b) is ErrInvalid, and then,
// like a failure to write or sync the segment, wraps ErrNotWritten:
// nothing of b is stored. Any other error means b may or may not survive a
// crash, and the Journal refuses further writes. Writes are serialised.
func (j *Journal) Write(ctx context.Context, b *Batch) error {
	fail := func(err error) error {
		return fmt.Errorf("journal %s: write: %w: %w", j.id, ErrNotWritten, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	for _, r := range b.Records {
		if why := r.check(); why != "" {
			return fail(fmt.Errorf("%w: record: %s", ErrInvalid, why))
		}
		if err := crashpoint.Check(crashpoint.JournalAppend, r.Key); err != nil {
			return fail(err)
		}
	}
	for key := range b.Applied {
		if err := checkKey(key); err != nil {
			return fail(err)
		}
		if err := crashpoint.Check(crashpoint.JournalMark, key); err != nil {
			return fail(err)
		}
	}
	db, err := j.acquire()
	if err != nil {
		return fail(err)
	}
	defer j.mu.RUnlock()
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if p := j.broken.Load(); p != nil {
		return fail(fmt.Errorf("writes refused after an earlier failure: %w", *p))
	}

	// Encode outside bbolt's write lock; only the LSN is patched in.
	var refs []segRef
	if j.segs != nil && batchBytes(b.Records) > j.inline {
		if refs, err = j.segs.write(b.Records, j.readers.Load() > 0); err != nil {
			var se *syncError
			if errors.As(err, &se) {
				j.broken.CompareAndSwap(nil, &err)
				j.log.Error("journal segment sync failed; refusing further writes", "journal", j.id, "err", err)
			}
			return fail(err)
		}
	}
	bufs := make([][]byte, len(b.Records))
	for i, r := range b.Records {
		if refs != nil {
			bufs[i] = appendRef(nil, r, &refs[i])
		} else {
			bufs[i] = r.appendTo(make([]byte, 0, r.encodedLen()))
		}
	}

	lsns := make([]uint64, len(b.Records))
	var dropped []dropped
	err = j.update(db, func(tx *bolt.Tx) error {
		entries, err := tx.CreateBucketIfNotExists(entriesBucket)
		if err != nil {
			return err
		}
		applied, err := tx.CreateBucketIfNotExists(appliedBucket)
		if err != nil {
			return err
		}
		last := entries.Sequence()
		for i, buf := range bufs {
			if lsns[i], err = entries.NextSequence(); err != nil {
				return err
			}
			setLSN(buf, lsns[i])
			if err := entries.Put(lsnKey(lsns[i]), buf); err != nil {
				return err
			}
		}
		dropped, err = raise(entries, applied, b.Applied, last)
		return err
	})
	if err != nil {
		return fmt.Errorf("journal %s: write: %w", j.id, err)
	}
	if j.segs != nil {
		j.segs.commit(refs, lsns, dropped)
	}
	// Observers only: these are durable now.
	for _, d := range dropped {
		crashpoint.Check(crashpoint.JournalDropped, d.key)
	}
	for i, r := range b.Records {
		r.LSN = lsns[i]
		crashpoint.Check(crashpoint.JournalAppended, r.Key)
	}
	return nil
}

func batchBytes(recs []*Record) int64 {
	var n int64
	for _, r := range recs {
		n += r.Bytes()
	}
	return n
}

// dropped is an entry a Write deleted.
type dropped struct {
	lsn uint64
	key string
}

// raise raises the watermarks in marks (never lowering one) and deletes
// every entry at or below its key's new watermark, returning them. A watermark beyond last is ErrInvalid: it would hide future
// commits. Entries that fail verification stay: their key cannot be
// trusted.
func raise(entries, applied *bolt.Bucket, marks map[string]uint64, last uint64) ([]dropped, error) {
	if len(marks) == 0 {
		return nil, nil
	}
	var top uint64
	for _, key := range slices.Sorted(maps.Keys(marks)) {
		lsn := marks[key]
		if lsn > last {
			return nil, fmt.Errorf("%w: lsn %d of %q is beyond the last assigned, %d", ErrInvalid, lsn, key, last)
		}
		old, err := watermark(applied, key)
		if err != nil {
			return nil, err
		}
		if lsn > old {
			if err := applied.Put([]byte(key), lsnKey(lsn)); err != nil {
				return nil, err
			}
		}
		top = max(top, lsn)
	}
	// Collect first: deleting under a bbolt cursor can skip the next item.
	var drop []dropped
	c := entries.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n, ok := keyLSN(k)
		if ok && n > top {
			break
		}
		var r Record
		if _, err := parseEntry(v, &r); ok && err == nil && r.LSN == n {
			if mark, in := marks[r.Key]; in && n <= mark {
				drop = append(drop, dropped{n, r.Key})
			}
		}
	}
	for _, d := range drop {
		if err := entries.Delete(lsnKey(d.lsn)); err != nil {
			return nil, err
		}
	}
	return drop, nil
}
