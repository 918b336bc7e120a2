package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var d []time.Duration
		for _, n := range ns {
			d = append(d, time.Duration(n)*time.Millisecond)
		}
		return d
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	cases := []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2, 3), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 1, 1 * time.Millisecond},
		{hundred, 0.5, 1 * time.Millisecond},
	}
	for _, c := range cases {
		if got := Percentile(c.sorted, c.p); got != c.want {
			t.Errorf("Percentile(%d samples, %g) = %v, want %v", len(c.sorted), c.p, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	lat := []time.Duration{5, 1, 4, 2, 3} // unsorted
	s := Summarize(lat, 2*time.Second)
	if s.Writes != 5 || s.P50 != 3 || s.P99 != 5 {
		t.Fatalf("Summarize = %+v", s)
	}
	if got := s.TxPerSec(); got != 2.5 {
		t.Errorf("TxPerSec = %g, want 2.5", got)
	}
	if got := s.MBPerSec(1e6); got != 2.5 {
		t.Errorf("MBPerSec(1e6) = %g, want 2.5", got)
	}
	if got := (Stats{}).TxPerSec(); got != 0 {
		t.Errorf("TxPerSec of nothing = %g", got)
	}
}

func TestWorkloadAt(t *testing.T) {
	// Spread: a permutation of the slots.
	wl := Workload{Values: 1, ValueSize: 64 * KiB * 256, WriteSize: 64 * KiB, Writers: 1, Place: Spread}
	seen := map[int64]bool{}
	for i := range 256 {
		v, off := wl.At(0, i)
		if v != 0 || off%wl.WriteSize != 0 || off < 0 || off+wl.WriteSize > wl.ValueSize || seen[off] {
			t.Fatalf("spread write %d: value %d offset %d (seen %t)", i, v, off, seen[off])
		}
		seen[off] = true
	}
	// Owned: writer w at value w mod 16, slot w div 16, the same every time.
	wl = Workload{Values: 16, ValueSize: 4 * MiB, WriteSize: 64 * KiB, Writers: 64, Place: Owned}
	if err := wl.Validate(); err != nil {
		t.Fatal(err)
	}
	owner := map[[2]int64]int{}
	for w := range 64 {
		v, off := wl.At(w, 0)
		if v2, off2 := wl.At(w, 99); v2 != v || off2 != off {
			t.Fatalf("writer %d moved", w)
		}
		if v != w%16 || off != int64(w/16)*wl.WriteSize {
			t.Fatalf("writer %d at value %d offset %d", w, v, off)
		}
		if o, dup := owner[[2]int64{int64(v), off}]; dup {
			t.Fatalf("writers %d and %d share a range", o, w)
		}
		owner[[2]int64{int64(v), off}] = w
	}
	wl.ValueSize = 64 * KiB * 3 // 48 slots for 64 writers
	if wl.Validate() == nil {
		t.Fatal("Validate accepted overlapping owners")
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 4 * KiB: "4 KiB", 1536 * KiB: "1.5 MiB", GiB: "1 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
