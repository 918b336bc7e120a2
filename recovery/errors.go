package recovery

import "errors"

var (
	// ErrNoRangeWriter means a journal names a value in a store that cannot
	// write in place, so its entries cannot be replayed there.
	ErrNoRangeWriter = errors.New("recovery: store cannot write ranges in place")
	// ErrValueMismatch means a value is shorter than a pending journal
	// record requires: something outside rangetx changed it.
	ErrValueMismatch = errors.New("recovery: value does not match its journal")
	// ErrUnsettled means Run could not replay some values' entries (an I/O
	// error, a value changed outside rangetx). Those values stay fenced:
	// their lock marker names the journal, so every later transaction on
	// them tries again and fails until the cause is fixed. Other values are
	// unaffected.
	ErrUnsettled = errors.New("recovery: some values could not be settled")
	// ErrUnfenced means a value could not be settled and could not be
	// fenced either (its marker could not be written, or the journal could
	// not even be read to tell whether entries are pending), so nothing
	// would stop a later writer from committing over entries that a later
	// recovery replays. Run stops, and txn.Open fails, until it succeeds.
	ErrUnfenced = errors.New("recovery: a value could neither be settled nor fenced")
)
