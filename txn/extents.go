package txn

import "sort"

// extent is a run of staged bytes: data, or, when data is nil, a copy of n
// bytes of the value as the transaction began, from offset src.
type extent struct {
	off  int64
	data []byte
	src  int64
	n    int64
}

func (x extent) isCopy() bool { return x.data == nil }

func (x extent) len() int64 {
	if x.isCopy() {
		return x.n
	}
	return int64(len(x.data))
}

func (x extent) end() int64 { return x.off + x.len() }

// cut returns the part of x in [lo, hi), which must lie inside it.
func (x extent) cut(lo, hi int64) extent {
	if x.isCopy() {
		return extent{off: lo, src: x.src + lo - x.off, n: hi - lo}
	}
	return extent{off: lo, data: x.data[lo-x.off : hi-x.off : hi-x.off]}
}

// extents is a transaction's staged writes: sorted by offset, never
// overlapping. Memory is the staged data bytes plus one header per extent;
// copies cost only their header.
type extents struct {
	list   []extent
	bytes  int64 // data bytes staged
	copies int   // copy extents in list
}

// first returns the index of the first extent that ends after off.
func (s *extents) first(off int64) int {
	return sort.Search(len(s.list), func(i int) bool { return s.list[i].end() > off })
}

// write stages a copy of p at off, replacing whatever it overlaps.
func (s *extents) write(off int64, p []byte) {
	if len(p) == 0 {
		return
	}
	end := off + int64(len(p))
	i := s.first(off)
	// Common case of rewriting inside one staged extent: copy in place.
	if i < len(s.list) && !s.list[i].isCopy() && s.list[i].off <= off && s.list[i].end() >= end {
		copy(s.list[i].data[off-s.list[i].off:], p)
		return
	}
	s.put(i, extent{off: off, data: append([]byte(nil), p...)})
}

// copyFrom stages a copy of n bytes of the base value at src to off.
func (s *extents) copyFrom(off, src, n int64) {
	if n > 0 {
		s.put(s.first(off), extent{off: off, src: src, n: n})
	}
}

// put places x, replacing whatever it overlaps; i is s.first(x.off).
func (s *extents) put(i int, x extent) {
	off, end := x.off, x.end()
	j := i
	for j < len(s.list) && s.list[j].off < end {
		j++
	}
	// s.list[i:j] overlap [off, end). Keep their parts outside it.
	repl := make([]extent, 0, 3)
	if i < j && s.list[i].off < off {
		repl = append(repl, s.list[i].cut(s.list[i].off, off))
	}
	repl = append(repl, x)
	if i < j && s.list[j-1].end() > end {
		repl = append(repl, s.list[j-1].cut(end, s.list[j-1].end()))
	}
	for _, y := range s.list[i:j] {
		s.count(y, -1)
	}
	for _, y := range repl {
		s.count(y, +1)
	}
	s.list = append(s.list[:i], append(repl, s.list[j:]...)...)
}

// count adds (sign +1) or removes (-1) x from the totals.
func (s *extents) count(x extent, sign int) {
	if x.isCopy() {
		s.copies += sign
	} else {
		s.bytes += int64(sign) * x.len()
	}
}

// truncate drops staged bytes at or past size.
func (s *extents) truncate(size int64) {
	i := s.first(size)
	if i < len(s.list) && s.list[i].off < size {
		s.count(s.list[i], -1)
		s.list[i] = s.list[i].cut(s.list[i].off, size)
		s.count(s.list[i], +1)
		i++
	}
	for _, x := range s.list[i:] {
		s.count(x, -1)
	}
	s.list = s.list[:i]
}

// overlay puts the staged bytes that fall in [off, off+len(p)) into p,
// reading copies from the base value with readBase.
func (s *extents) overlay(p []byte, off int64, readBase func(p []byte, off int64) error) error {
	end := off + int64(len(p))
	for i := s.first(off); i < len(s.list) && s.list[i].off < end; i++ {
		lo, hi := max(s.list[i].off, off), min(s.list[i].end(), end)
		x := s.list[i].cut(lo, hi)
		if x.isCopy() {
			if err := readBase(p[lo-off:hi-off], x.src); err != nil {
				return err
			}
		} else {
			copy(p[lo-off:hi-off], x.data)
		}
	}
	return nil
}
