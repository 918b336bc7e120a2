package shard

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// GzipLevel is the gzip level of the inner gzip codec that CreateArray
// writes in zarr.json and EncodeChunk compresses with.
const GzipLevel = 5

// EncodeChunk encodes one inner chunk as the array's inner codecs say. raw
// holds the chunk's elements, little-endian, C order, for the full
// ChunkShape (an edge chunk is padded with the fill value); its length must
// be ChunkRawBytes, else ErrChunkSize. The result is:
//
//   - bytes: raw itself (a copy);
//   - bytes + crc32c: raw followed by its CRC-32C (Castagnoli) as a
//     little-endian uint32;
//   - bytes + gzip: raw compressed with compress/gzip at GzipLevel.
func (a Array) EncodeChunk(raw []byte) ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if len(raw) != a.ChunkRawBytes() {
		return nil, fmt.Errorf("shard: encode chunk: %d bytes, want %d: %w", len(raw), a.ChunkRawBytes(), ErrChunkSize)
	}
	switch {
	case a.ChunkCRC:
		out := make([]byte, len(raw), len(raw)+4)
		copy(out, raw)
		return binary.LittleEndian.AppendUint32(out, crc32.Checksum(raw, castagnoli)), nil
	case a.Gzip:
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, GzipLevel)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(raw); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	default:
		return bytes.Clone(raw), nil
	}
}

// DecodeChunk is the inverse of EncodeChunk: it returns the chunk's raw
// little-endian elements, ChunkRawBytes long. An encoded chunk of the wrong
// length, a CRC-32C mismatch (always verified), a broken gzip stream or one
// that does not inflate to exactly ChunkRawBytes is ErrCorruptChunk.
func (a Array) DecodeChunk(enc []byte) ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	n := a.ChunkRawBytes()
	switch {
	case a.ChunkCRC:
		if len(enc) != n+4 {
			return nil, fmt.Errorf("%w: %d bytes, want %d (data + CRC-32C)", ErrCorruptChunk, len(enc), n+4)
		}
		data := enc[:n]
		want := binary.LittleEndian.Uint32(enc[n:])
		if got := crc32.Checksum(data, castagnoli); got != want {
			return nil, fmt.Errorf("%w: CRC-32C %#08x, stored %#08x", ErrCorruptChunk, got, want)
		}
		return bytes.Clone(data), nil
	case a.Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(enc))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrCorruptChunk, err)
		}
		// Read one byte more than a chunk holds, to catch an overlong stream
		// without inflating all of it.
		out, err := io.ReadAll(io.LimitReader(zr, int64(n)+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrCorruptChunk, err)
		}
		if len(out) != n {
			return nil, fmt.Errorf("%w: gzip inflates to %s bytes, want %d", ErrCorruptChunk, inflated(len(out), n), n)
		}
		// Reach the end of the stream so its CRC-32 and length are checked.
		if _, err := zr.Read(make([]byte, 1)); err != io.EOF {
			if err == nil {
				err = fmt.Errorf("more than %d bytes", n)
			}
			return nil, fmt.Errorf("%w: gzip: %w", ErrCorruptChunk, err)
		}
		return out, nil
	default:
		if len(enc) != n {
			return nil, fmt.Errorf("%w: %d bytes, want %d", ErrCorruptChunk, len(enc), n)
		}
		return bytes.Clone(enc), nil
	}
}

// inflated describes how many bytes a gzip stream gave, for messages.
func inflated(got, limit int) string {
	if got > limit {
		return fmt.Sprintf("more than %d", limit)
	}
	return fmt.Sprint(got)
}
