package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Naive is the atomic rewrite that stores without range transactions do
// today: read the whole value, patch it in memory, write a temporary file,
// fsync it, rename it over the value and fsync the directory. Concurrent
// writers of one value would lose each other's updates, so writes to a value
// are serialised by a per-value mutex, which is part of its cost. The mutex
// does not reach other processes, so Naive has no Attach.
type Naive struct{}

// Name returns "naive".
func (Naive) Name() string { return "naive" }

// Setup writes the values as files under dir.
func (Naive) Setup(ctx context.Context, dir string, values int, size int64) (Target, error) {
	if err := createFiles(dir, values, size); err != nil {
		return nil, fmt.Errorf("naive: %w", err)
	}
	return &naiveTarget{dir: dir, mu: make([]sync.Mutex, values)}, nil
}

// Attach fails with ErrSkip: two processes rewriting one value would lose
// each other's updates without a lock shared across processes.
func (Naive) Attach(context.Context, string) (Target, error) {
	return nil, fmt.Errorf("%w: naive read-modify-writes whole files, so writers in two processes lose each other's updates", ErrSkip)
}

type naiveTarget struct {
	dir string
	mu  []sync.Mutex // one per value
}

func (t *naiveTarget) Write(_ context.Context, value int, off int64, data []byte) error {
	t.mu[value].Lock()
	defer t.mu[value].Unlock()
	path := filepath.Join(t.dir, valueKey(value))
	v, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("naive: %w", err)
	}
	copy(v[off:], data)
	tmp := path + ".tmp"
	if err := writeSynced(tmp, v); err != nil {
		return fmt.Errorf("naive: %w", errors.Join(err, os.Remove(tmp)))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("naive: %w", err)
	}
	if err := syncDir(t.dir); err != nil {
		return fmt.Errorf("naive: %w", err)
	}
	return nil
}

func (t *naiveTarget) Close() error { return nil }

// writeSynced creates path with contents b and fsyncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
