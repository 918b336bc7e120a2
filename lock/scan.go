package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Status describes one lock file found by Scan.
type Status struct {
	Key    string // the key the lock file belongs to
	Held   bool   // some process held the lock when it was probed
	Marker string // the key's marker, read without the lock
}

// Scan reports every lock file under dir, sorted by key, for inspection.
// A missing dir holds no locks.
//
// Scan is a snapshot and takes no lock for longer than a probe: to tell
// whether a key is held it takes the exclusive flock without waiting and
// releases it at once, so a concurrent TryLock on that key, in any process,
// may fail spuriously. Markers are read without the lock: a marker being
// written at that moment may be reported torn.
func Scan(ctx context.Context, dir string) ([]Status, error) {
	var out []Status
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		key, ok := KeyFromLockPath(dir, path)
		if !ok {
			return nil
		}
		held, err := probe(path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m, _, _ := bytes.Cut(b, []byte("\n"))
		out = append(out, Status{Key: key, Held: held, Marker: string(m)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock: scan %s: %w", dir, err)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// probe reports whether path is flocked by anyone, including this process.
func probe(path string) (bool, error) {
	fl := newFlock(path)
	ok, err := fl.TryLock()
	if err != nil {
		return false, err
	}
	if ok {
		return false, fl.Unlock()
	}
	return true, nil
}
