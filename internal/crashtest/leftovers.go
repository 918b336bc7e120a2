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
// engine open: the journal directory must hold no file at all — no journal
// (ID.db) and no owner file (ID.owner, which recovery removes even when a
// process killed inside journal.Create or Remove left it without its
// journal) — and no temporary file of a copy-mode commit may remain.
func CheckClean(root string) (vs []Violation, err error) {
	_, jdir, _ := txn.Layout(root)
	ents, err := os.ReadDir(jdir)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("crashtest: journal directory: %w", err)
	}
	for _, e := range ents {
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
		return nil, fmt.Errorf("crashtest: walk %s: %w", root, err)
	}
	return vs, nil
}
