package powerloss

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/store/vfs"
)

// Checker watches a Sim's file operations (Op, from the MemFS hook) and the
// journal's durable steps (Journal, from a crashpoint.Failpoint) and records
// a violation whenever the engine breaks an ordering rule of its protocols:
//
//   - a value's file is written or truncated in place while no journal
//     record for that value is durable and unapplied;
//   - a watermark retires a value's last durable record while the value's
//     file has unsynced data;
//   - a file with unsynced data is renamed (over a value);
//   - a value's file is created in place rather than renamed into place.
//
// It is safe for concurrent use.
type Checker struct {
	sim *Sim

	mu         sync.Mutex
	pending    map[string]int // key → durable records not yet marked applied
	violations []string
}

// NewChecker returns a Checker for s. pending seeds the keys that have
// durable, unapplied journal records (nil for none), as a recovery of a
// crashed image inherits them.
func NewChecker(s *Sim, pending map[string]int) *Checker {
	c := &Checker{sim: s, pending: map[string]int{}}
	for k, n := range pending {
		c.pending[k] = n
	}
	return c
}

// Pending returns a copy of the keys with durable, unapplied records.
func (c *Checker) Pending() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.pending))
	for k, n := range c.pending {
		if n > 0 {
			out[k] = n
		}
	}
	return out
}

// Violations returns the violations seen so far.
func (c *Checker) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.violations...)
}

func (c *Checker) violate(format string, args ...any) {
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// valueKey returns the key of the value file at path, if path is one.
func (c *Checker) valueKey(path string) (string, bool) {
	key, ok := c.sim.key(filepath.Clean(path))
	if !ok || store.ValidateKey(key) != nil {
		return "", false
	}
	return key, true
}

// Op checks one file operation before it is applied.
func (c *Checker) Op(op vfs.Op) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch op.Kind {
	case vfs.OpWrite, vfs.OpTruncate:
		if key, ok := c.valueKey(op.Path); ok && c.pending[key] <= 0 {
			c.violate("%v: value %q changed in place with no durable journal record", op, key)
		}
	case vfs.OpCreate:
		if key, ok := c.valueKey(op.Path); ok {
			c.violate("%v: value %q created in place", op, key)
		}
	case vfs.OpRename:
		if c.sim.FS.Unsynced(op.Path) {
			c.violate("%v: renamed a file with unsynced data", op)
		}
	}
}

// Journal checks one journal step (a crashpoint name and its key).
func (c *Checker) Journal(name, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch name {
	case crashpoint.JournalAppended:
		c.pending[key]++
	case crashpoint.JournalDropped:
		// A watermark retired one of key's records. Newer durable records
		// may be mid-apply (the pipeline applies while it records older
		// watermarks), but once none is left the value's file must be
		// synced: its unsynced bytes would belong to no durable record.
		c.pending[key]--
		if c.pending[key] <= 0 && c.sim.FS.Unsynced(filepath.Join(c.sim.Root, filepath.FromSlash(key))) {
			c.violate("watermark of %q retired its last record before its value was synced", key)
		}
	}
}

// IsTemp reports whether a root-relative path names a temporary file.
func IsTemp(rel string) bool { return strings.Contains(rel, store.TempMarker) }
