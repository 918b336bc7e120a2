package crashtest

import (
	"slices"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/txn"
)

// Crash points a journal-mode commit passes, in order, and the replay
// point of recovery (reached only when there is something to replay).
var journalPoints = []string{
	crashpoint.JournalBeforeAppend,
	crashpoint.JournalAppend,
	crashpoint.JournalAppended,
	crashpoint.JournalAfterAppend,
	crashpoint.JournalMidApply,
	crashpoint.JournalAfterSync,
	crashpoint.JournalMark,
	crashpoint.JournalAfterMark,
	crashpoint.RecoveryMidReplay,
}

// Crash points a copy-mode commit passes.
var copyPoints = []string{crashpoint.CopyBeforeReplace, crashpoint.CopyAfterReplace}

// leavesPending tells the points where a kill leaves committed journal
// entries unapplied, so that the next recovery has something to replay.
var leavesPending = map[string]bool{
	crashpoint.JournalAppended:    true,
	crashpoint.JournalAfterAppend: true,
	crashpoint.JournalMidApply:    true,
	crashpoint.JournalAfterSync:   true,
	crashpoint.JournalMark:        true,
	crashpoint.RecoveryMidReplay:  true,
}

// CrashPoints returns the crash points that exist for a harness mode: every
// journal point (including recovery's replay point) when transactions may
// journal, every copy point when they may copy.
func CrashPoints(mode string) []string {
	modes, err := commitModes(mode)
	if err != nil {
		return nil
	}
	var ps []string
	if slices.Contains(modes, txn.ModeJournal) || slices.Contains(modes, txn.ModeAuto) {
		ps = append(ps, journalPoints...)
	}
	if slices.Contains(modes, txn.ModeCopy) || slices.Contains(modes, txn.ModeAuto) {
		ps = append(ps, copyPoints...)
	}
	return ps
}
