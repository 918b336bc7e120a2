package store

import "errors"

// Errors returned by stores. They are always wrapped with the key and the
// cause; test for them with errors.Is.
var (
	// ErrNotFound means the key names no value.
	ErrNotFound = errors.New("store: value not found")
	// ErrInvalidKey means the key is malformed, escapes the store's root, or
	// names the engine's reserved ".rangetx" directory.
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrInvalidRange means an offset or length is negative, overflows, or
	// reaches past the end of the value where that is not allowed.
	ErrInvalidRange = errors.New("store: invalid range")
)
