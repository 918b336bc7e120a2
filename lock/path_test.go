package lock

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLockPath(t *testing.T) {
	dir := filepath.FromSlash("/locks")
	for key, want := range map[string]string{
		"a":        "a.lock",
		"a/b/c":    "a.d/b.d/c.lock",
		"a.lock/x": "a.lock.d/x.lock",
		"a.d":      "a.d.lock",
		"a.d/b":    "a.d.d/b.lock",
		"..":       "...lock",
	} {
		if got := LockPath(dir, key); got != filepath.Join(dir, filepath.FromSlash(want)) {
			t.Errorf("LockPath(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestLockPathCollisions checks that no key's lock file is another key's lock
// file or lies on the path of one of its directories.
func TestLockPathCollisions(t *testing.T) {
	dir := filepath.FromSlash("/locks")
	keys := []string{
		"a", "b", "a.lock", "a.lock/x", "a.d", "a/b", "a.d/b", "a/b.d",
		"a.d/b.d", "a/b/c", "a.d.d", "a/.d", "x.lock.d", "x.lock.d/y",
		"lock", "d", ".d", ".lock", "a/d", "a/lock",
	}
	files := map[string]string{}
	dirs := map[string]string{}
	for _, key := range keys {
		p := LockPath(dir, key)
		if other, ok := files[p]; ok {
			t.Fatalf("keys %q and %q share lock file %s", key, other, p)
		}
		files[p] = key
		for d := filepath.Dir(p); d != dir; d = filepath.Dir(d) {
			dirs[d] = key
		}
		got, ok := KeyFromLockPath(dir, p)
		if !ok || got != key {
			t.Errorf("KeyFromLockPath(%s) = %q, %v; want %q", p, got, ok, key)
		}
	}
	// Turnstiles collide with nothing either, and are no key's lock file.
	for _, key := range keys {
		p := turnPath(dir, key)
		if other, ok := files[p]; ok {
			t.Fatalf("turnstile of %q is the lock file of %q: %s", key, other, p)
		}
		if other, ok := dirs[p]; ok {
			t.Fatalf("turnstile of %q is a directory of %q's: %s", key, other, p)
		}
		if got, ok := KeyFromLockPath(dir, p); ok {
			t.Errorf("KeyFromLockPath(%s) = %q, want rejection", p, got)
		}
	}
	for p, key := range files {
		if other, ok := dirs[p]; ok {
			t.Errorf("lock file of %q is a directory of %q's: %s", key, other, p)
		}
	}
}

func TestKeyFromLockPathRejects(t *testing.T) {
	dir := filepath.FromSlash("/locks")
	for _, p := range []string{
		"/locks",
		"/locks/a",
		"/locks/a.d",
		"/locks/a/b.lock", // directory without .d
		"/locks/a.d/b",
		"/other/a.lock",
		"/locks/../a.lock",
		"/locks/.lock", // the empty key
		"/locks/a.turn",
		"/locks/a.d/b.turn",
	} {
		if key, ok := KeyFromLockPath(dir, filepath.FromSlash(p)); ok {
			t.Errorf("KeyFromLockPath(%s) = %q, want rejection", p, key)
		}
	}
}

func FuzzLockPath(f *testing.F) {
	for _, k := range []string{"a", "a/b", "a.d/b", "a.lock/x", "..", "a//b"} {
		f.Add(k)
	}
	dir := filepath.FromSlash("/locks")
	f.Fuzz(func(t *testing.T, key string) {
		if checkKey(key) != nil || (filepath.Separator != '/' && strings.ContainsRune(key, filepath.Separator)) {
			return
		}
		p := LockPath(dir, key)
		if !strings.HasSuffix(p, fileExt) {
			t.Fatalf("LockPath(%q) = %s lacks %s", key, p, fileExt)
		}
		if got, ok := KeyFromLockPath(dir, p); !ok || got != key {
			t.Fatalf("KeyFromLockPath(LockPath(%q)) = %q, %v", key, got, ok)
		}
		if tp := turnPath(dir, key); filepath.Dir(tp) != filepath.Dir(p) || !strings.HasSuffix(tp, turnExt) {
			t.Fatalf("turnPath(%q) = %s, not beside %s", key, tp, p)
		} else if got, ok := KeyFromLockPath(dir, tp); ok {
			t.Fatalf("KeyFromLockPath(turnPath(%q)) = %q, want rejection", key, got)
		}
	})
}
