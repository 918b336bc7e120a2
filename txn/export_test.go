package txn

// PauseCommits holds e's committer between two batches (waiting for the
// one it is writing, if any) until resume is called: commits queue, and
// nothing more reaches the journal. For tests that need the journal's
// files still; e must have a journal.
func PauseCommits(e *Engine) (resume func()) {
	p := e.pipe
	p.mu.Lock()
	p.paused = true // first, so a busy committer cannot start another batch
	for p.committing {
		p.cond.Wait()
	}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.paused = false
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}
