package bench

import (
	"math"
	"slices"
	"time"
)

// Stats summarises the writes of one cell.
type Stats struct {
	Writes  int           // writes completed
	Elapsed time.Duration // wall time from the first write's start to the last one's end
	P50     time.Duration // median write latency
	P99     time.Duration // 99th percentile write latency
}

// TxPerSec is the number of writes (one transaction each) per second of
// wall time, over all writers.
func (s Stats) TxPerSec() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Writes) / s.Elapsed.Seconds()
}

// MBPerSec is the payload written per second of wall time, in units of
// 10^6 bytes, for writes of writeSize bytes.
func (s Stats) MBPerSec(writeSize int64) float64 {
	return s.TxPerSec() * float64(writeSize) / 1e6
}

// Summarize computes the Stats of a set of write latencies measured over
// elapsed wall time. It sorts lat.
func Summarize(lat []time.Duration, elapsed time.Duration) Stats {
	slices.Sort(lat)
	return Stats{
		Writes:  len(lat),
		Elapsed: elapsed,
		P50:     Percentile(lat, 50),
		P99:     Percentile(lat, 99),
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of the sorted
// durations by the nearest-rank method: the smallest sample that at least p
// percent of the samples are less than or equal to. It returns 0 for no
// samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := max(1, min(int(math.Ceil(p*float64(n)/100)), n))
	return sorted[rank-1]
}
