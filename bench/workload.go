package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Placement says where the writes of a workload land.
type Placement int

const (
	// Spread sends write i of every writer to value 0, at slot
	// (i × spreadStride) mod slots of the value's slots of WriteSize
	// bytes: a permutation of the slots when their number is a power of
	// two, so consecutive writes land far apart and every slot is
	// rewritten before any is rewritten twice.
	Spread Placement = iota
	// Owned gives writer w (numbered across processes) one fixed range
	// of its own: value w mod Values, slot w div Values. Writers never
	// overlap, so nothing but the contender makes them wait for each
	// other.
	Owned
)

const spreadStride = 40503 // odd, about 2^16 × 0.618

// Workload is what the writers of one cell do.
type Workload struct {
	Values    int       // number of values
	ValueSize int64     // bytes in each value
	WriteSize int64     // bytes in each write
	Writers   int       // concurrent writers in each process
	Procs     int       // processes; 0 or 1 is this process alone
	Place     Placement // where the writes land
}

// At returns the value and offset of write i of writer w.
func (wl Workload) At(w, i int) (value int, off int64) {
	slots := max(1, wl.ValueSize/wl.WriteSize)
	if wl.Place == Owned {
		return w % wl.Values, int64(w/wl.Values) % slots * wl.WriteSize
	}
	return 0, int64(i) * spreadStride % slots * wl.WriteSize
}

// Validate reports a workload whose writes would not fit its values.
func (wl Workload) Validate() error {
	switch {
	case wl.Values < 1 || wl.Writers < 1 || wl.WriteSize < 1:
		return fmt.Errorf("workload %+v: values, writers and write size must be positive", wl)
	case wl.WriteSize > wl.ValueSize:
		return fmt.Errorf("workload: %d-byte writes do not fit %d-byte values", wl.WriteSize, wl.ValueSize)
	case wl.Place == Owned && int64(max(1, wl.Procs)*wl.Writers) > int64(wl.Values)*(wl.ValueSize/wl.WriteSize):
		return fmt.Errorf("workload: %d writers cannot own disjoint %d-byte ranges of %d values of %d bytes",
			max(1, wl.Procs)*wl.Writers, wl.WriteSize, wl.Values, wl.ValueSize)
	}
	return nil
}

// Limits bound how long a cell runs: writers start new writes until both
// Budget has passed and at least Min writes have started, or until Max
// writes have started, whichever is first. Writes under way then finish.
type Limits struct {
	Budget time.Duration
	Min    int
	Max    int
}

// Count returns Limits for exactly n writes.
func Count(n int) Limits { return Limits{Min: n, Max: n} }

// drive runs the workload's writers in this process against t: writer w
// here is writer firstWriter+w of the workload. It returns every write's
// latency and the wall time from start to the last write's end.
func drive(ctx context.Context, t Target, wl Workload, firstWriter int, lim Limits) ([]time.Duration, time.Duration, error) {
	var (
		started atomic.Int64
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, min(lim.Max, 1<<16))
		errs    []error
		wg      sync.WaitGroup
	)
	begin := time.Now()
	more := func() bool {
		n := started.Add(1)
		return ctx.Err() == nil && n <= int64(lim.Max) && (n <= int64(lim.Min) || time.Since(begin) < lim.Budget)
	}
	for w := range wl.Writers {
		wg.Go(func() {
			data := make([]byte, wl.WriteSize)
			fill(data, int64(firstWriter+w)<<40)
			var mine []time.Duration
			for i := 0; more(); i++ {
				value, off := wl.At(firstWriter+w, i)
				t0 := time.Now()
				err := t.Write(ctx, value, off, data)
				d := time.Since(t0)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("writer %d: %w", firstWriter+w, err))
					mu.Unlock()
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if len(errs) == 0 && ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return lat, elapsed, errors.Join(errs...)
}
