package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/recovery"
	"golang.org/x/sync/errgroup"
)

// commit is one transaction's journal record on its way through the
// pipeline: queued, then durable (acknowledged), then applied in place,
// then watermarked.
type commit struct {
	rec  journal.Record
	h    *holding
	done chan struct{} // closed when durable or failed; err says which
	err  error

	// Guarded by h.mu.
	durable bool
	ended   bool // done is closed
}

// finish acknowledges c with err (nil: durable). The caller holds c.h.mu.
func (c *commit) finish(err error) {
	if c.ended {
		return
	}
	c.ended, c.err = true, err
	if err == nil {
		c.durable = true
	}
	close(c.done)
}

// overlayRecord lays c's change over p, which holds the bytes at off
// before it: from c's cut on everything is zero, then c's ranges.
func overlayRecord(p []byte, off int64, c *commit) {
	end := off + int64(len(p))
	if cut := c.rec.MinSize; cut < end {
		clear(p[max(cut-off, 0):])
	}
	for _, r := range c.rec.Ranges {
		lo, hi := max(r.Off, off), min(r.Off+int64(len(r.Data)), end)
		if lo < hi {
			copy(p[lo-off:hi-off], r.Data[lo-r.Off:])
		}
	}
}

// pipeline is journal mode's group commit. Transactions queue their
// records and are acknowledged when the record is durable. Whoever finds
// no batch being written — the committing transaction itself (lead), or
// else the committer goroutine once the batch in progress ends — writes
// whatever is queued as one journal batch (one segment sync and one bbolt
// commit however many transactions and values it holds), so a lone writer
// waits for nobody and concurrent writers share syncs. One applier
// goroutine then writes durable records in place, syncing each value once
// per round, and hands their watermarks back to the committer, which
// records them in its next batch: under load watermarks cost nothing
// extra; when no record comes along within markDelay they are written
// alone.
type pipeline struct {
	e *Engine

	mu         sync.Mutex
	cond       *sync.Cond // broadcast on every change below
	queue      []*commit
	marks      map[string]uint64 // applied, to be recorded
	marked     map[*holding]int  // commits whose watermark is in marks, by holding
	flush      bool              // someone waits for marks to be recorded now
	linger     bool              // a markDelay timer is running
	expired    bool              // it ran out
	lingerGen  uint64            // raised whenever the committer takes work: older timers are void
	applyQ     [][]*commit       // durable groups waiting to be applied
	applyAt    time.Time         // when the oldest of them became durable
	applyBytes int64             // their after-image bytes
	applyTimer bool              // a timer will wake the applier at applyAt+applyDelay
	hurry      int               // callers waiting for the pipeline to empty (drain, Flush, Close)
	committing bool
	applying   bool
	paused     bool  // tests hold the committer between batches (export_test.go)
	closing    bool  // Close waits for everything to be done
	exit       bool  // the goroutines end
	err        error // set once the engine stopped; fails everything queued
	done       sync.WaitGroup
	stats      Stats
}

// markDelay is how long the committer keeps applied watermarks in the hope
// of a record batch to ride along with.
const markDelay = time.Millisecond

// The applier lets durable commits gather for up to applyDelay, or until
// they hold applyMaxBytes, before a round: each round fdatasyncs every
// value it touches once, so gathering turns one value sync per commit into
// one per round, and rewrites of the same bytes reach the disk once. A
// caller that needs the values' files current (Flush, Close, a copy-mode
// commit, Put, Delete) cuts the wait short.
const (
	applyDelay    = 20 * time.Millisecond
	applyMaxBytes = 16 << 20
)

// applyParallel bounds the values one apply round writes at once.
const applyParallel = 8

func newPipeline(e *Engine) *pipeline {
	p := &pipeline{e: e, marks: make(map[string]uint64), marked: make(map[*holding]int)}
	p.cond = sync.NewCond(&p.mu)
	p.done.Add(2)
	go p.commitLoop()
	go p.applyLoop()
	return p
}

// submit queues c. The caller has put c in its holding's overlay and
// counted it pending, and calls lead once it has passed the value's turn
// on.
func (p *pipeline) submit(c *commit) {
	p.mu.Lock()
	err := p.err
	if err == nil {
		p.queue = append(p.queue, c)
	}
	p.mu.Unlock()
	if err != nil {
		// The engine stopped: c fails, and no longer holds its value.
		p.e.unpend(map[*holding]int{c.h: 1})
		failAll([]*commit{c}, err)
	}
	// No wake-up: lead writes it on the caller's goroutine if nobody is
	// writing, and a batch being written wakes the committer when done.
}

// lead writes everything queued as one batch on the caller's goroutine if
// no batch is being written: a lone writer's commit then needs no hand-off
// to another goroutine and back. Otherwise the committer goroutine takes
// the queue when the batch in progress ends.
func (p *pipeline) lead() {
	p.mu.Lock()
	if p.committing || p.paused || p.exit || p.err != nil || len(p.queue) == 0 {
		p.mu.Unlock()
		return
	}
	queue, marks, marked := p.take()
	p.mu.Unlock()
	p.commitGroup(context.Background(), queue, marks, marked)
	p.mu.Lock()
	p.committing = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// take hands the queue and the waiting watermarks to a batch about to be
// written. The caller holds p.mu; it must clear p.committing afterwards.
func (p *pipeline) take() ([]*commit, map[string]uint64, map[*holding]int) {
	queue, marks, marked := p.queue, p.marks, p.marked
	p.queue = nil
	p.marks, p.marked = make(map[string]uint64), make(map[*holding]int)
	p.flush, p.expired, p.linger = false, false, false
	p.lingerGen++
	p.committing = true
	return queue, marks, marked
}

// stop fails everything queued with err; both goroutines end once they
// finish what they are doing.
func (p *pipeline) stop(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// close waits until everything queued is applied and watermarked (or the
// engine stopped), then ends the goroutines.
func (p *pipeline) close() {
	p.mu.Lock()
	p.closing = true
	p.cond.Broadcast()
	for p.err == nil && !p.quiet() {
		p.cond.Wait()
	}
	p.exit = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.done.Wait()
}

// wait waits until the pipeline is quiet, the engine stopped or ctx ends,
// asking the applier and the committer not to gather meanwhile.
func (p *pipeline) wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	defer p.hurryUp()()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.err == nil && !p.quiet() {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.cond.Wait()
	}
	return p.err
}

// snapshot returns the pipeline's counters.
func (p *pipeline) snapshot() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.Queued = int64(len(p.queue))
	for _, g := range p.applyQ {
		st.Unapplied += int64(len(g))
	}
	return st
}

// quiet reports whether nothing is queued, being written, waiting to be
// applied, being applied or waiting to be recorded. The caller holds p.mu.
func (p *pipeline) quiet() bool {
	return len(p.queue) == 0 && !p.committing && len(p.applyQ) == 0 && !p.applying && len(p.marks) == 0
}

// ready reports whether the committer has work now: records, or marks it
// should not hold back any longer. The caller holds p.mu.
func (p *pipeline) ready() bool {
	if len(p.queue) > 0 {
		return true
	}
	return len(p.marks) > 0 && (p.flush || p.expired || p.closing || p.hurry > 0)
}

// startLinger starts the markDelay timer for waiting marks. The caller
// holds p.mu.
func (p *pipeline) startLinger() {
	if len(p.marks) == 0 || p.linger {
		return
	}
	p.linger = true
	gen := p.lingerGen
	time.AfterFunc(markDelay, func() {
		p.mu.Lock()
		if gen == p.lingerGen {
			p.linger, p.expired = false, true
			p.cond.Broadcast()
		}
		p.mu.Unlock()
	})
}

// commitLoop is the committer.
func (p *pipeline) commitLoop() {
	defer p.done.Done()
	ctx := context.Background() // past the commit point work runs to the end
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.err == nil && !p.exit && (p.paused || p.committing || !p.ready()) {
			p.startLinger()
			p.cond.Wait()
		}
		if p.err != nil || p.exit {
			queue, err := p.queue, p.err
			p.queue = nil
			if err == nil {
				err = ErrClosed
			}
			failAll(queue, err)
			return
		}
		queue, marks, marked := p.take()
		p.mu.Unlock()
		p.commitGroup(ctx, queue, marks, marked)
		p.mu.Lock()
		p.committing = false
		p.cond.Broadcast()
	}
}

// commitGroup writes one batch: the records of queue (those not failed
// meanwhile) and the watermarks in marks.
func (p *pipeline) commitGroup(ctx context.Context, queue []*commit, marks map[string]uint64, marked map[*holding]int) {
	e := p.e
	group := make([]*commit, 0, len(queue))
	recs := make([]*journal.Record, 0, len(queue))
	for _, c := range queue {
		c.h.mu.Lock()
		ended := c.ended
		c.h.mu.Unlock()
		if !ended {
			group = append(group, c)
			recs = append(recs, &c.rec)
		}
	}
	if len(recs) > 0 {
		crashpoint.Hit(crashpoint.JournalBeforeAppend)
	}
	if len(recs) == 0 && len(marks) == 0 {
		return
	}
	err := e.j.Write(ctx, &journal.Batch{Records: recs, Applied: marks})
	switch {
	case err == nil:
	case errors.Is(err, journal.ErrNotWritten) && len(recs) > 0 && e.err() == nil:
		// Nothing of the batch is stored. Its transactions fail, and so
		// does every one queued after them on the same values, which
		// read their writes. The watermarks go back for another try.
		for _, c := range group {
			p.poison(c.h, fmt.Errorf("txn: commit %q: %w", c.rec.Key, err))
		}
		p.requeueMarks(marks, marked)
		return
	default:
		// The batch may be durable or not: recovery decides.
		if len(recs) > 0 {
			err = fmt.Errorf("journal append: %w", err)
		} else {
			err = fmt.Errorf("advance watermarks: %w", err)
		}
		failAll(group, e.fail(err))
		return
	}
	if len(recs) > 0 {
		crashpoint.Hit(crashpoint.JournalAfterAppend)
	}
	failAll(group, nil) // acknowledge: durable
	p.mu.Lock()
	if len(group) > 0 {
		p.stats.Groups++
		p.stats.Commits += int64(len(group))
		p.stats.MaxGroup = max(p.stats.MaxGroup, int64(len(group)))
	} else {
		p.stats.MarkOnly++
	}
	p.mu.Unlock()
	if len(marks) > 0 {
		crashpoint.Hit(crashpoint.JournalAfterMark)
		e.unpend(marked)
	}
	if len(group) > 0 {
		p.mu.Lock()
		if len(p.applyQ) == 0 {
			p.applyAt = time.Now()
		}
		p.applyQ = append(p.applyQ, group)
		for _, r := range recs {
			p.applyBytes += r.Bytes()
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// requeueMarks puts back watermarks a failed batch did not record.
func (p *pipeline) requeueMarks(marks map[string]uint64, marked map[*holding]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range marks {
		p.marks[k] = max(p.marks[k], v)
	}
	for h, n := range marked {
		p.marked[h] += n
	}
	p.cond.Broadcast()
}

// poison fails every commit on h that is not durable yet — the failed one
// and all queued after it — takes them out of the overlay and raises h's
// epoch, so the transaction now holding the turn, which may have read
// them, fails at its commit too.
//
// The value is let go (if nothing else is pending) before the commits are
// told, so a caller whose Commit failed finds the marker already cleared.
func (p *pipeline) poison(h *holding, err error) {
	h.mu.Lock()
	kept := h.queued[:0]
	var failed []*commit
	for _, c := range h.queued {
		if c.durable {
			kept = append(kept, c)
		} else {
			failed = append(failed, c)
		}
	}
	clear(h.queued[len(kept):])
	h.queued = kept
	if len(failed) > 0 {
		h.epoch++
		h.cause = err
	}
	h.mu.Unlock()
	if len(failed) > 0 {
		p.e.unpend(map[*holding]int{h: len(failed)})
		p.mu.Lock()
		p.stats.Failed += int64(len(failed))
		p.mu.Unlock()
	}
	failAll(failed, err)
}

// failAll ends commits with err (nil acknowledges them as durable).
func failAll(cs []*commit, err error) {
	for _, c := range cs {
		c.h.mu.Lock()
		c.finish(err)
		c.h.mu.Unlock()
	}
}

// applyLoop is the applier.
func (p *pipeline) applyLoop() {
	defer p.done.Done()
	ctx := context.Background()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.err == nil && !p.exit && !p.applyReady() {
			p.wakeApplier()
			p.cond.Wait()
		}
		if p.err != nil || p.exit {
			return
		}
		groups := p.applyQ
		p.applyQ, p.applyBytes = nil, 0
		p.applying = true
		p.mu.Unlock()
		err := p.applyGroups(ctx, groups)
		if err != nil {
			p.e.fail(err)
		}
		p.mu.Lock()
		p.applying = false
		p.cond.Broadcast()
	}
}

// applyReady reports whether the applier should start a round now. The
// caller holds p.mu.
func (p *pipeline) applyReady() bool {
	if len(p.applyQ) == 0 {
		return false
	}
	return p.hurry > 0 || p.closing || p.applyBytes >= applyMaxBytes || time.Since(p.applyAt) >= applyDelay
}

// wakeApplier makes sure a timer wakes the applier when its waiting groups
// are old enough. The caller holds p.mu.
func (p *pipeline) wakeApplier() {
	if len(p.applyQ) == 0 || p.applyTimer {
		return
	}
	p.applyTimer = true
	time.AfterFunc(time.Until(p.applyAt.Add(applyDelay)), func() {
		p.mu.Lock()
		p.applyTimer = false
		p.cond.Broadcast()
		p.mu.Unlock()
	})
}

// hurryUp makes the applier and committer skip their waits until the
// returned function is called.
func (p *pipeline) hurryUp() (done func()) {
	p.mu.Lock()
	p.hurry++
	p.flush = true
	p.cond.Broadcast()
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.hurry--
		p.mu.Unlock()
	}
}

// applyGroups writes durable groups in place: each value's records in LSN
// order and one sync per value, several values at once. Then the records
// leave their overlays, and their watermarks go to the committer.
func (p *pipeline) applyGroups(ctx context.Context, groups [][]*commit) error {
	e := p.e
	var order []*holding
	byHold := make(map[*holding][]*commit)
	for _, g := range groups {
		for _, c := range g {
			if byHold[c.h] == nil {
				order = append(order, c.h)
			}
			byHold[c.h] = append(byHold[c.h], c)
		}
	}
	var g errgroup.Group
	g.SetLimit(applyParallel)
	for _, h := range order {
		cs := byHold[h]
		g.Go(func() (err error) {
			// A panic in a store must not kill the process from this
			// goroutine: it stops the engine like an I/O error.
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic while applying %q: %v", h.key, r)
				}
			}()
			recs := make([]journal.Record, len(cs))
			for i, c := range cs {
				recs[i] = c.rec
			}
			if err := recovery.Apply(ctx, e.st, recs...); err != nil {
				return fmt.Errorf("committed to the journal, apply failed: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	crashpoint.Hit(crashpoint.JournalAfterSync)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range order {
		cs := byHold[h]
		h.mu.Lock()
		if len(h.queued) < len(cs) || h.queued[0] != cs[0] {
			h.mu.Unlock()
			panic("txn: applied commits are not at the front of their overlay")
		}
		clear(h.queued[:len(cs)])
		h.queued = h.queued[len(cs):]
		h.mu.Unlock()
		p.marks[h.key] = max(p.marks[h.key], cs[len(cs)-1].rec.LSN)
		p.marked[h] += len(cs)
		p.stats.Applied += int64(len(cs))
	}
	p.stats.Rounds++
	p.cond.Broadcast()
	return nil
}
