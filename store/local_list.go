package store

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
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
	var keys []string
	p := strings.TrimSuffix(prefix, "/")
	start := l.root
	if p != "" {
		var err error
		if start, err = l.path(p); err != nil {
			return nil, l.err("list", prefix, err)
		}
		// The prefix may name a value itself.
		fi, err := l.fs.Lstat(start)
		switch {
		case notExist(err):
			return nil, nil // no such prefix, or removed meanwhile
		case err != nil:
			return nil, l.err("list", prefix, err)
		case fi.Mode().IsRegular():
			return []string{p}, nil
		case !fi.IsDir():
			return nil, nil
		}
	}
	err := l.walk(ctx, start, p, func(key string, d fs.DirEntry) (bool, error) {
		if ValidateKey(key) != nil {
			return false, nil // ReservedDir, a temporary file, a name no key has
		}
		if d.Type().IsRegular() {
			keys = append(keys, key)
		}
		return true, nil
	})
	if err != nil {
		return nil, l.err("list", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// walk visits the tree below dir, whose '/'-separated path relative to the
// root is rel ("" for the root), through l.fs: depth first, each
// directory's entries in name order, without following symbolic links. It
// calls visit for every entry with the entry's root-relative path and
// descends into a directory only if visit returns true; an error from visit
// ends the walk. A directory that vanishes (or stops being one) before it is
// read is skipped: the walk is not a snapshot. It stops with ctx's error as
// soon as ctx is done.
func (l *Local) walk(ctx context.Context, dir, rel string, visit func(rel string, d fs.DirEntry) (bool, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := l.fs.ReadDir(dir)
	if notExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, d := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := d.Name()
		if rel != "" {
			r = rel + "/" + r
		}
		descend, err := visit(r, d)
		if err != nil {
			return err
		}
		// The type is the entry's own (Lstat's): a link is never a directory.
		if descend && d.IsDir() {
			if err := l.walk(ctx, filepath.Join(dir, d.Name()), r, visit); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoveTemp deletes the temporary files (see ParseTempName) under the root
// whose owner isDead reports dead, syncs their directories (FS.SyncDir), and
// returns their root-relative, '/'-separated paths in lexical order. It
// skips the top-level ReservedDir and does not follow symbolic links. Call
// it only when no live process can be renaming one of those files, e.g.
// during recovery, after deciding which owners are gone. On error it returns
// what it removed so far.
func (l *Local) RemoveTemp(ctx context.Context, isDead func(owner string) bool) ([]string, error) {
	var removed []string
	dirs := map[string]bool{}
	err := l.walk(ctx, l.root, "", func(rel string, d fs.DirEntry) (bool, error) {
		if d.IsDir() {
			return rel != ReservedDir, nil
		}
		owner, ok := ParseTempName(d.Name())
		if !ok || !d.Type().IsRegular() || !isDead(owner) {
			return false, nil
		}
		path := filepath.Join(l.root, filepath.FromSlash(rel))
		if err := l.fs.Remove(path); err != nil && !notExist(err) {
			return false, err
		}
		dirs[filepath.Dir(path)] = true
		removed = append(removed, rel)
		return false, nil
	})
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		if serr := l.fs.SyncDir(dir); serr != nil && err == nil {
			err = serr
		}
	}
	slices.Sort(removed)
	if err != nil {
		return removed, fmt.Errorf("store: remove temporary files: %w", err)
	}
	return removed, nil
}
