package shard

import "errors"

// Errors of the array layer (Array, CreateArray, OpenArray and the chunk
// functions). Like the package's other errors they are wrapped with the
// path, key or coordinates concerned; test for them with errors.Is.
var (
	// ErrInvalidArray means an Array, a data type, an array path or a fill
	// value breaks the rules listed on Array.Validate.
	ErrInvalidArray = errors.New("shard: invalid array")

	// ErrArrayExists means CreateArray found a node (an array or a group
	// zarr.json) or stored values already at the array's path.
	ErrArrayExists = errors.New("shard: array already exists")

	// ErrNotArray means OpenArray found no zarr.json at the path, or one
	// that does not describe an array this package writes: Zarr v3, a
	// supported data type, a regular chunk grid, the default "/" chunk key
	// encoding and a single sharding_indexed codec with one of the inner
	// codec chains of Array and the index codecs [bytes, crc32c].
	ErrNotArray = errors.New("shard: not a sharded array of this package")

	// ErrCorruptChunk means an encoded inner chunk cannot be decoded: its
	// CRC-32C does not match, its gzip stream is broken, or it decodes to
	// the wrong number of bytes.
	ErrCorruptChunk = errors.New("shard: corrupt inner chunk")
)
