package txn

import "sort"

// extent is a run of staged bytes.
type extent struct {
	off  int64
	data []byte
}

func (x extent) end() int64 { return x.off + int64(len(x.data)) }

// extents is a transaction's staged writes: sorted by offset, never
// overlapping. Memory is the staged bytes plus one header per extent.
type extents struct {
	list  []extent
	bytes int64
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
	if i < len(s.list) && s.list[i].off <= off && s.list[i].end() >= end {
		copy(s.list[i].data[off-s.list[i].off:], p)
		return
	}
	j := i
	for j < len(s.list) && s.list[j].off < end {
		j++
	}
	// s.list[i:j] overlap [off, end). Keep their parts outside it.
	repl := make([]extent, 0, 3)
	if i < j && s.list[i].off < off {
		x := s.list[i]
		repl = append(repl, extent{x.off, x.data[: off-x.off : off-x.off]})
	}
	repl = append(repl, extent{off, append([]byte(nil), p...)})
	if i < j && s.list[j-1].end() > end {
		x := s.list[j-1]
		repl = append(repl, extent{end, x.data[end-x.off:]})
	}
	for _, x := range s.list[i:j] {
		s.bytes -= int64(len(x.data))
	}
	for _, x := range repl {
		s.bytes += int64(len(x.data))
	}
	s.list = append(s.list[:i], append(repl, s.list[j:]...)...)
}

// truncate drops staged bytes at or past size.
func (s *extents) truncate(size int64) {
	i := s.first(size)
	if i < len(s.list) && s.list[i].off < size {
		x := &s.list[i]
		s.bytes -= x.end() - size
		x.data = x.data[:size-x.off]
		i++
	}
	for _, x := range s.list[i:] {
		s.bytes -= int64(len(x.data))
	}
	s.list = s.list[:i]
}

// overlay copies the staged bytes that fall in [off, off+len(p)) into p.
func (s *extents) overlay(p []byte, off int64) {
	end := off + int64(len(p))
	for i := s.first(off); i < len(s.list) && s.list[i].off < end; i++ {
		x := s.list[i]
		lo, hi := max(x.off, off), min(x.end(), end)
		copy(p[lo-off:hi-off], x.data[lo-x.off:hi-x.off])
	}
}
