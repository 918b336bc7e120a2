package shard

import (
	"fmt"
	"sync"

	"github.com/rangetx/rangetx/txn"
)

// Writer changes the inner chunks of one shard inside an Update. Its changes
// are staged in the Update's transaction and reach the store only when the
// Update commits, all together; Get sees them at once. A Writer is safe for
// concurrent use by several goroutines, and must not be used after the
// function given to Update returns (its methods then return ErrWriterDone).
type Writer struct {
	tx  *txn.Tx
	key string
	l   Layout

	mu      sync.Mutex
	done    bool
	entries []Entry
	end     int64 // end of the data region: where the next appended chunk goes
	shared  bool  // some entries share bytes: never overwrite in place
	changed bool  // an entry changed: the index must be rewritten
}

// newWriter reads the shard's current index through tx, or starts a new
// shard with every entry empty when the value is missing.
func newWriter(tx *txn.Tx, key string, l Layout) (*Writer, error) {
	w := &Writer{tx: tx, key: key, l: l}
	exists, err := tx.Exists()
	if err != nil {
		return nil, err
	}
	if !exists {
		w.entries = make([]Entry, l.NumChunks())
		for i := range w.entries {
			w.entries[i] = EmptyEntry
		}
		_, w.end, _ = l.region(l.IndexBytes())
		return w, nil
	}
	size, err := tx.Size()
	if err != nil {
		return nil, err
	}
	if w.entries, err = readIndex(tx, l, size); err != nil {
		return nil, fmt.Errorf("shard %q: %w", key, err)
	}
	_, _, w.end = l.region(size)
	_, w.shared = liveSpans(w.entries)
	return w, nil
}

// Put stages data as the encoded bytes of the inner chunk at coords.
//
// If the chunk is stored and len(data) equals its NBytes, the bytes are
// overwritten in place and the index is unchanged. Otherwise data is
// appended after the shard's data region (with the index at the end, the
// index moves to after it when the Update commits), the chunk's entry is
// rewritten, and its old bytes, if any, become dead space (see Compact).
//
// Invalid coords are ErrInvalidCoords, and data that is not
// Layout.ChunkBytes long when that is set is ErrChunkSize; in both cases
// nothing is staged. Like every change of the Update, a staged Put is
// discarded if the Update's function returns an error.
func (w *Writer) Put(coords []int, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, err := w.locate("put", coords)
	if err != nil {
		return err
	}
	if w.l.ChunkBytes > 0 && int64(len(data)) != w.l.ChunkBytes {
		return fmt.Errorf("shard %q: put %v: %d bytes, the layout fixes %d: %w", w.key, coords, len(data), w.l.ChunkBytes, ErrChunkSize)
	}
	e := w.entries[i]
	if !e.Empty() && e.NBytes == uint64(len(data)) && !w.shared {
		if _, err := w.tx.WriteAt(data, int64(e.Offset)); err != nil {
			return fmt.Errorf("shard %q: put %v: %w", w.key, coords, err)
		}
		return nil
	}
	if _, err := w.tx.WriteAt(data, w.end); err != nil {
		return fmt.Errorf("shard %q: put %v: %w", w.key, coords, err)
	}
	w.entries[i] = Entry{Offset: uint64(w.end), NBytes: uint64(len(data))}
	w.end += int64(len(data))
	w.changed = true
	return nil
}

// Delete stages the removal of the inner chunk at coords: its entry becomes
// empty and its bytes dead space. Deleting an empty chunk changes nothing.
// Invalid coords are ErrInvalidCoords.
func (w *Writer) Delete(coords []int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, err := w.locate("delete", coords)
	if err != nil {
		return err
	}
	if !w.entries[i].Empty() {
		w.entries[i] = EmptyEntry
		w.changed = true
	}
	return nil
}

// Get returns the encoded bytes of the inner chunk at coords as this Update
// has left them so far (its own Puts and Deletes included), and ok=false
// for an empty chunk. Invalid coords are ErrInvalidCoords.
func (w *Writer) Get(coords []int) (data []byte, ok bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, err := w.locate("get", coords)
	if err != nil {
		return nil, false, err
	}
	e := w.entries[i]
	if e.Empty() {
		return nil, false, nil
	}
	data = make([]byte, e.NBytes)
	if err := readFull(w.tx, data, int64(e.Offset)); err != nil {
		return nil, false, fmt.Errorf("shard %q: get %v: %w", w.key, coords, err)
	}
	return data, true, nil
}

// locate checks that w is live and returns the index position of coords.
// The caller holds w.mu.
func (w *Writer) locate(op string, coords []int) (int, error) {
	if w.done {
		return 0, fmt.Errorf("shard %q: %s %v: %w", w.key, op, coords, ErrWriterDone)
	}
	i, err := w.l.Linear(coords)
	if err != nil {
		return 0, fmt.Errorf("shard %q: %s: %w", w.key, op, err)
	}
	return i, nil
}

// close ends the Writer: its methods return ErrWriterDone from now on.
func (w *Writer) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// finish ends the Writer and stages what the commit needs: the shard's
// deletion when every entry is empty, else the new index when an entry
// changed.
func (w *Writer) finish() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	live := false
	for _, e := range w.entries {
		if !e.Empty() {
			live = true
			break
		}
	}
	if !live {
		return w.tx.Delete() // a missing shard stays missing
	}
	if !w.changed {
		return nil
	}
	off := int64(0)
	if !w.l.IndexAtStart {
		off = w.end
	}
	_, err := w.tx.WriteAt(EncodeIndex(w.l, w.entries), off)
	return err
}
