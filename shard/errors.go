package shard

import "errors"

// Errors returned by this package. They are wrapped with the shard's key,
// the coordinates or the entry concerned; test for them with errors.Is.
// Errors of the txn and store packages pass through wrapped as well.
var (
	// ErrInvalidLayout means a Layout breaks the rules listed on
	// Layout.Validate.
	ErrInvalidLayout = errors.New("shard: invalid layout")

	// ErrInvalidCoords means inner-chunk coordinates have the wrong rank
	// or lie outside the shard.
	ErrInvalidCoords = errors.New("shard: invalid inner chunk coordinates")

	// ErrChunkSize means a Put's data is not Layout.ChunkBytes long when the
	// layout fixes the encoded chunk size.
	ErrChunkSize = errors.New("shard: wrong encoded chunk size")

	// ErrCorruptIndex means a shard's index cannot be trusted: the value is
	// shorter than the index, the index has the wrong length, its CRC-32C
	// does not match, or an entry is neither empty nor inside the shard's
	// data region. Nothing is written to such a shard.
	ErrCorruptIndex = errors.New("shard: corrupt index")

	// ErrWriterDone is returned by the methods of a Writer after the
	// function given to Update has returned.
	ErrWriterDone = errors.New("shard: writer used after its Update returned")
)
