package txn

import "errors"

// Errors returned by the engine and its transactions. They are wrapped with
// the key and the cause; test for them with errors.Is. Store errors
// (store.ErrNotFound, store.ErrInvalidKey, store.ErrInvalidRange) and
// journal.ErrCorrupt pass through wrapped as well.
var (
	// ErrTxDone is returned by every method of a Tx after Commit or Rollback.
	ErrTxDone = errors.New("txn: transaction already committed or rolled back")
	// ErrManagedTx is returned when the function given to Do calls Commit or
	// Rollback itself; Do does that.
	ErrManagedTx = errors.New("txn: Commit and Rollback are not allowed in a managed transaction")
	// ErrClosed is returned after Engine.Close.
	ErrClosed = errors.New("txn: engine closed")
	// ErrNeedsRecovery means the engine hit an I/O error after a commit
	// point and stopped: the committed transaction is in the journal and
	// will be applied by recovery (reopen the engine or run `rangetx
	// recover`). Every later call on the engine returns it too.
	ErrNeedsRecovery = errors.New("txn: engine needs recovery")

	// ErrAborted means the transaction read the writes of an earlier
	// transaction on the same value that was still queued for its commit,
	// and that commit then failed without writing anything (a full disk,
	// say). Nothing of this transaction was written either; retry it.
	ErrAborted = errors.New("txn: an earlier transaction on the value failed")
)
