package txn

// Stats counts what an engine's commit pipeline has done, and the entries
// of dead writers it replayed.
type Stats struct {
	Commits   int64 // journal-mode commits acknowledged
	Groups    int64 // journal batches that carried commits
	MarkOnly  int64 // journal batches that only advanced watermarks
	Applied   int64 // commits applied in place
	Rounds    int64 // apply rounds (each syncs every value it touched once)
	Failed    int64 // commits failed before their commit point
	MaxGroup  int64 // most commits in one batch
	Queued    int64 // commits waiting for a batch now (not those of the batch being written)
	Unapplied int64 // acknowledged commits not yet applied now
	Settled   int64 // entries committed by dead writers that this engine replayed when it took their value's lock (not those Open's recovery replayed; see Recovered)
}

// Stats returns counters of the engine's commit pipeline (all zero for an
// engine without a journal) and Settled. Safe for concurrent use.
func (e *Engine) Stats() Stats {
	var st Stats
	if e.pipe != nil {
		st = e.pipe.snapshot()
	}
	st.Settled = e.settled.Load()
	return st
}
