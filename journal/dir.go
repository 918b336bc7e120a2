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
