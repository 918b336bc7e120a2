package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// List returns the keys under prefix in lexical order; a trailing '/' on
// the prefix is ignored. It lists regular files only, skipping the
// top-level ReservedDir, temporary files, files whose names are not valid
// keys, and symbolic links (which it does not follow), so every key listed
// can be used. A prefix through a symbolic link is ErrInvalidKey. List is
// not a snapshot: keys changed while it runs may or may not appear.
func (l *Local) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, l.err("list", prefix, err)
	}
	if err := ValidatePrefix(prefix); err != nil {
		return nil, l.err("list", prefix, err)
	}
	start := l.root
	if p := strings.TrimSuffix(prefix, "/"); p != "" {
		var err error
		if start, err = l.path(p); err != nil {
			return nil, l.err("list", prefix, err)
		}
	}
	var keys []string
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil // removed meanwhile, or no such prefix
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		key, ok := l.key(path)
		switch {
		case !ok && d.IsDir() && path != l.root:
			return filepath.SkipDir
		case !ok || d.IsDir():
		case d.Type().IsRegular():
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, l.err("list", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// key returns the key of path and whether it is a valid one; ReservedDir
// and temporary files are not.
func (l *Local) key(path string) (string, bool) {
	rel, err := filepath.Rel(l.root, path)
	if err != nil {
		return "", false
	}
	key := filepath.ToSlash(rel)
	return key, ValidateKey(key) == nil
}

// RemoveTemp deletes the temporary files (see ParseTempName) under the root
// whose owner isDead reports dead, fsyncs their directories, and returns
// their root-relative, '/'-separated paths in lexical order. It skips the
// top-level ReservedDir and does not follow symbolic links. Call it only
// when no live process can be renaming one of those files, e.g. during
// recovery, after deciding which owners are gone. On error it returns what
// it removed so far.
func (l *Local) RemoveTemp(ctx context.Context, isDead func(owner string) bool) ([]string, error) {
	var removed []string
	dirs := map[string]bool{}
	err := filepath.WalkDir(l.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if path == filepath.Join(l.root, ReservedDir) {
				return filepath.SkipDir
			}
			return nil
		}
		owner, ok := ParseTempName(d.Name())
		if !ok || !d.Type().IsRegular() || !isDead(owner) {
			return nil
		}
		if err := os.Remove(path); err != nil && !notExist(err) {
			return err
		}
		dirs[filepath.Dir(path)] = true
		rel, _ := filepath.Rel(l.root, path)
		removed = append(removed, filepath.ToSlash(rel))
		return nil
	})
	for dir := range dirs {
		if serr := syncDir(dir); serr != nil && err == nil {
			err = serr
		}
	}
	slices.Sort(removed)
	if err != nil {
		return removed, fmt.Errorf("store: remove temporary files: %w", err)
	}
	return removed, nil
}
