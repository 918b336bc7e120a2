package lock

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxMarkerLen is the longest holder marker SetMarker accepts, in bytes.
// Markers name things (a journal, a transaction); they are not payloads.
const MaxMarkerLen = 256

// checkMarker refuses markers the file encoding cannot hold.
func checkMarker(key, m string) error {
	switch {
	case len(m) > MaxMarkerLen:
		return fmt.Errorf("lock: marker for %q is %d bytes, longer than %d", key, len(m), MaxMarkerLen)
	case strings.ContainsRune(m, '\n'):
		return fmt.Errorf("lock: marker for %q contains a newline", key)
	}
	return nil
}

// encodeMarker returns the lock file content for m. A marker ends in a
// newline so that a process killed between the write and the truncate of
// SetMarker leaves a file that still decodes to the new marker, not to the
// new one followed by the tail of the old.
func encodeMarker(m string) []byte {
	if m == "" {
		return nil
	}
	return []byte(m + "\n")
}

// ErrBadMarker means a lock file's content is not a marker SetMarker could
// have written: a power loss tore it (markers are not synced).
var ErrBadMarker = errors.New("lock: malformed marker")

// decodeMarker is the inverse of encodeMarker.
func decodeMarker(key string, b []byte) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 || i > MaxMarkerLen {
		return "", fmt.Errorf("%w for %q: no newline in the first %d bytes", ErrBadMarker, key, MaxMarkerLen+1)
	}
	return string(b[:i]), nil
}
