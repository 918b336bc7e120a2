package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rangetx/rangetx/store"
)

// maxSeq bounds the sequence numbers the verifier believes: a header that
// passes its CRC yet names more transactions than any run makes is itself
// a violation, not a reason to replay for hours.
const maxSeq = 1 << 28

// ValueState is what the verifier found in one value.
type ValueState struct {
	Key          string `json:"key"`
	InitialSize  int64  `json:"initial_size"`
	Size         int64  `json:"size"`
	Seq          uint64 `json:"seq"`          // transactions applied, from the value header
	Acknowledged int    `json:"acknowledged"` // acknowledgements of its transactions
}

// Result is what Verify found.
type Result struct {
	Values       []ValueState
	Acknowledged int
	Violations   []Violation
}

// Verify checks a store after its final recovery, with no writer running:
// that it is clean (CheckClean), that each value is its state after a
// prefix of its transactions (CheckValue), and that the acknowledgements
// in ackDir agree (ReadAcks, CheckAcks).
func Verify(ctx context.Context, m *Model, root, ackDir string) (Result, error) {
	var res Result
	left, err := CheckClean(root)
	if err != nil {
		return res, err
	}
	res.Violations = append(res.Violations, left...)
	st, err := store.NewLocal(root)
	if err != nil {
		return res, fmt.Errorf("crashtest: verify: %w", err)
	}
	res.Values = make([]ValueState, len(m.Values))
	for i, v := range m.Values {
		b, err := st.Get(ctx, v.Key)
		if err != nil {
			res.Violations = append(res.Violations, Violation{Kind: KindTorn, Key: v.Key, Detail: fmt.Sprintf("unreadable: %v", err)})
			res.Values[i] = ValueState{Key: v.Key, InitialSize: v.Size}
			continue
		}
		var vs []Violation
		res.Values[i], vs = m.CheckValue(i, b)
		res.Violations = append(res.Violations, vs...)
	}
	acks, bad, err := ReadAcks(ackDir)
	if err != nil {
		return res, err
	}
	res.Violations = append(res.Violations, bad...)
	res.Violations = append(res.Violations, m.CheckAcks(acks, res.Values)...)
	res.Acknowledged = len(acks)
	return res, nil
}

// CheckValue checks value i's final content: its header names the last
// transaction S applied, and the content must equal, byte for byte, the
// model's state after transactions 1..S. A difference is reported with its
// first offset, the range that should be there and what is there instead.
func (m *Model) CheckValue(i int, got []byte) (ValueState, []Violation) {
	v := m.Values[i]
	st := ValueState{Key: v.Key, InitialSize: v.Size, Size: int64(len(got))}
	torn := func(format string, a ...any) []Violation {
		return []Violation{{Kind: KindTorn, Key: v.Key, Detail: fmt.Sprintf(format, a...)}}
	}
	h, err := ParseHeader(got)
	if err != nil {
		return st, torn("%v (value is %d bytes)", err, len(got))
	}
	st.Seq = h.Seq
	switch {
	case h.Tag != m.tags[i]:
		return st, torn("value header has tag %08x, want %08x: not this run's value", h.Tag, m.tags[i])
	case h.Seq > maxSeq:
		return st, torn("value header names transaction %d, more than any run makes", h.Seq)
	case h.Size != int64(len(got)):
		return st, torn("header of seq %d says %d bytes, the value is %d bytes%s",
			h.Seq, h.Size, len(got), m.nextPresent(i, got, h))
	}
	want, hist := m.Replay(i, h.Seq)
	if bytes.Equal(got, want) {
		return st, nil
	}
	off := firstDiff(got, want)
	n := 0
	for k := off; k < len(got); k++ {
		if got[k] != want[k] {
			n++
		}
	}
	return st, torn("differs from the state after seq %d at offset %d (%d bytes differ): expected %s, found %s%s",
		h.Seq, off, n, m.whoWrote(hist, int64(off)), m.whatIsAt(hist, got, int64(off)), m.nextPresent(i, got, h))
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for k := 0; k < n; k += 4096 {
		e := min(k+4096, n)
		if !bytes.Equal(a[k:e], b[k:e]) {
			for j := k; j < e; j++ {
				if a[j] != b[j] {
					return j
				}
			}
		}
	}
	return n
}

// whoWrote says which transaction's range (or the initial content, or the
// zeros of a resize) the byte at off holds in the model's state.
func (m *Model) whoWrote(h History, off int64) string {
	for s := len(h.Plans); s >= 1; s-- {
		p := h.Plans[s-1]
		for _, r := range p.Ranges {
			if r.Off <= off && off < r.End() {
				return fmt.Sprintf("range %d of seq %d [%d,%d)", r.Index, p.Seq, r.Off, r.End())
			}
		}
		before := m.Values[h.Value].Size
		if s >= 2 {
			before = h.Plans[s-2].Size
		}
		if p.Resize && off >= before {
			return fmt.Sprintf("zeros from seq %d's resize to %d", p.Seq, p.Size)
		}
	}
	return "the initial content"
}

// whatIsAt says which transaction's range holds the bytes at off in got,
// trying the transaction after the last one applied first, then the
// others from the newest; else whether off holds the initial content or
// zeros.
func (m *Model) whatIsAt(h History, got []byte, off int64) string {
	size := m.Values[h.Value].Size
	if n := len(h.Plans); n > 0 {
		size = h.Plans[n-1].Size
	}
	next := m.Plan(h.Value, uint64(len(h.Plans))+1, size)
	// A range "is at" off if the bytes from off on (up to 32, within the
	// range) are the ones it wrote there: later transactions may have
	// overwritten the rest of it.
	try := func(p Plan) (string, bool) {
		for _, r := range p.Ranges {
			if r.Off <= off && off < r.End() {
				end := min(off+32, r.End(), int64(len(got)))
				if end-off >= 4 && bytes.Equal(got[off:end], m.Data(p, r)[off-r.Off:end-r.Off]) {
					return fmt.Sprintf("range %d of seq %d [%d,%d)", r.Index, p.Seq, r.Off, r.End()), true
				}
			}
		}
		return "", false
	}
	if s, ok := try(next); ok {
		return s + ", a transaction the value header does not name"
	}
	for k := len(h.Plans) - 1; k >= 0; k-- {
		if s, ok := try(h.Plans[k]); ok {
			return s + " (an older state)"
		}
	}
	end := min(off+64, int64(len(got)))
	if off < m.Values[h.Value].Size {
		init := m.Initial(h.Value)
		if e := min(end, int64(len(init))); bytes.Equal(got[off:e], init[off:e]) {
			return "the initial content"
		}
	}
	if bytes.Count(got[off:end], []byte{0}) == int(end-off) {
		return "zeros"
	}
	if rh, ok := parseRangeHeader(got[off:]); ok {
		return fmt.Sprintf("the start of range %d of seq %d", rh.Index, rh.Seq)
	}
	return "unrecognized bytes"
}

// nextPresent lists the ranges of the transaction after the one the header
// names that are whole in got: such ranges without their header mean a
// torn or mixed transaction.
func (m *Model) nextPresent(i int, got []byte, h Header) string {
	p := m.Plan(i, h.Seq+1, h.Size)
	var found []string
	for _, r := range p.Ranges[1:] {
		if r.End() <= int64(len(got)) && bytes.Equal(got[r.Off:r.End()], m.Data(p, r)) {
			found = append(found, fmt.Sprintf("range %d", r.Index))
		}
	}
	if len(found) == 0 {
		return ""
	}
	return fmt.Sprintf("; %s of seq %d present without seq %d's header (torn or mixed)",
		strings.Join(found, ", "), p.Seq, p.Seq)
}

// CheckLast checks, through r (value i as a transaction sees it, size
// bytes), that the value header is sound and that every range of the last
// transaction it names is whole — what a writer can check cheaply before it
// adds the next transaction. It returns the header; a problem is an error
// wrapping ErrViolation.
func (m *Model) CheckLast(i int, r io.ReaderAt, size int64) (Header, error) {
	key := m.Values[i].Key
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrViolation, key, fmt.Sprintf(format, a...))
	}
	b := make([]byte, HeaderSize)
	if _, err := r.ReadAt(b, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return Header{}, bad("value is %d bytes, too short for its header", size)
		}
		return Header{}, err
	}
	h, err := ParseHeader(b)
	switch {
	case err != nil:
		return h, bad("%v", err)
	case h.Tag != m.tags[i]:
		return h, bad("value header has tag %08x, want %08x", h.Tag, m.tags[i])
	case h.Size != size:
		return h, bad("header of seq %d says %d bytes, the value is %d bytes", h.Seq, h.Size, size)
	case h.Seq == 0:
		if size != m.Values[i].Size {
			return h, bad("initial value is %d bytes, want %d", size, m.Values[i].Size)
		}
		return h, nil
	}
	p := m.Plan(i, h.Seq, h.Size)
	if p.Size != h.Size {
		return h, bad("header of seq %d says %d bytes, but seq %d resizes to %d", h.Seq, h.Size, h.Seq, p.Size)
	}
	for _, rg := range p.Ranges[1:] {
		got := make([]byte, rg.Len)
		if _, err := r.ReadAt(got, rg.Off); err != nil {
			return h, fmt.Errorf("crashtest: read %s: %w", key, err)
		}
		if !bytes.Equal(got, m.Data(p, rg)) {
			found := "unrecognized bytes"
			if rh, ok := parseRangeHeader(got); ok {
				found = fmt.Sprintf("the start of range %d of seq %d", rh.Index, rh.Seq)
			}
			return h, bad("header names seq %d, but its range %d [%d,%d) is not whole: found %s",
				h.Seq, rg.Index, rg.Off, rg.End(), found)
		}
	}
	return h, nil
}
