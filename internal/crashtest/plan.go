package crashtest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"

	"github.com/rangetx/rangetx/txn"
)

// maxPayload bounds the payload of one range.
const maxPayload = 64 << 10

// Plan is one transaction of the model: an optional resize, then the value
// header at offset 0 and one to three ranges. Range 1 lies in the second
// half of the value (far from the header); ranges 2 and 3, if any, in the
// first half. Ranges never overlap.
type Plan struct {
	Value  int      // index into Model.Values
	Seq    uint64   // the transaction's sequence number on its value, from 1
	Mode   txn.Mode // commit mode the transaction asks for
	Resize bool     // the transaction resizes the value to Size first
	Size   int64    // the value's size after the transaction
	Ranges []Range  // Ranges[0] is the value header
}

// Range is where one range of a plan lies.
type Range struct {
	Index int // 0 for the value header
	Off   int64
	Len   int64
}

// End returns the offset just past the range.
func (r Range) End() int64 { return r.Off + r.Len }

// Plan returns transaction seq (≥ 1) on value i, whose size before it is
// sizeBefore. Everything but the size comes from (seed, value, seq) alone;
// without a resize the ranges are placed within sizeBefore. So the plan of
// the last transaction applied can also be recomputed from the size after
// it, as recorded in the value header.
func (m *Model) Plan(i int, seq uint64, sizeBefore int64) Plan {
	rng := rand.New(rand.NewPCG(mix(m.Seed, uint64(m.tags[i])), seq))
	p := Plan{Value: i, Seq: seq, Size: sizeBefore}
	initial := m.Values[i].Size
	if rng.IntN(8) == 0 {
		lo, hi := initial/2, initial*2
		p.Resize, p.Size = true, lo+rng.Int64N(hi-lo+1)
	}
	p.Mode = m.modes[rng.IntN(len(m.modes))]
	size := p.Size
	maxLen := min(max(size/8, rangeHeaderSize), rangeHeaderSize+maxPayload)
	length := func(room int64) int64 {
		n := rangeHeaderSize + rng.Int64N(maxLen-rangeHeaderSize+1)
		return min(n, room)
	}
	p.Ranges = []Range{{Index: 0, Off: 0, Len: HeaderSize}}
	// Range 1: the second half.
	half := size / 2
	n := length(size - half)
	p.Ranges = append(p.Ranges, Range{Index: 1, Off: half + rng.Int64N(size-half-n+1), Len: n})
	// Ranges 2 and 3: one segment each of the first half, after the header.
	extra := rng.IntN(3)
	if extra > 0 {
		seg := (half - HeaderSize) / int64(extra)
		for k := range extra {
			n := length(seg)
			start := HeaderSize + int64(k)*seg
			p.Ranges = append(p.Ranges, Range{Index: 2 + k, Off: start + rng.Int64N(seg-n+1), Len: n})
		}
	}
	return p
}

// Data returns the bytes range r of plan p writes.
func (m *Model) Data(p Plan, r Range) []byte {
	if r.Index == 0 {
		return encodeHeader(Header{Seq: p.Seq, Size: p.Size, Tag: m.tags[p.Value]})
	}
	b := make([]byte, r.Len)
	payload := b[rangeHeaderSize:]
	m.fill(payload, uint64(m.tags[p.Value]), p.Seq, uint64(r.Index))
	copy(b, rangeMagic)
	binary.LittleEndian.PutUint64(b[8:], p.Seq)
	binary.LittleEndian.PutUint32(b[16:], m.tags[p.Value])
	binary.LittleEndian.PutUint32(b[20:], uint32(r.Index))
	binary.LittleEndian.PutUint32(b[24:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(payload, castagnoli))
	return b
}

// Apply returns v after plan p: resized (shrinking drops bytes, growing
// adds zeros) and with every range written. It may reuse v's memory.
func (m *Model) Apply(v []byte, p Plan) []byte {
	if p.Resize {
		v = resize(v, p.Size)
	}
	for _, r := range p.Ranges {
		copy(v[r.Off:r.End()], m.Data(p, r))
	}
	return v
}

func resize(v []byte, size int64) []byte {
	switch {
	case size <= int64(len(v)):
		return v[:size]
	case size <= int64(cap(v)):
		n := len(v)
		v = v[:size]
		clear(v[n:])
		return v
	}
	w := make([]byte, size)
	copy(w, v)
	return w
}

// History is the sequence of transactions 1..n on one value, as computed
// from the model: Plans[s-1] is transaction s.
type History struct {
	Value int
	Plans []Plan
}

// Replay returns value i's content after its transactions 1..n and their
// plans.
func (m *Model) Replay(i int, n uint64) ([]byte, History) {
	v := m.Initial(i)
	h := History{Value: i, Plans: make([]Plan, 0, n)}
	for s := uint64(1); s <= n; s++ {
		p := m.Plan(i, s, int64(len(v)))
		v = m.Apply(v, p)
		h.Plans = append(h.Plans, p)
	}
	return v, h
}

// String describes the plan in one line, for diagnostics.
func (p Plan) String() string {
	s := fmt.Sprintf("seq %d (%s", p.Seq, p.Mode)
	if p.Resize {
		s += fmt.Sprintf(", resize to %d", p.Size)
	}
	s += ", ranges"
	for _, r := range p.Ranges {
		s += fmt.Sprintf(" %d@[%d,%d)", r.Index, r.Off, r.End())
	}
	return s + ")"
}
