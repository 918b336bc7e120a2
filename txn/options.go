package txn

import (
	"log/slog"

	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/store/vfs"
)

// Options configures an engine. The zero value gives the defaults below.
type Options struct {
	// Mode is the commit mode of new transactions. Default ModeAuto.
	Mode Mode

	// ModeAuto journals a transaction when the value exists, the store
	// writes in place, the staged bytes are at most AutoMaxJournalBytes, and
	// staged bytes × AutoRatio ≤ the value's size; otherwise it copies.
	//
	// Why (measured on ext4 over a virtual disk, DESIGN.md "Choosing the
	// mode"): a journal commit costs about 0.5 ms plus its staged bytes at
	// about 430 MB/s, and writes them once more in place afterwards; a copy
	// costs about 1 ms plus the whole value at about 440 MB/s. So the
	// journal does less I/O while the staged bytes are below half the
	// value. Defaults: AutoRatio 2, AutoMaxJournalBytes 1 GiB (the most a
	// journal record may carry).
	AutoRatio           int64
	AutoMaxJournalBytes int64

	// MaxValueSize bounds the size a transaction may give a value; a write
	// or resize beyond it is store.ErrInvalidRange and stages nothing. It
	// keeps an absurd offset from reaching the commit point, where the file
	// system would refuse it only after the journal had accepted it.
	// Default 1 TiB.
	MaxValueSize int64

	// Logger receives recovery and failure reports. Default slog.Default().
	Logger *slog.Logger

	// FS is the file system Open keeps the values on (see store.WithFS).
	// Default vfs.Default. The journals and lock files under
	// store.ReservedDir always live on the operating system's file system,
	// since bbolt and flock need real files; so on another FS, such as a
	// vfs.NewMem, root names a directory both on the real disk and in FS.
	// Open creates root in both (vfs.MkdirAll), and syncs root and its
	// parent in both. New ignores FS: it takes a ready store.
	FS vfs.FS

	// Journal configures the journal Open creates: how large a group's
	// after-images may be and still go inline into bbolt, and how large
	// its segment files grow (see journal.Options). Default: the journal
	// package's defaults.
	Journal *journal.Options
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.AutoRatio <= 0 {
		r.AutoRatio = 2
	}
	if r.AutoMaxJournalBytes <= 0 {
		r.AutoMaxJournalBytes = maxJournalBytes
	}
	if r.MaxValueSize <= 0 {
		r.MaxValueSize = 1 << 40
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.FS == nil {
		r.FS = vfs.Default
	}
	return r
}
