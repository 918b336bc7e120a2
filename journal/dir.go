package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

const (
	dbSuffix    = ".db"
	ownerSuffix = ".owner"
)

func dbPath(dir, id string) string    { return filepath.Join(dir, id+dbSuffix) }
func ownerPath(dir, id string) string { return filepath.Join(dir, id+ownerSuffix) }

// checkID accepts only canonical uuid strings, so an id can never name a
// path outside dir.
func checkID(id string) error {
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return fmt.Errorf("%w: journal id %q", ErrInvalid, id)
	}
	return nil
}

// List returns the ids of the journals in dir, sorted. A missing dir holds
// no journals. Files that are not named <uuid>.db are ignored.
func List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: list: %w", err)
	}
	var ids []string
	for _, e := range ents { // ReadDir sorts by name; ids have equal length
		id, ok := strings.CutSuffix(e.Name(), dbSuffix)
		if ok && !e.IsDir() && checkID(id) == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// syncDir makes the directory's entries (creations, removals) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirAll is os.MkdirAll that also syncs the parent of every directory it
// creates: a journal in a directory whose own entry is lost is lost too.
func mkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}
