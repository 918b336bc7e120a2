package crashtest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// CheckClean checks the store under root after the final recovery, with no
// engine open: the journal directory must hold no journal (ID.db) nor any
// other file, and no temporary file of a copy-mode commit may remain.
//
// An owner file ID.owner whose ID.db is gone is returned in orphans rather
// than as a violation: it guards nothing and holds no data. A process
// killed inside journal.Create (after the owner file, before the .db) or
// inside journal.Remove (after the .db was deleted, before the owner file)
// leaves one, and nothing removes it yet.
func CheckClean(root string) (vs []Violation, orphans []string, err error) {
	_, jdir, _ := txn.Layout(root)
	ents, err := os.ReadDir(jdir)
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, fmt.Errorf("crashtest: journal directory: %w", err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".owner"); ok && !names[id+".db"] {
			orphans = append(orphans, e.Name())
			continue
		}
		vs = append(vs, Violation{Kind: KindLeftover, Detail: fmt.Sprintf("journal directory holds %s after recovery", e.Name())})
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == store.ReservedDir && filepath.Dir(path) == filepath.Clean(root) {
			return filepath.SkipDir
		}
		if strings.Contains(d.Name(), store.TempMarker) {
			rel, _ := filepath.Rel(root, path)
			vs = append(vs, Violation{Kind: KindLeftover, Detail: fmt.Sprintf("temporary file %s left after recovery", rel)})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("crashtest: walk %s: %w", root, err)
	}
	return vs, orphans, nil
}
