package store

import (
	"fmt"
	"strings"
)

// ReservedDir is the top-level directory a rangetx engine keeps its locks and
// journals in. No key may name it or anything under it.
const ReservedDir = ".rangetx"

// TempMarker appears in the names of temporary files that Put and PatchCopy
// create beside a value. Key segments may not contain it, so recovery can
// never mistake a value for a leftover temporary file.
const TempMarker = ".rangetx-tmp."

// Limits on keys. A segment becomes a file name (plus a short suffix for its
// lock file), so it must stay under the common 255-byte name limit.
const (
	MaxKeyLen     = 4096
	MaxSegmentLen = 240
)

// ValidateKey reports whether key is a well-formed key: a non-empty,
// '/'-separated relative name with no empty, "." or ".." segments, no NUL or
// backslash, no segment longer than MaxSegmentLen, no segment containing
// TempMarker, and not under ReservedDir. The error wraps ErrInvalidKey.
// ValidateKey does not look at the file system; Local also rejects keys whose
// path goes through a symbolic link.
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case strings.HasPrefix(key, "/"):
		return bad("absolute")
	case strings.ContainsRune(key, 0):
		return bad("contains NUL")
	case strings.ContainsRune(key, '\\'):
		return bad("contains a backslash")
	}
	for i, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("empty segment")
		case seg == "." || seg == "..":
			return bad("dot segment")
		case len(seg) > MaxSegmentLen:
			return bad(fmt.Sprintf("segment longer than %d bytes", MaxSegmentLen))
		case strings.Contains(seg, TempMarker):
			return bad("segment looks like a temporary file")
		case i == 0 && seg == ReservedDir:
			return bad("under the reserved " + ReservedDir + " directory")
		}
	}
	return nil
}

// ValidatePrefix is ValidateKey for List prefixes: the empty prefix is valid.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidateKey(strings.TrimSuffix(prefix, "/"))
}
