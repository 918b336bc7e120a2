// Package journal is rangetx's redo log: a bbolt file in which committed
// transactions wait until their after-images are safely in the values they
// change.
//
// Each open engine owns one journal, named by a uuid id, in a directory it
// chooses. The journal is two files:
//
//	<id>.db     the bbolt database: bucket "entries" maps an 8-byte big-endian
//	            LSN to an encoded Record; bucket "applied" maps a value's key
//	            to the 8-byte big-endian LSN up to which the key is applied
//	<id>.owner  an empty file the owner holds an exclusive flock on for as
//	            long as the journal is open; the lock vanishes with the owner
//	            process, which is how others tell a dead journal from a live one
//
// The commit protocol (see Append and MarkApplied):
//
//  1. Append stores the record in one bbolt transaction. Its return is the
//     commit point.
//  2. The caller writes the after-images into the value and syncs it.
//  3. MarkApplied advances the key's watermark and drops the key's entries at
//     or below it, again in one bbolt transaction.
//
// After a crash, whoever next locks a value opens the dead owner's journal
// with OpenDead, replays Pending records for the value in LSN order, syncs
// the value and calls MarkApplied. Replay is idempotent: a record carries the
// value's whole after-state for the bytes it names, so replaying it over a
// torn or already-applied write gives the same result.
//
// Every record carries a CRC32C because bbolt checks only its meta pages.
// A record that fails its check is never replayed: Pending reports ErrCorrupt
// and the journal is left for an operator (Stats lists the bad LSNs). A
// damaged bbolt file (cut short, a damaged page) is ErrCorrupt as well, from
// OpenDead or from whichever method meets the damage, never a crash.
package journal
