// Package shard writes and reads Zarr v3 shards (the sharding_indexed codec)
// stored as rangetx values, so that changing some inner chunks of a shard is
// one atomic, durable rangetx transaction instead of a read-modify-write of
// the whole shard.
//
// A shard is one value: the encoded inner chunks, in any order and possibly
// with gaps (dead space), and an index at the start or the end of the value.
// The index holds, for each inner chunk in C order, its byte offset from the
// start of the value and its length, as little-endian uint64s; an empty
// chunk has both set to 2^64-1. With Layout.IndexCRC the index is followed by
// the CRC-32C (Castagnoli) of those bytes as a little-endian uint32.
//
// What is guaranteed:
//
//   - Each Update is one rangetx transaction (txn.Do) on the shard's key: all
//     of its Puts and Deletes and the new index commit together or not at
//     all, the result is durable when Update returns nil, and it is
//     serialised with every other transaction on the shard, in this process
//     or any other that opened an engine on the same root. Concurrent
//     Updates of different inner chunks therefore never lose each other's
//     writes.
//   - Read, ReadAll, Inspect and DeadSpace read under Engine.View: they see
//     whole Updates and Compacts only, never part of one.
//   - Compact rewrites the shard in one copy-mode transaction: readers see
//     the old shard or the new one.
//   - The index CRC, when the layout has one, is always verified; a shard
//     whose index fails it, or whose index points outside the shard, is
//     reported as ErrCorruptIndex and never written to.
//
// Writing is append-only except for one case: a Put of exactly as many bytes
// as the chunk already has overwrites it in place (with fixed-size inner
// codecs every Put after the first is such a case). Other Puts append the
// chunk after the data and leave the old bytes as dead space, which Compact
// reclaims. The index keeps its full size at all times.
//
// On top of shards sits a minimal Zarr v3 array writer: Array describes an
// array whose chunks are shards (data type, shape, shard and inner chunk
// shapes, index location, inner codecs bytes, bytes+crc32c or bytes+gzip,
// fill value); CreateArray writes its zarr.json (and the groups above it),
// and PutChunk, GetChunk, DeleteChunk and WriteArray move raw little-endian
// elements in and out of inner chunks, one shard Update per shard. Those
// arrays are read back by zarrita in the interop tests.
package shard
