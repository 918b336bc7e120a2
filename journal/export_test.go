package journal

import (
	"encoding/binary"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// Layout offsets, for tests that forge records.
const (
	OffVersion = offVersion
	OffLSN     = offLSN
	OffKeyLen  = offKeyLen
	HeaderLen  = headerLen
)

// Reseal recomputes the CRC32C in the last 4 bytes of an encoded record.
func Reseal(b []byte) {
	n := len(b) - 4
	binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
}

// PutRaw stores v under the raw bbolt key k in bucket "entries", bypassing
// encoding and validation, and raises the bucket's sequence to cover k when
// k is an LSN.
func PutRaw(j *Journal, k, v []byte) error {
	db, err := j.acquire()
	if err != nil {
		return err
	}
	defer j.mu.RUnlock()
	return db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(entriesBucket)
		if n, ok := keyLSN(k); ok && n > b.Sequence() {
			if err := b.SetSequence(n); err != nil {
				return err
			}
		}
		return b.Put(k, v)
	})
}

// GetRaw returns a copy of the entry stored under lsn (nil if none).
func GetRaw(j *Journal, lsn uint64) ([]byte, error) {
	db, err := j.acquire()
	if err != nil {
		return nil, err
	}
	defer j.mu.RUnlock()
	var out []byte
	err = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(entriesBucket).Get(lsnKey(lsn)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// LSNKey is the bbolt key of an entry.
func LSNKey(n uint64) []byte { return lsnKey(n) }

// Guard is guard.
var Guard = guard

// SetOwnerHooks installs Create's test hooks: opened runs between the
// owner file's O_EXCL open and its lock, locked once the owner file is
// locked and before the .db file exists. nil removes a hook. Not safe while
// Create runs.
func SetOwnerHooks(opened, locked func(dir, id string)) {
	hookOwnerOpened, hookOwnerLocked = opened, locked
}
