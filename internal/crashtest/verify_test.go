package crashtest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rangetx/rangetx/txn"
)

// nextWithRanges returns the first s > from whose plan on value i (of
// the given size) writes at least two ranges besides the header and does
// not resize.
func nextWithRanges(m *Model, i int, from uint64, size int64) uint64 {
	for s := from + 1; ; s++ {
		if p := m.Plan(i, s, size); len(p.Ranges) >= 3 && !p.Resize {
			return s
		}
	}
}

// state returns value i after transactions 1..n.
func state(m *Model, i int, n uint64) []byte {
	v, _ := m.Replay(i, n)
	return v
}

func wantViolation(t *testing.T, vs []Violation, kind string, inDetail ...string) {
	t.Helper()
	for _, v := range vs {
		if v.Kind != kind {
			continue
		}
		ok := true
		for _, s := range inDetail {
			ok = ok && strings.Contains(v.Detail, s)
		}
		if ok {
			return
		}
	}
	t.Fatalf("no %s violation mentioning %q in %v", kind, inDetail, vs)
}

func TestCheckValueGood(t *testing.T) {
	m := newModel(t, 11, ModeAll, 4096, 64<<10)
	for i := range m.Values {
		for _, n := range []uint64{0, 1, 17, 120} {
			st, vs := m.CheckValue(i, state(m, i, n))
			if len(vs) != 0 || st.Seq != n {
				t.Fatalf("value %d after %d: seq %d, %v", i, n, st.Seq, vs)
			}
		}
	}
}

// A transaction whose header is in place but one of whose ranges is not
// (what a kill in the middle of applying it leaves before recovery).
func TestCheckValueTornHeaderWithoutRange(t *testing.T) {
	m := newModel(t, 12, ModeAll, 64<<10)
	base := uint64(30)
	v := state(m, 0, base)
	s := nextWithRanges(m, 0, base, int64(len(v)))
	v = state(m, 0, s-1)
	p := m.Plan(0, s, int64(len(v)))
	torn := bytes.Clone(v)
	for _, r := range p.Ranges[:2] { // the header and range 1, not range 2
		copy(torn[r.Off:], m.Data(p, r))
	}
	st, vs := m.CheckValue(0, torn)
	if st.Seq != s {
		t.Fatalf("seq %d, want %d", st.Seq, s)
	}
	wantViolation(t, vs, KindTorn, "range 2 of seq", "[")
	if _, err := m.CheckLast(0, bytes.NewReader(torn), int64(len(torn))); !errors.Is(err, ErrViolation) ||
		!strings.Contains(err.Error(), "range 2") {
		t.Fatalf("CheckLast = %v, want a violation naming range 2", err)
	}
}

// Ranges of a transaction present without its header: torn or mixed.
func TestCheckValueTornRangeWithoutHeader(t *testing.T) {
	m := newModel(t, 13, ModeAll, 256<<10)
	v := state(m, 0, 20)
	s := nextWithRanges(m, 0, 20, int64(len(v)))
	v = state(m, 0, s-1)
	p := m.Plan(0, s, int64(len(v)))
	r := p.Ranges[2]
	copy(v[r.Off:], m.Data(p, r))
	_, vs := m.CheckValue(0, v)
	wantViolation(t, vs, KindTorn, "range 2 of seq", "present without seq", "the value header does not name")
}

// One range of the last transaction holds older bytes: a mixed state.
func TestCheckValueMixed(t *testing.T) {
	m := newModel(t, 14, ModeAll, 64<<10)
	v := state(m, 0, 50)
	old := state(m, 0, 0)
	_, h := m.Replay(0, 50)
	p := h.Plans[49]
	r := p.Ranges[1]
	if r.End() <= int64(len(old)) {
		copy(v[r.Off:r.End()], old[r.Off:r.End()])
	} else {
		clear(v[r.Off:r.End()])
	}
	_, vs := m.CheckValue(0, v)
	wantViolation(t, vs, KindTorn, "expected range 1 of seq 50")
	if _, err := m.CheckLast(0, bytes.NewReader(v), int64(len(v))); !errors.Is(err, ErrViolation) {
		t.Fatalf("CheckLast = %v, want a violation", err)
	}
}

func TestCheckValueBadHeader(t *testing.T) {
	m := newModel(t, 15, ModeAll, 4096)
	v := state(m, 0, 5)
	v[9] ^= 0xff
	_, vs := m.CheckValue(0, v)
	wantViolation(t, vs, KindTorn, "CRC")
	v = state(m, 0, 5)
	_, vs = m.CheckValue(0, v[:len(v)-1])
	wantViolation(t, vs, KindTorn, "says")
	other := newModel(t, 16, ModeAll, 4096)
	_, vs = m.CheckValue(0, state(other, 0, 5))
	wantViolation(t, vs, KindTorn, "tag")
}

// An acknowledged transaction missing from its value was rolled back.
func TestCheckAcksRolledBack(t *testing.T) {
	m := newModel(t, 17, ModeAll, 4096, 8192)
	states := []ValueState{{Key: ValueKey(0), Seq: 10}, {Key: ValueKey(1), Seq: 3}}
	acks := []Ack{{ValueKey(0), 9, "0-0.log"}, {ValueKey(0), 10, "0-0.log"}, {ValueKey(1), 3, "1-0.log"}}
	if vs := m.CheckAcks(acks, states); len(vs) != 0 {
		t.Fatalf("good acks: %v", vs)
	}
	states = []ValueState{{Key: ValueKey(0), Seq: 10}, {Key: ValueKey(1), Seq: 3}}
	acks = append(acks, Ack{ValueKey(1), 4, "1-1.log"})
	vs := m.CheckAcks(acks, states)
	wantViolation(t, vs, KindLost, "seq 4", "1-1.log", "only up to seq 3")
	if states[0].Acknowledged != 2 || states[1].Acknowledged != 2 {
		t.Fatalf("acknowledgements counted %+v", states)
	}
}

// The same sequence number acknowledged twice is a lost update.
func TestCheckAcksDuplicate(t *testing.T) {
	m := newModel(t, 18, ModeAll, 4096)
	states := []ValueState{{Key: ValueKey(0), Seq: 10}}
	acks := []Ack{{ValueKey(0), 7, "0-0.log"}, {ValueKey(0), 7, "3-2.log"}, {"crash/nope", 1, "3-2.log"}}
	vs := m.CheckAcks(acks, states)
	wantViolation(t, vs, KindDuplicate, "seq 7", "0-0.log", "3-2.log")
	wantViolation(t, vs, KindBadAck, "unknown value")
}

func TestReadAcks(t *testing.T) {
	dir := t.TempDir()
	log, err := createAckLog(filepath.Join(dir, ackLogName(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	for s := uint64(1); s <= 3; s++ {
		if err := log.ack(ValueKey(0), s); err != nil {
			t.Fatal(err)
		}
	}
	log.close()
	// A line cut short by a kill acknowledges nothing; garbage is reported.
	os.WriteFile(filepath.Join(dir, ackLogName(1, 0)), []byte("crash/v1 5\nbogus\ncrash/v1 6"), 0o644)
	acks, bad, err := ReadAcks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 4 || acks[3] != (Ack{"crash/v1", 5, "1-0.log"}) {
		t.Fatalf("acks %v", acks)
	}
	wantViolation(t, bad, KindBadAck, "bogus")
}

func TestCheckClean(t *testing.T) {
	root := t.TempDir()
	_, jdir, _ := txn.Layout(root)
	os.MkdirAll(jdir, 0o755)
	os.MkdirAll(filepath.Join(root, "crash"), 0o755)
	if vs, err := CheckClean(root); err != nil || len(vs) != 0 {
		t.Fatalf("clean store: %v, %v", vs, err)
	}
	const id = "01a210ee-e4a1-733d-a66a-17345df3bef3"
	os.WriteFile(filepath.Join(jdir, id+".owner"), nil, 0o644)
	os.WriteFile(filepath.Join(jdir, "01a210ee-ec7c-7390-af7e-9e07f3f5ebf3.db"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "crash", ".v0.rangetx-tmp.x.0123456789abcdef"), nil, 0o644)
	vs, err := CheckClean(root)
	if err != nil {
		t.Fatal(err)
	}
	// An owner file without its journal is a leftover too: recovery
	// removes those (journal.RemoveOrphans).
	wantViolation(t, vs, KindLeftover, id+".owner")
	wantViolation(t, vs, KindLeftover, "ec7c-7390-af7e-9e07f3f5ebf3.db")
	wantViolation(t, vs, KindLeftover, "temporary file")
}
