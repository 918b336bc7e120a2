// Package crashpoint lets tests stop a process at a named point inside the
// commit protocol, and lets in-process tests observe or fail the journal's
// durable steps. It is inert unless the environment variable
// RANGETX_CRASHPOINT is set or a test installs a Failpoint, which only
// crash and fault tests do.
//
// RANGETX_CRASHPOINT=name[@n][:action]
//
// stops the process the n-th time (default 1st) execution reaches Hit(name).
// Actions: "kill" (default) sends SIGKILL to the process itself, "pause"
// prints "crashpoint <name>" to stderr and blocks forever so that a parent
// can kill it at that exact moment.
package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Env is the environment variable that arms a crash point.
const Env = "RANGETX_CRASHPOINT"

// Names of the crash points the engine passes through.
const (
	JournalBeforeAppend = "journal-before-append" // marker set, record not yet committed
	JournalAfterAppend  = "journal-after-append"  // record committed, value untouched
	JournalMidApply     = "journal-mid-apply"     // some after-images written in place
	JournalAfterSync    = "journal-after-sync"    // value synced, watermark not advanced
	JournalAfterMark    = "journal-after-mark"    // watermark advanced, marker not cleared
	CopyBeforeReplace   = "copy-before-replace"   // nothing visible yet
	CopyAfterReplace    = "copy-after-replace"    // new value in place, commit not acknowledged
	RecoveryMidReplay   = "recovery-mid-replay"   // some replayed after-images written

	// Points inside the journal, passed with the record's key. Append
	// reports JournalAppend before its bbolt transaction (an injected error
	// fails the append with nothing written) and JournalAppended after it
	// committed; a watermark advance reports JournalMark before its
	// transaction (an injected error fails it with nothing written). A
	// journal Write that does both checks every one of them first.
	JournalAppend   = "journal-append"
	JournalAppended = "journal-appended"
	JournalMark     = "journal-mark"
	// JournalDropped is reported after a commit, once for each entry it
	// deleted because its key's watermark passed it (observers only).
	JournalDropped = "journal-dropped"
)

var (
	armed  string
	action string
	after  int64
	hits   atomic.Int64
)

func init() {
	spec := os.Getenv(Env)
	if spec == "" {
		return
	}
	action = "kill"
	if name, act, ok := strings.Cut(spec, ":"); ok {
		spec, action = name, act
	}
	after = 1
	if name, n, ok := strings.Cut(spec, "@"); ok {
		spec = name
		if v, err := strconv.ParseInt(n, 10, 64); err == nil && v > 0 {
			after = v
		}
	}
	armed = spec
}

// Hit marks that execution reached the named point; it stops the process if
// that point is armed. It costs one string comparison when nothing is armed.
func Hit(name string) {
	if armed == "" || name != armed {
		return
	}
	if hits.Add(1) != after {
		return
	}
	if action == "pause" {
		fmt.Fprintf(os.Stderr, "crashpoint %s\n", name)
		select {}
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// A Failpoint sees every Check of the process: the point's name and the key
// it concerns. A non-nil result is returned by Check, so the code at that
// point fails as if its I/O had. It runs on the caller's goroutine.
type Failpoint func(name, key string) error

var (
	fpMu sync.RWMutex
	fp   Failpoint
)

// Install makes f see every Check until the returned function is called.
// Only one Failpoint is installed at a time; Install panics if one is.
// For in-process tests only.
func Install(f Failpoint) (uninstall func()) {
	fpMu.Lock()
	defer fpMu.Unlock()
	if fp != nil {
		panic("crashpoint: a Failpoint is already installed")
	}
	fp = f
	return func() {
		fpMu.Lock()
		fp = nil
		fpMu.Unlock()
	}
}

// Check is Hit for points that concern one key and can fail: it passes the
// point to the installed Failpoint, if any, and returns its error.
func Check(name, key string) error {
	Hit(name)
	fpMu.RLock()
	f := fp
	fpMu.RUnlock()
	if f == nil {
		return nil
	}
	return f(name, key)
}
