package txn

import "fmt"

// Mode selects how a transaction commits.
type Mode int

const (
	// ModeAuto picks journal or copy per transaction; see Options.
	ModeAuto Mode = iota
	// ModeJournal commits the after-images to the redo journal, then writes
	// them in place. Its cost follows the bytes written, not the value size.
	// It needs a store that implements store.RangeWriter, an engine with a
	// journal, an existing value and no copy staged by Tx.CopyRange;
	// otherwise the commit uses ModeCopy.
	ModeJournal
	// ModeCopy writes a patched copy of the value beside it and renames it
	// over the value. Its cost follows the value size.
	ModeCopy
)

// String returns "auto", "journal" or "copy".
func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeJournal:
		return "journal"
	case ModeCopy:
		return "copy"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode is the inverse of Mode.String.
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeAuto, ModeJournal, ModeCopy} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("txn: unknown mode %q (want auto, journal or copy)", s)
}
