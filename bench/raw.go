package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Raw is the physical floor: pwrite into the value's file, then fdatasync.
// A crash can leave a write half done; nothing is atomic. Writers of
// disjoint ranges, in any number of processes, need no lock.
type Raw struct{}

// Name returns "raw".
func (Raw) Name() string { return "raw" }

// Setup writes the values as files under dir and opens them.
func (r Raw) Setup(ctx context.Context, dir string, values int, size int64) (Target, error) {
	if err := createFiles(dir, values, size); err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	return r.Attach(ctx, dir)
}

// Attach opens the value files under dir.
func (Raw) Attach(_ context.Context, dir string) (Target, error) {
	var t rawTarget
	for v := 0; ; v++ {
		f, err := os.OpenFile(filepath.Join(dir, valueKey(v)), os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) && v > 0 {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("raw: %w", errors.Join(err, t.Close()))
		}
		t = append(t, f)
	}
}

type rawTarget []*os.File // by value

func (t rawTarget) Write(_ context.Context, value int, off int64, data []byte) error {
	f := t[value]
	if _, err := f.WriteAt(data, off); err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("raw: fdatasync %s: %w", f.Name(), err)
	}
	return nil
}

func (t rawTarget) Close() error {
	var errs []error
	for _, f := range t {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
