package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rangetx/rangetx/store/vfs"
)

// Temporary files are named
//
//	"." + base + TempMarker + owner + "." + 16 hex digits
//
// in the directory of the value they will replace. base is the value's file
// name, shortened if needed to keep the whole name within maxNameLen. The
// owner has no dots, so the last TempMarker in a name always precedes it.
const (
	maxNameLen  = 255
	maxOwnerLen = 64
)

// ParseTempName reports whether name (a file name, not a path) is a
// temporary file left by Put or PatchCopy, and which owner (see WithOwner)
// created it. Recovery uses it to find leftovers of dead processes.
func ParseTempName(name string) (owner string, ok bool) {
	if !strings.HasPrefix(name, ".") {
		return "", false
	}
	dot := strings.LastIndexByte(name, '.')
	if !isHex(name[dot+1:]) {
		return "", false
	}
	rest := name[:dot]
	i := strings.LastIndex(rest, TempMarker)
	if i < 1 {
		return "", false
	}
	owner = rest[i+len(TempMarker):]
	if validOwner(owner) != nil {
		return "", false
	}
	return owner, true
}

// tempName returns a fresh temporary file name for a value named base.
func tempName(base, owner string) string {
	var r [8]byte
	rand.Read(r[:])
	suffix := TempMarker + owner + "." + hex.EncodeToString(r[:])
	if n := maxNameLen - 1 - len(suffix); len(base) > n {
		base = base[:n]
	}
	return "." + base + suffix
}

// validOwner checks an owner id: 1 to maxOwnerLen ASCII letters, digits, '-'
// or '_', so that it fits in a file name and parses back unambiguously.
func validOwner(id string) error {
	if id == "" || len(id) > maxOwnerLen {
		return fmt.Errorf("store: owner %q: must be 1 to %d bytes", id, maxOwnerLen)
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("store: owner %q: only letters, digits, '-' and '_' allowed", id)
		}
	}
	return nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// replace atomically and durably swaps the file at path for a new one that
// fill writes, following the copy-mode order: temp file beside path (O_EXCL),
// fill, fsync, close, rename over path, fsync the directory.
//
// The new file gets mode exactly if keep is set, else mode less the umask.
// Until the rename path is untouched, and on any error before it the temp
// file is removed. An error from the final directory fsync is
// ErrNotDurable: the new value is in place but may not survive a power loss.
func (l *Local) replace(ctx context.Context, path string, mode fs.FileMode, keep bool, fill func(vfs.File) error) (err error) {
	f, err := l.createTemp(path, mode)
	if err != nil {
		return err
	}
	tmp, renamed := f.Name(), false
	defer func() {
		if err != nil && !renamed {
			f.Close() // may be closed already; the error does not matter
			l.fs.Remove(tmp)
		}
	}()
	if keep {
		if err := f.Chmod(mode); err != nil {
			return err
		}
	}
	if err := fill(f); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.fs.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	if err := l.fs.SyncDir(filepath.Dir(path)); err != nil {
		return notDurable(err)
	}
	return nil
}

// createTemp creates a new temporary file beside path with O_EXCL, so it
// never opens a file someone else made.
func (l *Local) createTemp(path string, mode fs.FileMode) (vfs.File, error) {
	dir, base := filepath.Split(path)
	for range 10 {
		f, err := l.fs.OpenFile(filepath.Join(dir, tempName(base, l.owner)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("store: no unused temporary name beside %s", path)
}
