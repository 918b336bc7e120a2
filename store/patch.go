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
		if err := checkRange(r.Off, int64(len(r.Data)), p.Size); err != nil {
			return fmt.Errorf("patch range %d: %w", i, err)
		}
	}
	for i, c := range p.Copies {
		if err := checkRange(c.Off, c.N, p.Size); err != nil {
			return fmt.Errorf("patch copy %d: %w", i, err)
		}
		if c.Src < 0 {
			return fmt.Errorf("%w: patch copy %d: source offset %d", ErrInvalidRange, i, c.Src)
		}
	}
	return nil
}

// checkCopies reports whether every copy's source lies inside a current
// version of oldSize bytes. The error wraps ErrInvalidRange.
func (p Patch) checkCopies(oldSize int64) error {
	for i, c := range p.Copies {
		if c.Src > oldSize-c.N {
			return fmt.Errorf("%w: patch copy %d: %d bytes from offset %d of a %d-byte value", ErrInvalidRange, i, c.N, c.Src, oldSize)
		}
	}
	return nil
}

// checkRange reports whether n bytes at off fit in a value of the given size.
// It is written so that off+n cannot overflow.
func checkRange(off, n int64, size int64) error {
	if off < 0 || n < 0 || n > size-off {
		return fmt.Errorf("%w: %d bytes at offset %d, size %d", ErrInvalidRange, n, off, size)
	}
	return nil
}
