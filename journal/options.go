package journal

import (
	"log/slog"
	"time"
)

// DefaultLockPoll is the default for Options.LockPoll.
const DefaultLockPoll = 100 * time.Millisecond

// Options configures Create and OpenDead. A nil *Options means all defaults.
type Options struct {
	// Logger receives diagnostics: journals created, recovered and removed,
	// waits for another recoverer, corrupt entries met by Stats. Default: a
	// logger that discards everything, because a library should not write
	// to the process's default logger unasked.
	Logger *slog.Logger

	// LockPoll is how long each attempt of OpenDead to take bbolt's file
	// lock may wait before OpenDead looks at its context again, so OpenDead
	// may overrun the context by up to about LockPoll. Default and minimum:
	// DefaultLockPoll (the lock is retried every 50ms; shorter slices would
	// spin).
	LockPoll time.Duration
}

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o *Options) lockPoll() time.Duration {
	if o == nil || o.LockPoll < DefaultLockPoll {
		return DefaultLockPoll
	}
	return o.LockPoll
}
