package store

import "errors"

// Errors returned by stores. They are always wrapped with the key and the
// cause; test for them with errors.Is.
var (
	// ErrNotFound means the key names no value.
	ErrNotFound = errors.New("store: value not found")
	// ErrInvalidKey means the key is malformed, names the engine's reserved
	// ".rangetx" directory, or (Local) goes through a symbolic link. Put and
	// PatchCopy also return it for a key that cannot hold a value: one
	// naming a directory, or one below a value (a file where a parent
	// directory would be); reading such a key is ErrNotFound.
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrInvalidRange means an offset or length is negative, overflows, or
	// reaches past the end of the value where that is not allowed.
	ErrInvalidRange = errors.New("store: invalid range")
	// ErrNotDurable is returned, wrapped together with the OS cause, when
	// Put, PatchCopy or Delete has already made its change visible (the
	// rename or unlink is done) but the directory fsync that follows failed:
	// later calls see the change, but it may or may not survive a power
	// loss. Do not assume the old value is still in place.
	ErrNotDurable = errors.New("store: change made but not known to be durable")
)
