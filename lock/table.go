package lock

import "sync"

// table maps keys to per-key state that lives only while some goroutine
// holds or waits for the key, so memory does not grow with the number of
// keys ever locked.
type table[V any] struct {
	mu   sync.Mutex
	m    map[string]*entry[V]
	make func(key string) V
}

type entry[V any] struct {
	refs int // holders plus waiters
	v    V
}

// acquire returns key's state, creating it if needed, and counts a reference.
// Every acquire must be paired with one release.
func (t *table[V]) acquire(key string) V {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[key]
	if e == nil {
		if t.m == nil {
			t.m = make(map[string]*entry[V])
		}
		e = &entry[V]{v: t.make(key)}
		t.m[key] = e
	}
	e.refs++
	return e.v
}

// release drops a reference and forgets the state when none are left.
func (t *table[V]) release(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[key]; e != nil {
		if e.refs--; e.refs <= 0 {
			delete(t.m, key)
		}
	}
}

// len reports how many keys have state; tests use it to check for leaks.
func (t *table[V]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
