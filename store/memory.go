package store

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store kept in process memory, for tests and caches. It also
// implements RangeReader, RangeWriter and Patcher.
//
// All methods are safe for concurrent use: each call holds a lock for its
// whole effect, so Put and PatchCopy swap in a complete new value that no
// reader sees half built, and even a single WriteAt or Truncate is seen whole.
// A sequence of calls is not atomic. Nothing survives the process, so Sync is
// a no-op and "durable" means "visible to later calls".
//
// Values and the slices passed in and out are copied; callers may reuse them.
// Memory does not model directories: unlike Local it can hold both "a" and
// "a/b". Info.Mode is always 0. Sizes are allocated for real: Truncate or
// PatchCopy to a huge size needs that much memory.
type Memory struct {
	mu   sync.RWMutex
	vals map[string]memValue
}

type memValue struct {
	data []byte
	mod  time.Time
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{vals: make(map[string]memValue)}
}

// Get returns a copy of key's value.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := m.check(ctx, key); err != nil {
		return nil, opErr("get", key, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.vals[key]
	if !ok {
		return nil, opErr("get", key, ErrNotFound)
	}
	return slices.Clone(v.data), nil
}

// Put reads r to the end, then swaps the result in as key's value. If r
// fails or ctx ends first, the old value is untouched.
func (m *Memory) Put(ctx context.Context, key string, r io.Reader) error {
	if err := m.check(ctx, key); err != nil {
		return opErr("put", key, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return opErr("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return opErr("put", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals[key] = memValue{data: data, mod: time.Now()}
	return nil
}

// Delete removes key's value.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := m.check(ctx, key); err != nil {
		return opErr("delete", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.vals[key]; !ok {
		return opErr("delete", key, ErrNotFound)
	}
	delete(m.vals, key)
	return nil
}

// Stat describes key's value. Mode is always 0.
func (m *Memory) Stat(ctx context.Context, key string) (Info, error) {
	if err := m.check(ctx, key); err != nil {
		return Info{}, opErr("stat", key, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.vals[key]
	if !ok {
		return Info{}, opErr("stat", key, ErrNotFound)
	}
	return Info{Key: key, Size: int64(len(v.data)), ModTime: v.mod}, nil
}

// List returns the keys under prefix in lexical order. A trailing '/' on the
// prefix is ignored.
func (m *Memory) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, opErr("list", prefix, err)
	}
	if err := ValidatePrefix(prefix); err != nil {
		return nil, opErr("list", prefix, err)
	}
	m.mu.RLock()
	keys := make([]string, 0, len(m.vals))
	for k := range m.vals {
		if underPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	m.mu.RUnlock()
	slices.Sort(keys)
	return keys, nil
}

// ReadAt copies bytes of key's value at off into p, with io.ReaderAt
// semantics.
func (m *Memory) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	if err := m.check(ctx, key); err != nil {
		return 0, opErr("read", key, err)
	}
	if off < 0 {
		return 0, opErr("read", key, fmt.Errorf("%w: negative offset %d", ErrInvalidRange, off))
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.vals[key]
	if !ok {
		return 0, opErr("read", key, ErrNotFound)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= int64(len(v.data)) {
		return 0, io.EOF
	}
	n := copy(p, v.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt overwrites bytes of key's existing value in place. Readers never
// see a single WriteAt half done, but see the note on RangeWriter.
func (m *Memory) WriteAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	if err := m.check(ctx, key); err != nil {
		return 0, opErr("write", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	if !ok {
		return 0, opErr("write", key, ErrNotFound)
	}
	if err := checkRange(off, int64(len(p)), int64(len(v.data))); err != nil {
		return 0, opErr("write", key, err)
	}
	// Get copies out, so writing into the shared slice is safe.
	n := copy(v.data[off:], p)
	v.mod = time.Now()
	m.vals[key] = v
	return n, nil
}

// Truncate resizes key's existing value, growing it with zeros.
func (m *Memory) Truncate(ctx context.Context, key string, size int64) error {
	if err := m.check(ctx, key); err != nil {
		return opErr("truncate", key, err)
	}
	if size < 0 {
		return opErr("truncate", key, fmt.Errorf("%w: negative size %d", ErrInvalidRange, size))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	if !ok {
		return opErr("truncate", key, ErrNotFound)
	}
	v.data = resize(v.data, size)
	v.mod = time.Now()
	m.vals[key] = v
	return nil
}

// Sync checks that key's value exists; there is nothing to flush.
func (m *Memory) Sync(ctx context.Context, key string) error {
	if err := m.check(ctx, key); err != nil {
		return opErr("sync", key, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, ok := m.vals[key]; !ok {
		return opErr("sync", key, ErrNotFound)
	}
	return nil
}

// PatchCopy builds the patched value in a new slice and swaps it in, all
// under the lock: readers see the old or the new value, never a mix. An
// invalid patch is ErrInvalidRange and changes nothing.
func (m *Memory) PatchCopy(ctx context.Context, key string, p Patch) error {
	if err := m.check(ctx, key); err != nil {
		return opErr("patch", key, err)
	}
	if err := p.check(); err != nil {
		return opErr("patch", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.vals[key].data
	if err := p.checkCopies(int64(len(old))); err != nil {
		return opErr("patch", key, err)
	}
	data := make([]byte, p.Size)
	copy(data, old[:min(p.MinSize, int64(len(old)))])
	for _, c := range p.Copies {
		copy(data[c.Off:c.Off+c.N], old[c.Src:])
	}
	for _, r := range p.Ranges {
		copy(data[r.Off:], r.Data)
	}
	m.vals[key] = memValue{data: data, mod: time.Now()}
	return nil
}

// check runs the checks every call starts with.
func (m *Memory) check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidateKey(key)
}

// resize returns b cut or zero-extended to size. Growing always copies, so
// bytes cut earlier (still in b's capacity) never come back.
func resize(b []byte, size int64) []byte {
	if size <= int64(len(b)) {
		return b[:size]
	}
	nb := make([]byte, size)
	copy(nb, b)
	return nb
}

// underPrefix reports whether key is prefix or lies under it as a key path.
func underPrefix(key, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return prefix == "" || key == prefix || strings.HasPrefix(key, prefix+"/")
}
