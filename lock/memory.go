package lock

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"
)

// Memory is a Locker for the goroutines of one process. It does not see
// locks taken by other processes or by other Memory values.
//
// All methods are safe for concurrent use. Nothing survives the process:
// locks and markers live in memory only. Per-key lock state exists only while
// the key is held or waited for; a marker is kept until it is cleared.
type Memory struct {
	keys table[*semaphore.Weighted]

	mu      sync.Mutex
	markers map[string]string // only non-empty markers
}

var _ Locker = (*Memory)(nil)

// NewMemory returns an empty in-process Locker.
func NewMemory() *Memory {
	m := &Memory{markers: make(map[string]string)}
	m.keys.make = func(string) *semaphore.Weighted { return newRW() }
	return m
}

// Lock takes the exclusive lock on key; see Locker.
func (m *Memory) Lock(ctx context.Context, key string) (Unlock, error) {
	return m.lock(ctx, key, true)
}

// RLock takes a shared lock on key; see Locker.
func (m *Memory) RLock(ctx context.Context, key string) (Unlock, error) {
	return m.lock(ctx, key, false)
}

func (m *Memory) lock(ctx context.Context, key string, exclusive bool) (Unlock, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	rw, n := m.keys.acquire(key), weight(exclusive)
	if err := rw.Acquire(ctx, n); err != nil {
		m.keys.release(key)
		return nil, waitErr(key, err)
	}
	return m.unlock(key, rw, n), nil
}

// TryLock takes the exclusive lock on key only if it is free at once.
func (m *Memory) TryLock(key string) (Unlock, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	rw := m.keys.acquire(key)
	if !rw.TryAcquire(maxReaders) {
		m.keys.release(key)
		return nil, lockedErr(key)
	}
	return m.unlock(key, rw, maxReaders), nil
}

func (m *Memory) unlock(key string, rw *semaphore.Weighted, n int64) Unlock {
	return once(func() {
		rw.Release(n)
		m.keys.release(key)
	})
}

// Marker returns key's marker ("" if none).
func (m *Memory) Marker(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.markers[key], nil
}

// SetMarker replaces key's marker; "" clears it. A marker is at most
// MaxMarkerLen bytes and contains no newline, as for File.
func (m *Memory) SetMarker(key, marker string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkMarker(key, marker); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if marker == "" {
		delete(m.markers, key)
	} else {
		m.markers[key] = marker
	}
	return nil
}
