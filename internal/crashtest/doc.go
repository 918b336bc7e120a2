// Package crashtest is a crash-consistency harness for rangetx: writer
// processes loop over transactions into shared values while a controller
// SIGKILLs them — at random moments and at named points inside the commit
// and recovery protocols (see internal/crashpoint) — and restarts them. At
// the end it runs recovery and checks that every value equals its state
// after a prefix of its committed transactions, that every acknowledged
// transaction is present, that nothing is torn and that no journal or
// temporary file is left.
//
// The pieces:
//
//   - Model (model.go, plan.go): the content of every transaction is a pure
//     function of (seed, value, sequence number, size before it), so the
//     verifier can recompute any state. Each value starts with a header
//     carrying the sequence number of the last transaction applied; each
//     range a transaction writes starts with a small self-describing header
//     (value tag, sequence number, range index, CRC-32C of its payload).
//   - Worker (worker.go): one writer process. Inside txn.Do it reads the
//     value header, checks the last transaction's ranges are whole, derives
//     transaction s+1 and writes it; after Commit returns nil it appends
//     "KEY SEQ" to its acknowledgement log and fdatasyncs it (acks.go).
//   - Controller (controller.go): starts the workers as child processes,
//     kills and restarts them, stops them, runs the final recovery.
//   - Verifier (verify.go, leftovers.go): the checks above, with a diagnosis
//     of the first wrong byte of a value.
//   - Report (report.go): the figures and violations, as text or JSON.
//
// Layout of the harness directory:
//
//	DIR/store                            the rangetx root the workers write to
//	DIR/acks/<worker>-<incarnation>.log  acknowledgement lines "KEY SEQ"
//	DIR/logs/<worker>-<incarnation>.log  the worker's stderr: its engine's log
//	DIR/workers.log                      one line per ended worker: journal,
//	                                     armed crash point, how it ended
package crashtest
