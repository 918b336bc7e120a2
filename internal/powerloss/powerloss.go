// Package powerloss runs an engine on a simulated file system and builds,
// at any moment, the state a power loss could leave: values from
// vfs.MemFS.Crash, the engine's own files (journals, lock files) copied as
// they are on disk. bbolt's commit is treated as a barrier: a journal file
// is copied only between store operations, when no journal transaction is
// in progress, and it is trusted as it is.
package powerloss

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/store/vfs"
)

// Sim is an engine root whose values live in FS, and whose .rangetx
// directory (journals, lock files) lives on the real disk under Root.
type Sim struct {
	Root string
	FS   *vfs.MemFS
}

// New creates the real directory root (its parent must exist) and a fresh
// MemFS holding root durably. Open an engine on it with
// txn.Options{FS: s.FS}.
func New(root string) (*Sim, error) {
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, err
	}
	m := vfs.NewMem()
	if err := vfs.MkdirAll(m, root, 0o755); err != nil {
		return nil, err
	}
	return &Sim{Root: root, FS: m}, nil
}

// Image is one way of crashing.
type Image struct {
	Mode vfs.CrashMode
	Seed uint64
	// LoseMarkers empties every lock file's marker: lock files are never
	// synced, so a power loss may take their contents away.
	LoseMarkers bool
}

func (im Image) String() string {
	s := [...]string{vfs.DropUnsynced: "durable", vfs.KeepUnsynced: "all", vfs.RandomUnsynced: "random"}[im.Mode]
	if im.Mode == vfs.RandomUnsynced {
		s += fmt.Sprint(im.Seed)
	}
	if im.LoseMarkers {
		s += "-nomarkers"
	}
	return s
}

// Crash returns the state a power loss now could leave, as a new Sim rooted
// at dst, an absent real directory whose parent exists: the values as
// s.FS.Crash leaves them, moved to dst inside the new MemFS, and s.Root's
// .rangetx directory copied to dst. s is not changed.
func (s *Sim) Crash(dst string, im Image) (*Sim, error) {
	img := s.FS.Crash(im.Mode, im.Seed)
	// The crashed MemFS is fully durable; moving the tree and syncing keeps
	// it so, should the image itself be crashed again.
	if err := vfs.MkdirAll(img, filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	if err := img.Rename(s.Root, dst); err != nil {
		return nil, err
	}
	for _, d := range []string{filepath.Dir(s.Root), filepath.Dir(dst)} {
		if err := img.SyncDir(d); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return nil, err
	}
	if err := copyTree(filepath.Join(s.Root, store.ReservedDir), filepath.Join(dst, store.ReservedDir), im.LoseMarkers); err != nil {
		return nil, err
	}
	return &Sim{Root: dst, FS: img}, nil
}

// copyTree copies the regular files and directories under src to dst.
// With loseMarkers, lock files (".lock") are copied empty.
func copyTree(src, dst string, loseMarkers bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		var b []byte
		if !(loseMarkers && strings.HasSuffix(path, ".lock")) {
			if b, err = os.ReadFile(path); err != nil {
				return err
			}
		}
		return os.WriteFile(to, b, 0o644)
	})
}

// Values returns every value under the Sim's root, by key, skipping
// temporary files (see Temps).
func (s *Sim) Values() map[string][]byte {
	out := map[string][]byte{}
	for path, b := range s.FS.Files() {
		key, ok := s.key(path)
		if ok && store.ValidateKey(key) == nil {
			out[key] = b
		}
	}
	return out
}

// Temps returns the root-relative paths of temporary files under the root.
func (s *Sim) Temps() []string {
	var out []string
	for path := range s.FS.Files() {
		if key, ok := s.key(path); ok && strings.Contains(key, store.TempMarker) {
			out = append(out, key)
		}
	}
	return out
}

func (s *Sim) key(path string) (string, bool) {
	rel, err := filepath.Rel(s.Root, path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}
