package crashtest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/txn"
)

func newModel(t *testing.T, seed uint64, mode string, sizes ...int64) *Model {
	t.Helper()
	m, err := NewModel(seed, mode, sizes)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Plans are pure functions of (seed, value, seq, size before), have the
// documented shape, and can be recomputed from the size after them.
func TestPlanShape(t *testing.T) {
	m := newModel(t, 7, ModeAll, 1<<10, 4<<10, 1<<20)
	modes := map[txn.Mode]int{}
	resizes, extras := 0, map[int]int{}
	for i, v := range m.Values {
		size := v.Size
		for s := uint64(1); s <= 400; s++ {
			p := m.Plan(i, s, size)
			if q := m.Plan(i, s, size); !slices.Equal(p.Ranges, q.Ranges) || p.Size != q.Size || p.Mode != q.Mode {
				t.Fatalf("plan %d of %s not deterministic", s, v.Key)
			}
			if q := m.Plan(i, s, p.Size); !slices.Equal(p.Ranges, q.Ranges) || p.Size != q.Size {
				t.Fatalf("plan %d of %s differs when recomputed from the size after it", s, v.Key)
			}
			if p.Resize && (p.Size < v.Size/2 || p.Size > 2*v.Size) {
				t.Fatalf("plan %v resizes out of [%d, %d]", p, v.Size/2, 2*v.Size)
			}
			if !p.Resize && p.Size != size {
				t.Fatalf("plan %v changes the size without a resize", p)
			}
			if n := len(p.Ranges); n < 2 || n > 4 {
				t.Fatalf("plan %v has %d ranges", p, n)
			}
			if r := p.Ranges[0]; r.Index != 0 || r.Off != 0 || r.Len != HeaderSize {
				t.Fatalf("plan %v: range 0 is not the value header", p)
			}
			if r := p.Ranges[1]; r.Off < p.Size/2 {
				t.Fatalf("plan %v: range 1 is not in the second half", p)
			}
			sorted := slices.Clone(p.Ranges)
			slices.SortFunc(sorted, func(a, b Range) int { return int(a.Off - b.Off) })
			for k, r := range sorted {
				if r.Len < HeaderSize || r.End() > p.Size || (k > 0 && r.Off < sorted[k-1].End()) {
					t.Fatalf("plan %v: ranges overlap or leave the value", p)
				}
				if got := int64(len(m.Data(p, r))); got != r.Len {
					t.Fatalf("plan %v: range %d data is %d bytes", p, r.Index, got)
				}
			}
			modes[p.Mode]++
			extras[len(p.Ranges)]++
			if p.Resize {
				resizes++
			}
			size = p.Size
		}
	}
	if len(modes) != 3 || len(extras) != 3 || resizes < 60 || resizes > 250 {
		t.Fatalf("plans not varied: modes %v, range counts %v, %d resizes of 1200", modes, extras, resizes)
	}
	other := newModel(t, 8, ModeAll, 1<<10, 4<<10, 1<<20)
	p, q := m.Plan(2, 5, 1<<20), other.Plan(2, 5, 1<<20)
	if bytes.Equal(m.Data(p, p.Ranges[1]), other.Data(q, q.Ranges[1])) {
		t.Fatal("two seeds give the same content")
	}
}

func TestModes(t *testing.T) {
	for mode, want := range map[string]txn.Mode{ModeJournal: txn.ModeJournal, ModeCopy: txn.ModeCopy, ModeAuto: txn.ModeAuto} {
		m := newModel(t, 1, mode, 4096)
		for s := uint64(1); s < 50; s++ {
			if p := m.Plan(0, s, 4096); p.Mode != want {
				t.Fatalf("mode %s: plan %v", mode, p)
			}
		}
	}
	if _, err := NewModel(1, "fast", DefaultSizes); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if _, err := NewModel(1, ModeAll, []int64{100}); err == nil {
		t.Fatal("a value below MinValueSize accepted")
	}
}

func TestHeader(t *testing.T) {
	h := Header{Seq: 42, Size: 12345, Tag: 0xdeadbeef}
	b := encodeHeader(h)
	if got, err := ParseHeader(b); err != nil || got != h {
		t.Fatalf("ParseHeader = %+v, %v", got, err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, err := ParseHeader(c); err == nil {
			t.Fatalf("a flipped bit in byte %d went unnoticed", i)
		}
	}
	m := newModel(t, 3, ModeAll, 4096)
	if h, err := ParseHeader(m.Initial(0)); err != nil || h.Seq != 0 || h.Size != 4096 {
		t.Fatalf("initial header %+v, %v", h, err)
	}
	p := m.Plan(0, 9, 4096)
	rh, ok := parseRangeHeader(m.Data(p, p.Ranges[1]))
	if !ok || rh.Seq != 9 || rh.Index != 1 || rh.Len != int(p.Ranges[1].Len)-rangeHeaderSize {
		t.Fatalf("range header %+v, %v", rh, ok)
	}
}

func TestParseSizes(t *testing.T) {
	got, err := ParseSizes("4k,256K, 4M,1G,1000")
	if want := []int64{4 << 10, 256 << 10, 4 << 20, 1 << 30, 1000}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ParseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "-4k", "0", "4T", "99999999999G"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) accepted", bad)
		}
	}
}

// Every crash point exists for some mode; the replay point only where
// transactions may journal.
func TestCrashPoints(t *testing.T) {
	all := []string{
		crashpoint.JournalBeforeAppend, crashpoint.JournalAfterAppend, crashpoint.JournalMidApply,
		crashpoint.JournalAfterSync, crashpoint.JournalAfterMark, crashpoint.CopyBeforeReplace,
		crashpoint.CopyAfterReplace, crashpoint.RecoveryMidReplay,
		crashpoint.JournalAppend, crashpoint.JournalAppended, crashpoint.JournalMark,
	}
	for _, mode := range []string{ModeAll, ModeAuto} {
		got := CrashPoints(mode)
		for _, p := range all {
			if !slices.Contains(got, p) {
				t.Errorf("mode %s lacks %s", mode, p)
			}
		}
	}
	if got := CrashPoints(ModeCopy); slices.Contains(got, crashpoint.RecoveryMidReplay) || len(got) != 2 {
		t.Errorf("copy mode points %v", got)
	}
	if got := CrashPoints(ModeJournal); !slices.Contains(got, crashpoint.RecoveryMidReplay) || slices.Contains(got, crashpoint.CopyBeforeReplace) {
		t.Errorf("journal mode points %v", got)
	}
}
