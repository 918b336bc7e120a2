package lock

import (
	"path/filepath"
	"strings"
)

// Suffixes of lock file names. Every directory segment of a key gets dirExt
// and the last segment gets fileExt, so a lock file can never have the path
// of another key's lock directory: "a" locks a.lock, "a/b" locks a.d/b.lock.
// A key's writer turnstile sits beside its lock file with turnExt instead of
// fileExt (a.d/b.turn); the three suffixes differ, so it can be neither
// another key's lock file nor one of its directories.
const (
	dirExt  = ".d"
	fileExt = ".lock"
	turnExt = ".turn"
)

// LockPath returns the path of key's lock file under dir: each '/'-separated
// segment but the last gets the suffix ".d" and the last gets ".lock", so
// "a/b/c" maps to dir/a.d/b.d/c.lock. Distinct keys map to distinct paths,
// and KeyFromLockPath inverts the mapping.
func LockPath(dir, key string) string {
	segs := strings.Split(key, "/")
	for i := range segs[:len(segs)-1] {
		segs[i] += dirExt
	}
	segs[len(segs)-1] += fileExt
	return filepath.Join(dir, filepath.Join(segs...))
}

// turnPath returns the path of key's turnstile file under dir (see File).
func turnPath(dir, key string) string {
	return strings.TrimSuffix(LockPath(dir, key), fileExt) + turnExt
}

// KeyFromLockPath returns the key whose lock file under dir is path, and
// false if path is not such a lock file (a turnstile file is not).
func KeyFromLockPath(dir, path string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return "", false
	}
	segs := strings.Split(filepath.ToSlash(rel), "/")
	last := len(segs) - 1
	for i, seg := range segs {
		ext := dirExt
		if i == last {
			ext = fileExt
		}
		seg, ok := strings.CutSuffix(seg, ext)
		if !ok {
			return "", false
		}
		segs[i] = seg
	}
	key := strings.Join(segs, "/")
	if checkKey(key) != nil || LockPath(dir, key) != filepath.Join(dir, rel) {
		return "", false
	}
	return key, true
}
