package store

import "fmt"

// check reports whether p is well formed: 0 <= MinSize <= Size and every
// range lies inside [0, Size) without overflowing. The error wraps
// ErrInvalidRange. Stores call it before touching anything.
func (p Patch) check() error {
	if p.MinSize < 0 || p.MinSize > p.Size {
		return fmt.Errorf("%w: patch min size %d, size %d", ErrInvalidRange, p.MinSize, p.Size)
	}
	for i, r := range p.Ranges {
		if err := checkRange(r.Off, len(r.Data), p.Size); err != nil {
			return fmt.Errorf("patch range %d: %w", i, err)
		}
	}
	return nil
}

// checkRange reports whether n bytes at off fit in a value of the given size.
// It is written so that off+n cannot overflow.
func checkRange(off int64, n int, size int64) error {
	if off < 0 || int64(n) > size-off {
		return fmt.Errorf("%w: %d bytes at offset %d, size %d", ErrInvalidRange, n, off, size)
	}
	return nil
}
