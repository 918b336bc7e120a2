package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Bbolt keeps each value in a bbolt bucket of its own as chunks of
// BboltChunk bytes keyed by chunk index (8 bytes, big-endian). A write
// updates every chunk it touches, reading and patching the ones it covers
// only in part, in one db.Update, which bbolt syncs before it returns. bbolt
// runs one Update at a time and locks its file for one process, so Bbolt
// has no Attach.
type Bbolt struct{}

// BboltChunk is the size of the chunks Bbolt stores a value in.
const BboltChunk = 64 << 10

const bboltFile = "values.bolt"

// Name returns "bbolt".
func (Bbolt) Name() string { return "bbolt" }

// Setup creates the database under dir with a bucket per value.
func (Bbolt) Setup(ctx context.Context, dir string, values int, size int64) (Target, error) {
	db, err := bolt.Open(filepath.Join(dir, bboltFile), 0o644, nil)
	if err != nil {
		return nil, fmt.Errorf("bbolt: %w", err)
	}
	// Bulk creation syncs once at the end; batches bound the memory of a
	// transaction.
	db.NoSync = true
	const batch = 256 // chunks per transaction
	buf := make([]byte, BboltChunk)
	for v := 0; v < values && err == nil; v++ {
		for first := int64(0); first*BboltChunk < size && err == nil; first += batch {
			err = db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte(valueKey(v)))
				for c := first; c < first+batch && c*BboltChunk < size && err == nil; c++ {
					n := min(BboltChunk, size-c*BboltChunk)
					fill(buf[:n], c*BboltChunk)
					err = b.Put(chunkKey(c), buf[:n])
				}
				return err
			})
		}
	}
	db.NoSync = false
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		return nil, fmt.Errorf("bbolt: create: %w", errors.Join(err, db.Close()))
	}
	return bboltTarget{db}, nil
}

// Attach fails with ErrSkip: bbolt locks its file for one process.
func (Bbolt) Attach(context.Context, string) (Target, error) {
	return nil, fmt.Errorf("%w: bbolt locks its database file for one process at a time", ErrSkip)
}

func chunkKey(c int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(c)) }

type bboltTarget struct{ db *bolt.DB }

func (t bboltTarget) Write(_ context.Context, value int, off int64, data []byte) error {
	err := t.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(valueKey(value)))
		if b == nil {
			return fmt.Errorf("no value %d", value)
		}
		for c := off / BboltChunk; c*BboltChunk < off+int64(len(data)); c++ {
			start := c * BboltChunk
			lo, hi := max(off, start), min(off+int64(len(data)), start+BboltChunk)
			old := b.Get(chunkKey(c))
			if old == nil || hi-start > int64(len(old)) {
				return fmt.Errorf("write [%d, %d) past the end of value %d", lo, hi, value)
			}
			chunk := data[lo-off : hi-off] // the whole chunk is new
			if lo > start || hi < start+int64(len(old)) {
				chunk = append([]byte(nil), old...) // read-modify-write
				copy(chunk[lo-start:], data[lo-off:hi-off])
			}
			if err := b.Put(chunkKey(c), chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bbolt: write value %d: %w", value, err)
	}
	return nil
}

func (t bboltTarget) Close() error { return t.db.Close() }
