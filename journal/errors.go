package journal

import "errors"

// Errors returned by the journal. They are usually wrapped with the journal
// id and the LSN concerned; test for them with errors.Is.
var (
	// ErrCorrupt means a record failed its CRC32C or could not be decoded, a
	// stored record disagrees with its own LSN, or the bbolt file itself is
	// damaged.
	ErrCorrupt = errors.New("journal: corrupt record")

	// ErrOwnerAlive is returned by OpenDead when the process that created the
	// journal still holds its owner lock.
	ErrOwnerAlive = errors.New("journal: owner is alive")

	// ErrGone is returned by OpenDead when the journal no longer exists: it
	// was fully applied and removed.
	ErrGone = errors.New("journal: journal is gone")

	// ErrNotWritten wraps an Append or MarkApplied error that is known to
	// have changed nothing on disk: the context ended first, the record was
	// refused, the journal is closed or refuses writes, or bbolt rolled the
	// transaction back before committing. Any other error from them leaves
	// the outcome uncertain (the commit may or may not be durable).
	ErrNotWritten = errors.New("journal: nothing written")

	// ErrClosed is returned by methods of a closed Journal.
	ErrClosed = errors.New("journal: journal is closed")

	// ErrNotEmpty is returned by Remove when entries remain.
	ErrNotEmpty = errors.New("journal: journal is not empty")

	// ErrInvalid means an argument is malformed: a record that breaks the
	// rules listed on Record, an empty or overlong key, a bad journal id, or
	// an LSN beyond the last one assigned.
	ErrInvalid = errors.New("journal: invalid argument")
)
