package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/google/uuid"
)

// MaxKeyLen is the longest value key a record may carry, in bytes.
const MaxKeyLen = 4096

// Encoding, little endian:
//
//	"RTXJ" | version u8 | txid [16] | lsn u64 | baseSize, minSize, size i64 |
//	keyLen u32 | key | count u32 | count × (off i64 | len u64 | data) | crc32c u32
//
// The CRC32C covers every byte before it.
const (
	magic      = "RTXJ"
	version    = 1
	offVersion = 4
	offTxID    = 5
	offLSN     = 21
	offBase    = 29
	offMin     = 37
	offSize    = 45
	offKeyLen  = 53
	headerLen  = 57                    // up to the key
	minLen     = headerLen + 1 + 4 + 4 // one key byte, range count, crc
	rangeHdr   = 16                    // off + len
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Range is an after-image: Data is to be written at Off.
type Range struct {
	Off  int64
	Data []byte
}

// Record is one committed transaction on one value: cut the value to
// MinSize, resize it to Size, then write Ranges. Replaying it is idempotent.
//
// A valid record has a key of 1 to MaxKeyLen bytes;
// 0 ≤ MinSize ≤ BaseSize and MinSize ≤ Size; and Ranges sorted by Off,
// non-overlapping, each with 0 ≤ Off and Off+len(Data) ≤ Size. Empty
// ranges are allowed and mean nothing.
type Record struct {
	TxID     uuid.UUID
	LSN      uint64 // assigned by Append
	Key      string
	BaseSize int64 // value size when the transaction began
	MinSize  int64 // smallest size the transaction cut the value to
	Size     int64 // final size
	Ranges   []Range
}

// Bytes returns the total length of the after-images.
func (r *Record) Bytes() int64 {
	var n int64
	for _, rg := range r.Ranges {
		n += int64(len(rg.Data))
	}
	return n
}

// check returns why r is not a valid record, or "".
func (r *Record) check() string { return r.checkLens(nil) }

// checkLens is check with the ranges' lengths taken from lens when it is
// not nil (a reference record, whose Data is not loaded yet).
func (r *Record) checkLens(lens []int64) string {
	switch {
	case r.Key == "":
		return "empty key"
	case len(r.Key) > MaxKeyLen:
		return fmt.Sprintf("key of %d bytes exceeds %d", len(r.Key), MaxKeyLen)
	case r.BaseSize < 0 || r.MinSize < 0 || r.Size < 0:
		return fmt.Sprintf("negative size (base %d, min %d, size %d)", r.BaseSize, r.MinSize, r.Size)
	case r.MinSize > r.BaseSize || r.MinSize > r.Size:
		return fmt.Sprintf("min size %d exceeds base size %d or size %d", r.MinSize, r.BaseSize, r.Size)
	}
	var end int64 // end of the previous range
	for i, rg := range r.Ranges {
		n := int64(len(rg.Data))
		if lens != nil {
			n = lens[i]
		}
		switch {
		case rg.Off < end:
			return fmt.Sprintf("range %d at %d overlaps or precedes the one before", i, rg.Off)
		case rg.Off > r.Size || n > r.Size-rg.Off:
			return fmt.Sprintf("range %d [%d, +%d) outside size %d", i, rg.Off, n, r.Size)
		}
		end = rg.Off + n
	}
	return ""
}

func (r *Record) encodedLen() int {
	n := headerLen + len(r.Key) + 4 + 4
	for _, rg := range r.Ranges {
		n += rangeHdr + len(rg.Data)
	}
	return n
}

// AppendBinary appends r's encoding to b. It implements
// encoding.BinaryAppender. An invalid record is ErrInvalid and b is
// returned unchanged.
func (r *Record) AppendBinary(b []byte) ([]byte, error) {
	if why := r.check(); why != "" {
		return b, fmt.Errorf("%w: record: %s", ErrInvalid, why)
	}
	return r.appendTo(slices.Grow(b, r.encodedLen())), nil
}

// MarshalBinary encodes r into a new slice of exactly the encoded size.
func (r *Record) MarshalBinary() ([]byte, error) {
	if why := r.check(); why != "" {
		return nil, fmt.Errorf("%w: record: %s", ErrInvalid, why)
	}
	return r.appendTo(make([]byte, 0, r.encodedLen())), nil
}

// appendHead encodes a checked record's fields up to and including its
// range count, as version ver.
func (r *Record) appendHead(b []byte, ver byte) []byte {
	le := binary.LittleEndian
	b = append(b, magic...)
	b = append(b, ver)
	b = append(b, r.TxID[:]...)
	b = le.AppendUint64(b, r.LSN)
	b = le.AppendUint64(b, uint64(r.BaseSize))
	b = le.AppendUint64(b, uint64(r.MinSize))
	b = le.AppendUint64(b, uint64(r.Size))
	b = le.AppendUint32(b, uint32(len(r.Key)))
	b = append(b, r.Key...)
	return le.AppendUint32(b, uint32(len(r.Ranges)))
}

// appendTo encodes a checked record.
func (r *Record) appendTo(b []byte) []byte {
	start := len(b)
	le := binary.LittleEndian
	b = r.appendHead(b, version)
	for _, rg := range r.Ranges {
		b = le.AppendUint64(b, uint64(rg.Off))
		b = le.AppendUint64(b, uint64(len(rg.Data)))
		b = append(b, rg.Data...)
	}
	return le.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// UnmarshalBinary decodes a record encoded by MarshalBinary, copying
// everything it keeps out of b. Any damage (checksum, truncation, trailing
// bytes, unknown version, a field that breaks the rules listed on Record)
// is ErrCorrupt, naming the LSN when the header is readable; r is then left
// unchanged.
func (r *Record) UnmarshalBinary(b []byte) error {
	var d Record
	if err := parse(b, &d); err != nil {
		return err
	}
	d.cloneData()
	*r = d
	return nil
}

// cloneData moves r's after-images into one new buffer, so r no longer
// refers to memory it was decoded from (bbolt's mmap, a caller's slice).
func (r *Record) cloneData() {
	buf := make([]byte, 0, r.Bytes())
	for i, rg := range r.Ranges {
		start := len(buf)
		buf = append(buf, rg.Data...)
		r.Ranges[i].Data = buf[start:len(buf):len(buf)]
	}
}

// setLSN rewrites the LSN of an encoded record in place and reseals it.
func setLSN(b []byte, lsn uint64) {
	binary.LittleEndian.PutUint64(b[offLSN:], lsn)
	n := len(b) - 4
	binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
}

// parse decodes and verifies a whole record (version 1) in b into r
// without copying: r's Data slices alias b. Every length is checked
// against the bytes left before anything is sized by it.
func parse(b []byte, r *Record) error {
	ref, err := parseEntry(b, r)
	if err == nil && ref != nil {
		return corrupt(b, "a reference record where a whole one is needed")
	}
	return err
}

// parseEntry decodes and verifies a stored entry in b into r: a whole
// record (version 1), returning a nil ref, or a reference record (version
// 2, see segment.go), returning where its after-images lie; r's Data is
// then nil until loaded.
func parseEntry(b []byte, r *Record) (*segRef, error) {
	le := binary.LittleEndian
	if len(b) < offLSN || string(b[:len(magic)]) != magic {
		return nil, corrupt(b, "bad magic or truncated header (%d bytes)", len(b))
	}
	ver := b[offVersion]
	if ver != version && ver != refVersion {
		return nil, corrupt(b, "unknown version %d", ver)
	}
	if len(b) < minLen {
		return nil, corrupt(b, "truncated: %d bytes", len(b))
	}
	body := b[:len(b)-4]
	if sum, want := crc32.Checksum(body, castagnoli), le.Uint32(b[len(body):]); sum != want {
		return nil, corrupt(b, "checksum %08x, want %08x", sum, want)
	}

	var d Record
	copy(d.TxID[:], body[offTxID:])
	d.LSN = le.Uint64(body[offLSN:])
	d.BaseSize = int64(le.Uint64(body[offBase:]))
	d.MinSize = int64(le.Uint64(body[offMin:]))
	d.Size = int64(le.Uint64(body[offSize:]))
	keyLen := le.Uint32(body[offKeyLen:])
	p := body[headerLen:]
	if keyLen > MaxKeyLen || int64(keyLen) > int64(len(p)) {
		return nil, corrupt(b, "key length %d", keyLen)
	}
	d.Key = string(p[:keyLen])
	p = p[keyLen:]
	if len(p) < 4 {
		return nil, corrupt(b, "truncated before range count")
	}
	count := le.Uint32(p)
	p = p[4:]
	if int64(count) > int64(len(p)/rangeHdr) {
		return nil, corrupt(b, "range count %d exceeds the %d bytes left", count, len(p))
	}
	if count > 0 {
		d.Ranges = make([]Range, count)
	}
	var ref *segRef
	if ver == refVersion {
		ref = &segRef{lens: make([]int64, count)}
	}
	for i := range d.Ranges {
		if len(p) < rangeHdr {
			return nil, corrupt(b, "range %d: truncated", i)
		}
		off, n := int64(le.Uint64(p)), le.Uint64(p[8:])
		p = p[rangeHdr:]
		if ref != nil {
			if n > maxRefBytes || ref.n+int64(n) > maxRefBytes {
				return nil, corrupt(b, "range %d: length %d", i, n)
			}
			d.Ranges[i].Off, ref.lens[i] = off, int64(n)
			ref.n += int64(n)
			continue
		}
		if n > uint64(len(p)) {
			return nil, corrupt(b, "range %d: length %d exceeds the %d bytes left", i, n, len(p))
		}
		d.Ranges[i] = Range{Off: off, Data: p[:n:n]}
		p = p[n:]
	}
	if ref != nil {
		if len(p) < refTail {
			return nil, corrupt(b, "truncated segment reference")
		}
		ref.seg, ref.off, ref.crc = le.Uint32(p), int64(le.Uint64(p[4:])), le.Uint32(p[12:])
		p = p[refTail:]
		if ref.seg >= segments || ref.off < 0 || ref.off > maxRefBytes*segments {
			return nil, corrupt(b, "segment reference %d at %d", ref.seg, ref.off)
		}
	}
	if len(p) != 0 {
		return nil, corrupt(b, "%d trailing bytes", len(p))
	}
	var lens []int64
	if ref != nil {
		lens = ref.lens
	}
	if why := d.checkLens(lens); why != "" {
		return nil, corrupt(b, "%s", why)
	}
	*r = d
	return ref, nil
}

// corrupt returns an ErrCorrupt naming the LSN when b's header shows one.
func corrupt(b []byte, format string, args ...any) error {
	why := fmt.Sprintf(format, args...)
	if len(b) >= offLSN+8 && string(b[:len(magic)]) == magic && (b[offVersion] == version || b[offVersion] == refVersion) {
		return fmt.Errorf("%w: lsn %d: %s", ErrCorrupt, binary.LittleEndian.Uint64(b[offLSN:]), why)
	}
	return fmt.Errorf("%w: %s", ErrCorrupt, why)
}
