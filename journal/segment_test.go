package journal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/journal"
)

// Tests of Journal.Write and of the segment files that hold the
// after-images of large batches (segment.go).

// ---- helpers ----

// segAlways sends every batch with data to a segment file.
var segAlways = &journal.Options{InlineBytes: -1}

// createSeg is create with options.
func createSeg(t *testing.T, dir string, opts *journal.Options) *journal.Journal {
	t.Helper()
	j, err := journal.Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// segBytes returns n pseudo-random bytes determined by seed.
func segBytes(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

// segRec returns a record for key with one range of pseudo-random data per
// size (a size of 0 is an empty range), separated by small gaps.
func segRec(key string, seed uint64, sizes ...int) *journal.Record {
	r := &journal.Record{TxID: uuid.New(), Key: key}
	var off int64
	for i, n := range sizes {
		var data []byte
		if n > 0 {
			data = segBytes(seed*1000+uint64(i), n)
		}
		r.Ranges = append(r.Ranges, journal.Range{Off: off, Data: data})
		off += int64(n) + 7
	}
	r.Size, r.BaseSize, r.MinSize = off, off/2, 0
	return r
}

// segCopy returns a deep copy of r, to compare against after Write.
func segCopy(r *journal.Record) journal.Record {
	c := *r
	c.Ranges = slices.Clone(r.Ranges)
	for i := range c.Ranges {
		c.Ranges[i].Data = bytes.Clone(r.Ranges[i].Data)
	}
	return c
}

func write(t *testing.T, j *journal.Journal, b *journal.Batch) {
	t.Helper()
	if err := j.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func segPath(dir, id string, n int) string {
	return filepath.Join(dir, fmt.Sprintf("%s.seg%d", id, n))
}

// segSizes returns the sizes of a journal's two segment files.
func segSizes(t *testing.T, dir, id string) [2]int64 {
	t.Helper()
	var out [2]int64
	for n := range 2 {
		fi, err := os.Stat(segPath(dir, id, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = fi.Size()
	}
	return out
}

// segRead returns n bytes at off of segment seg.
func segRead(t *testing.T, dir, id string, seg int, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(segPath(dir, id, seg))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("segment %d [%d, +%d): %v", seg, off, n, err)
	}
	return b
}

// concat returns a record's after-images as they lie in a segment.
func concat(r *journal.Record) []byte {
	var b []byte
	for _, rg := range r.Ranges {
		b = append(b, rg.Data...)
	}
	return b
}

// wantPending checks that Pending(key) returns exactly want, in order,
// byte-exact.
func wantPending(t *testing.T, j *journal.Journal, key string, want []journal.Record) {
	t.Helper()
	got, err := j.Pending(context.Background(), key)
	if err != nil {
		t.Fatalf("Pending(%q): %v", key, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Pending(%q) = LSNs %v, want %v", key, lsns(got), lsns(want))
	}
	for i := range got {
		if !recordsEqual(got[i], want[i]) {
			t.Fatalf("Pending(%q)[%d] (lsn %d) differs from what was written (lsn %d)", key, i, got[i].LSN, want[i].LSN)
		}
	}
}

// entryVersion returns the version byte of the bbolt entry under lsn and
// its length, or 0, 0 if there is none.
func entryVersion(t *testing.T, j *journal.Journal, lsn uint64) (byte, int) {
	t.Helper()
	raw, err := journal.GetRaw(j, lsn)
	if err != nil {
		t.Fatal(err)
	}
	if raw == nil {
		return 0, 0
	}
	return raw[journal.OffVersion], len(raw)
}

// ---- Write and the choice between inline and segment ----

// A large batch gets consecutive LSNs, set on its records; its bbolt
// entries are small reference records (version 2) whose data lies
// contiguously in seg0; Pending returns it byte-exact in LSN order, per key
// too, in memory of its own.
func TestWriteSegmentBatch(t *testing.T) {
	dir := t.TempDir()
	j := createSeg(t, dir, &journal.Options{InlineBytes: 16 << 10})
	appendAll(t, j, rec("c", "inline")) // LSN 1, small: stays in bbolt
	recs := []*journal.Record{
		segRec("a", 1, 9000, 0, 3000),
		segRec("b", 2, 6000),
		segRec("a", 3, 1, 2, 3),
		segRec("c", 4, 20000),
	}
	b := &journal.Batch{Records: recs}
	write(t, j, b)

	var want []journal.Record
	var total int64
	for i, r := range recs {
		if r.LSN != uint64(i+2) {
			t.Fatalf("record %d has LSN %d, want %d", i, r.LSN, i+2)
		}
		want = append(want, segCopy(r))
		total += r.Bytes()
	}
	if v, n := entryVersion(t, j, 1); v != 1 {
		t.Fatalf("small entry 1 has version %d (%d bytes), want 1", v, n)
	}
	for _, r := range recs {
		if v, n := entryVersion(t, j, r.LSN); v != 2 || n > 200 {
			t.Fatalf("entry %d: version %d, %d bytes for %d bytes of data; want a small reference record", r.LSN, v, n, r.Bytes())
		}
	}
	if got := segSizes(t, dir, j.ID()); got != [2]int64{total, 0} {
		t.Fatalf("segment sizes = %v, want [%d 0]", got, total)
	}
	var layout []byte
	for _, r := range recs {
		layout = append(layout, concat(r)...)
	}
	if got := segRead(t, dir, j.ID(), 0, 0, int(total)); !bytes.Equal(got, layout) {
		t.Fatal("seg0 does not hold the batch's after-images contiguously, in order")
	}

	// The caller's buffers are not referenced after Write.
	for _, r := range recs {
		for _, rg := range r.Ranges {
			clear(rg.Data)
		}
	}
	got, err := j.Pending(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || !recordsEqual(got[0], journal.Record{TxID: got[0].TxID, LSN: 1, Key: "c", BaseSize: 6, MinSize: 6, Size: 6,
		Ranges: []journal.Range{{Data: []byte("inline")}}}) {
		t.Fatalf("Pending = LSNs %v", lsns(got))
	}
	wantPending(t, j, "", append([]journal.Record{got[0]}, want...))
	wantPending(t, j, "a", []journal.Record{want[0], want[2]})
	wantPending(t, j, "b", want[1:2])

	// Pending's data is its own: it survives Close, which closes the
	// segment files.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !recordsEqual(got[i+1], want[i]) {
			t.Fatalf("Pending's record %d changed after Close", got[i+1].LSN)
		}
	}
}

// The total of a batch's after-images decides: up to InlineBytes they stay
// in bbolt (both segment files stay empty), one byte more and the whole
// batch goes to a segment, even if every record alone is small. A negative
// InlineBytes sends any data to a segment, but a batch without data stays
// inline.
func TestWriteInlineThreshold(t *testing.T) {
	const limit = 4096
	dir := t.TempDir()
	j := createSeg(t, dir, &journal.Options{InlineBytes: limit})
	write(t, j, &journal.Batch{Records: []*journal.Record{segRec("a", 1, 1000), segRec("b", 2, limit-1000)}})
	if got := segSizes(t, dir, j.ID()); got != [2]int64{} {
		t.Fatalf("a batch of exactly InlineBytes wrote segments: sizes %v", got)
	}
	for lsn := uint64(1); lsn <= 2; lsn++ {
		if v, _ := entryVersion(t, j, lsn); v != 1 {
			t.Fatalf("entry %d has version %d, want 1 (inline)", lsn, v)
		}
	}
	write(t, j, &journal.Batch{Records: []*journal.Record{segRec("a", 3, 1000), segRec("b", 4, limit-1000+1)}})
	if got := segSizes(t, dir, j.ID()); got != [2]int64{limit + 1, 0} {
		t.Fatalf("segment sizes after a batch of InlineBytes+1 = %v, want [%d 0]", got, limit+1)
	}
	for lsn := uint64(3); lsn <= 4; lsn++ {
		if v, _ := entryVersion(t, j, lsn); v != 2 {
			t.Fatalf("entry %d has version %d, want 2 (reference)", lsn, v)
		}
	}

	// Defaults: DefaultInlineBytes.
	dir = t.TempDir()
	j = createSeg(t, dir, nil)
	appendAll(t, j, segRec("a", 5, journal.DefaultInlineBytes))
	if got := segSizes(t, dir, j.ID()); got != [2]int64{} {
		t.Fatalf("default options: a record of DefaultInlineBytes wrote segments: %v", got)
	}
	appendAll(t, j, segRec("a", 6, journal.DefaultInlineBytes+1))
	if got := segSizes(t, dir, j.ID()); got != [2]int64{journal.DefaultInlineBytes + 1, 0} {
		t.Fatalf("default options: segment sizes = %v", got)
	}

	// Negative: always a segment, unless there is no data at all.
	dir = t.TempDir()
	j = createSeg(t, dir, segAlways)
	one := segRec("a", 7, 1)
	appendAll(t, j, one)
	if v, _ := entryVersion(t, j, 1); v != 2 || segSizes(t, dir, j.ID()) != [2]int64{1, 0} {
		t.Fatalf("InlineBytes < 0: a 1-byte record has version %d, segments %v", v, segSizes(t, dir, j.ID()))
	}
	empty := segRec("b", 8, 0, 0)
	appendAll(t, j, empty)
	if v, _ := entryVersion(t, j, 2); v != 1 || segSizes(t, dir, j.ID()) != [2]int64{1, 0} {
		t.Fatalf("InlineBytes < 0: a record without data has version %d, segments %v", v, segSizes(t, dir, j.ID()))
	}
	wantPending(t, j, "", []journal.Record{segCopy(one), segCopy(empty)})
}

// More than IOV_MAX (1024) ranges in one batch: the segment write takes
// several pwritev calls and every byte still lands in place.
func TestWriteManyRanges(t *testing.T) {
	j := createSeg(t, t.TempDir(), segAlways)
	sizes := make([]int, 2500)
	for i := range sizes {
		sizes[i] = 1 + i%13
	}
	r1, r2 := segRec("a", 1, sizes...), segRec("b", 2, sizes[:700]...)
	write(t, j, &journal.Batch{Records: []*journal.Record{r1, r2}})
	wantPending(t, j, "", []journal.Record{segCopy(r1), segCopy(r2)})
}

// A byte flipped in a segment makes Pending fail with ErrCorrupt naming
// the journal and the LSN whose data it hit, and Stats list that LSN; the
// same damage to the segment file of a journal whose entries are inline
// harms nothing.
func TestSegmentBitFlip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := createSeg(t, dir, segAlways)
	r1, r2, r3 := segRec("a", 1, 5000), segRec("b", 2, 3000, 3000), segRec("a", 3, 100)
	write(t, j, &journal.Batch{Records: []*journal.Record{r1, r2, r3}})
	flip(t, segPath(dir, j.ID(), 0), r1.Bytes()+4000) // inside r2's second range

	for _, key := range []string{"", "b"} {
		got, err := j.Pending(ctx, key)
		if !errors.Is(err, journal.ErrCorrupt) || got != nil {
			t.Fatalf("Pending(%q) = %d records, %v; want nothing and ErrCorrupt", key, len(got), err)
		}
		if msg := err.Error(); !strings.Contains(msg, j.ID()) || !strings.Contains(msg, "lsn 2") {
			t.Fatalf("Pending(%q) error %q does not name the journal and lsn 2", key, msg)
		}
	}
	st, err := j.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 3 || !slices.Equal(st.Corrupt, []uint64{2}) || !slices.Equal(st.PendingKeys, []string{"a"}) {
		t.Fatalf("Stats = %+v; want 3 entries, Corrupt [2], PendingKeys [a]", st)
	}
	// Applying b drops the damaged entry; everything is readable again.
	write(t, j, &journal.Batch{Applied: map[string]uint64{"b": 2}})
	wantPending(t, j, "", []journal.Record{segCopy(r1), segCopy(r3)})

	// Inline entries never read the segment files.
	dir = t.TempDir()
	in := createSeg(t, dir, &journal.Options{InlineBytes: 1 << 20})
	r4 := segRec("a", 4, 50000)
	appendAll(t, in, r4)
	if err := os.WriteFile(segPath(dir, in.ID(), 0), segBytes(9, 60000), 0o600); err != nil {
		t.Fatal(err)
	}
	wantPending(t, in, "", []journal.Record{segCopy(r4)})
}

// flip inverts one bit of the byte at off in the file at path.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// ---- watermarks and atomicity ----

// Watermarks in a batch with new records delete their key's entries at or
// below them and nothing else. A watermark beyond the last LSN assigned
// before the batch is ErrInvalid and ErrNotWritten: neither the batch's
// records nor its other watermarks are stored, no LSN is used up, and the
// segment bytes it wrote are not referenced (the next batch lands on them).
func TestWriteWatermarks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := createSeg(t, dir, segAlways)
	a1, b1, a2 := segRec("a", 1, 4000), segRec("b", 2, 4000), segRec("a", 3, 4000)
	write(t, j, &journal.Batch{Records: []*journal.Record{a1, b1, a2}}) // 1, 2, 3

	a3, b2 := segRec("a", 4, 2000), segRec("b", 5, 2000)
	write(t, j, &journal.Batch{Records: []*journal.Record{a3, b2}, Applied: map[string]uint64{"a": 1}}) // 4, 5
	if a3.LSN != 4 || b2.LSN != 5 {
		t.Fatalf("LSNs %d, %d; want 4, 5", a3.LSN, b2.LSN)
	}
	if v, _ := entryVersion(t, j, 1); v != 0 {
		t.Fatal("entry 1 survived its watermark")
	}
	wantPending(t, j, "a", []journal.Record{segCopy(a2), segCopy(a3)})
	wantPending(t, j, "b", []journal.Record{segCopy(b1), segCopy(b2)})

	// Up to an LSN of another key's entry: only a's entries go.
	write(t, j, &journal.Batch{Applied: map[string]uint64{"a": 4}})
	wantPending(t, j, "", []journal.Record{segCopy(b1), segCopy(b2)})

	before := segSizes(t, dir, j.ID())
	bad := segRec("c", 6, 3000)
	for _, marks := range []map[string]uint64{
		{"b": 6},                   // beyond the last LSN, 5
		{"b": 2, "zz": 1 << 40},    // one good, one beyond
		{"b": 2, "": 1},            // an empty key
		{"b": 2, "a": 3, "c": 100}, // beyond, for a key without entries
	} {
		err := j.Write(ctx, &journal.Batch{Records: []*journal.Record{bad}, Applied: marks})
		if !errors.Is(err, journal.ErrInvalid) || !errors.Is(err, journal.ErrNotWritten) {
			t.Fatalf("Write with watermarks %v = %v, want ErrInvalid and ErrNotWritten", marks, err)
		}
		if bad.LSN != 0 {
			t.Fatalf("a refused batch set its record's LSN to %d", bad.LSN)
		}
	}
	wantPending(t, j, "", []journal.Record{segCopy(b1), segCopy(b2)})
	st, err := j.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 2 || st.Applied["a"] != 4 || st.Applied["b"] != 0 || len(st.Applied) != 1 {
		t.Fatalf("Stats after refused batches = %+v", st)
	}

	// The next batch gets LSN 6 and its data lies where the refused ones
	// wrote theirs: at the head they did not advance.
	c := segRec("c", 7, 3000)
	write(t, j, &journal.Batch{Records: []*journal.Record{c}})
	if c.LSN != 6 {
		t.Fatalf("LSN after refused batches = %d, want 6", c.LSN)
	}
	if got := segSizes(t, dir, j.ID()); got != [2]int64{before[0] + 3000, 0} {
		t.Fatalf("segment sizes = %v, want [%d 0]", got, before[0]+3000)
	}
	if !bytes.Equal(segRead(t, dir, j.ID(), 0, before[0], 3000), concat(c)) {
		t.Fatal("the batch after refused ones does not lie at the old head")
	}
	wantPending(t, j, "", []journal.Record{segCopy(b1), segCopy(b2), segCopy(c)})
}

// A batch with one invalid record is refused whole before anything is
// written: ErrInvalid and ErrNotWritten, no entry, no LSN used, no
// watermark raised, no segment bytes referenced.
func TestWriteInvalidRecordAtomic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := createSeg(t, dir, segAlways)
	first := segRec("a", 1, 1000)
	write(t, j, &journal.Batch{Records: []*journal.Record{first}})

	good := segRec("a", 2, 20000)
	for name, bad := range map[string]*journal.Record{
		"empty key":  {Key: "", Size: 1},
		"min > base": {Key: "b", BaseSize: 1, MinSize: 2, Size: 3},
		"overlap": {Key: "b", Size: 10, Ranges: []journal.Range{
			{Off: 0, Data: []byte("abcd")}, {Off: 2, Data: []byte("xy")}}},
		"past size": {Key: "b", Size: 3, Ranges: []journal.Range{{Off: 1, Data: []byte("xyz")}}},
	} {
		err := j.Write(ctx, &journal.Batch{Records: []*journal.Record{good, bad}, Applied: map[string]uint64{"a": 1}})
		if !errors.Is(err, journal.ErrInvalid) || !errors.Is(err, journal.ErrNotWritten) {
			t.Fatalf("%s: Write = %v, want ErrInvalid and ErrNotWritten", name, err)
		}
		if good.LSN != 0 {
			t.Fatalf("%s: the valid record of a refused batch got LSN %d", name, good.LSN)
		}
	}
	wantPending(t, j, "", []journal.Record{segCopy(first)})
	next := segRec("b", 3, 500)
	write(t, j, &journal.Batch{Records: []*journal.Record{next}})
	if next.LSN != 2 {
		t.Fatalf("LSN after refused batches = %d, want 2", next.LSN)
	}
	if !bytes.Equal(segRead(t, dir, j.ID(), 0, first.Bytes(), int(next.Bytes())), concat(next)) {
		t.Fatal("the batch after refused ones does not lie right after the first one")
	}
	wantPending(t, j, "", []journal.Record{segCopy(first), segCopy(next)})
}

// ---- rotation and reuse ----

// While the other segment holds a live entry, the writer keeps appending to
// the current one past SegmentBytes; once that entry is deleted by a
// watermark, the next batch starts over at offset 0 of the other segment,
// and nothing live is ever overwritten.
func TestSegmentRotation(t *testing.T) {
	const limit, n = 64 << 10, 40 << 10
	dir := t.TempDir()
	j := createSeg(t, dir, &journal.Options{InlineBytes: -1, SegmentBytes: limit})
	recs := map[string]*journal.Record{}
	put := func(key string, marks map[string]uint64) *journal.Record {
		t.Helper()
		r := segRec(key, uint64(len(recs)+1), n)
		recs[key] = r
		write(t, j, &journal.Batch{Records: []*journal.Record{r}, Applied: marks})
		return r
	}
	at := func(key string, seg int, off int64) {
		t.Helper()
		if !bytes.Equal(segRead(t, dir, j.ID(), seg, off, n), concat(recs[key])) {
			t.Fatalf("%s's data is not at seg%d offset %d", key, seg, off)
		}
	}
	sizes := func(want [2]int64) {
		t.Helper()
		if got := segSizes(t, dir, j.ID()); got != want {
			t.Fatalf("segment sizes = %v, want %v", got, want)
		}
	}
	pending := func(keys ...string) {
		t.Helper()
		var want []journal.Record
		for _, k := range keys {
			want = append(want, segCopy(recs[k]))
		}
		wantPending(t, j, "", want)
	}

	put("a", nil) // seg0 [0, n)
	put("b", nil) // past the limit, seg1 is empty: seg1 [0, n)
	at("a", 0, 0)
	at("b", 1, 0)
	put("c", nil) // seg0 holds live a: append, seg1 [n, 2n)
	put("d", nil) // seg1 [2n, 3n)
	at("c", 1, n)
	at("d", 1, 2*n)
	sizes([2]int64{n, 3 * n})
	pending("a", "b", "c", "d")

	// a applied: seg0 is free. e starts over there, the watermark riding
	// in e's own batch (it is applied after e's data is placed).
	write(t, j, &journal.Batch{Applied: map[string]uint64{"a": recs["a"].LSN}})
	put("e", nil) // seg0 [0, n)
	at("e", 0, 0)
	sizes([2]int64{n, 3 * n})
	pending("b", "c", "d", "e")

	// seg1 still holds b, c, d: f appends to seg0, even though its own
	// batch deletes them all.
	put("f", map[string]uint64{"b": recs["b"].LSN, "c": recs["c"].LSN, "d": recs["d"].LSN}) // seg0 [n, 2n)
	at("f", 0, n)
	sizes([2]int64{2 * n, 3 * n})
	pending("e", "f")
	put("g", nil) // seg1 is free now: seg1 [0, n)
	at("g", 1, 0)
	sizes([2]int64{2 * n, 3 * n})
	pending("e", "f", "g")

	// Everything survives the owner's death.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := journal.OpenDead(context.Background(), dir, j.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	j = d
	pending("e", "f", "g")
}

// Many batches with watermarks trailing a little behind, some in the same
// batch as new records: both segments stay bounded by SegmentBytes plus one
// batch although many times that is written, and every pending record
// reads back byte-exact, in the live journal and after its owner dies.
func TestSegmentBoundedAcrossWraps(t *testing.T) {
	const limit = 64 << 10
	ctx := context.Background()
	dir := t.TempDir()
	j := createSeg(t, dir, &journal.Options{InlineBytes: -1, SegmentBytes: limit})
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"k0", "k1", "k2"}
	live := map[uint64]journal.Record{} // the model: records not yet applied
	var batches [][]journal.Record      // every batch written, in order
	var written, maxBatch int64
	check := func() {
		t.Helper()
		var want []journal.Record
		for _, lsn := range slices.Sorted(maps.Keys(live)) {
			want = append(want, live[lsn])
		}
		wantPending(t, j, "", want)
	}
	for i := range 150 {
		b := &journal.Batch{}
		var size int64
		for range 1 + rng.IntN(3) {
			var sizes []int
			for range 1 + rng.IntN(3) {
				sizes = append(sizes, rng.IntN(5000))
			}
			r := segRec(keys[rng.IntN(len(keys))], uint64(i*10+len(b.Records)), sizes...)
			b.Records = append(b.Records, r)
			size += r.Bytes()
		}
		// Apply everything written two batches ago or earlier.
		if len(batches) >= 2 {
			b.Applied = map[string]uint64{}
			for _, old := range batches[:len(batches)-1] {
				for _, r := range old {
					b.Applied[r.Key] = max(b.Applied[r.Key], r.LSN)
				}
			}
			batches = batches[len(batches)-1:]
		}
		write(t, j, b)
		var done []journal.Record
		for _, r := range b.Records {
			live[r.LSN] = segCopy(r)
			done = append(done, segCopy(r))
		}
		for lsn, r := range live {
			if lsn <= b.Applied[r.Key] {
				delete(live, lsn)
			}
		}
		batches = append(batches, done)
		written += size
		maxBatch = max(maxBatch, size)
		for n, s := range segSizes(t, dir, j.ID()) {
			if s > limit+maxBatch {
				t.Fatalf("batch %d: seg%d is %d bytes, more than SegmentBytes %d plus the largest batch %d", i, n, s, limit, maxBatch)
			}
		}
		if i%10 == 0 {
			check()
		}
	}
	if written < 4*(limit+maxBatch) {
		t.Fatalf("only %d bytes written: the segments never had to wrap", written)
	}
	check()
	st, err := j.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != len(live) || st.Corrupt != nil {
		t.Fatalf("Stats = %+v, want %d entries, none corrupt", st, len(live))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := journal.OpenDead(ctx, dir, j.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	j = d
	check()
}

// A reader whose bbolt snapshot predates a watermark must still read the
// data of the entries that watermark deleted: the segment they lie in must
// not be overwritten under it. Here Pending stops inside its read
// transaction, before loading a's data; meanwhile a is applied and the
// writer, finding seg0 free, starts over there. Journal promises that all
// methods are safe for concurrent use, so Pending must not then report a
// healthy journal corrupt.
func TestSegmentReuseUnderReader(t *testing.T) {
	const limit, n = 16 << 10, 20 << 10
	ctx := context.Background()
	dir := t.TempDir()
	j := createSeg(t, dir, &journal.Options{InlineBytes: 16 << 10, SegmentBytes: limit})
	// Grow bbolt's file and memory map first (inline records, then freed),
	// so that the commits below need not remap it while the reader holds
	// it, which would make them wait for the reader.
	const pads = 64
	for i := range pads {
		appendAll(t, j, segRec("pad", uint64(100+i), 10<<10))
	}
	write(t, j, &journal.Batch{Applied: map[string]uint64{"pad": pads}})

	a, b := segRec("a", 3, n), segRec("b", 4, n)
	write(t, j, &journal.Batch{Records: []*journal.Record{a}}) // seg0 [0, n)
	write(t, j, &journal.Batch{Records: []*journal.Record{b}}) // seg1 [0, n)
	wantA, wantB := segCopy(a), segCopy(b)

	pc := &pausingCtx{Context: ctx, at: 2, reached: make(chan struct{}), release: make(chan struct{})}
	type result struct {
		recs []journal.Record
		err  error
	}
	done := make(chan result, 1)
	go func() {
		recs, err := j.Pending(pc, "")
		done <- result{recs, err}
	}()
	<-pc.reached // inside Pending's read transaction, before a's entry

	wrote := make(chan error, 1)
	c := segRec("c", 5, n)
	go func() {
		err := j.Write(ctx, &journal.Batch{Applied: map[string]uint64{"a": a.LSN}})
		if err == nil {
			err = j.Write(ctx, &journal.Batch{Records: []*journal.Record{c}}) // seg0 is free: [0, n)
		}
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(pc.release)
		t.Fatal("writes blocked while a reader was open")
	}
	close(pc.release)
	res := <-done
	if res.err != nil {
		t.Fatalf("Pending that began before a was applied = %v; want a and b as they were written", res.err)
	}
	if len(res.recs) != 2 || !recordsEqual(res.recs[0], wantA) || !recordsEqual(res.recs[1], wantB) {
		t.Fatalf("Pending that began before a was applied = LSNs %v, want [%d %d] intact", lsns(res.recs), wantA.LSN, wantB.LSN)
	}
}

// pausingCtx blocks the at-th call of Err until release is closed, first
// closing reached. Pending calls Err once on entry and once per entry it
// visits.
type pausingCtx struct {
	context.Context
	calls            atomic.Int32
	at               int32
	reached, release chan struct{}
}

func (c *pausingCtx) Err() error {
	if c.calls.Add(1) == c.at {
		close(c.reached)
		<-c.release
	}
	return c.Context.Err()
}

// ---- dead journals, removal, orphans ----

// A dead journal (owner gone without Release) reads its segment records;
// a segment cut short or missing makes Pending fail with ErrCorrupt and
// Stats list exactly the LSNs whose data it held; entries in the other,
// intact segment (or inline) are unaffected.
func TestDeadJournalSegments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := createSeg(t, dir, &journal.Options{InlineBytes: 1000, SegmentBytes: 64 << 10})
	a1, b1 := segRec("a", 1, 30000), segRec("b", 2, 20000)
	write(t, j, &journal.Batch{Records: []*journal.Record{a1, b1}}) // 1, 2: seg0 [0, 50000)
	a2 := segRec("a", 3, 10000)
	write(t, j, &journal.Batch{Records: []*journal.Record{a2}}) // 3: seg0 [50000, 60000)
	c1 := segRec("c", 4, 500)
	appendAll(t, j, c1) // 4: inline
	id := j.ID()
	if err := j.Close(); err != nil { // the owner dies with entries pending
		t.Fatal(err)
	}
	all := []journal.Record{segCopy(a1), segCopy(b1), segCopy(a2), segCopy(c1)}
	if got := segSizes(t, dir, id); got != [2]int64{60000, 0} {
		t.Fatalf("segment sizes = %v, want [60000 0]", got)
	}
	seg0, err := os.ReadFile(segPath(dir, id, 0))
	if err != nil {
		t.Fatal(err)
	}

	openDead := func(t *testing.T) *journal.Journal {
		t.Helper()
		d, err := journal.OpenDead(ctx, dir, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		return d
	}
	stats := func(t *testing.T, d *journal.Journal, corrupt []uint64, pendingKeys ...string) {
		t.Helper()
		st, err := d.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Entries != 4 || !slices.Equal(st.Corrupt, corrupt) || !slices.Equal(st.PendingKeys, pendingKeys) {
			t.Fatalf("Stats = %+v; want 4 entries, Corrupt %v, PendingKeys %v", st, corrupt, pendingKeys)
		}
	}
	corrupt := func(t *testing.T, d *journal.Journal, lsn uint64) {
		t.Helper()
		got, err := d.Pending(ctx, "")
		if !errors.Is(err, journal.ErrCorrupt) || got != nil {
			t.Fatalf("Pending = %d records, %v; want nothing and ErrCorrupt", len(got), err)
		}
		if msg := err.Error(); !strings.Contains(msg, id) || !strings.Contains(msg, fmt.Sprintf("lsn %d", lsn)) {
			t.Errorf("Pending error %q does not name the journal and lsn %d", msg, lsn)
		}
	}

	d := openDead(t)
	wantPending(t, d, "", all)
	stats(t, d, nil, "a", "b", "c")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// seg1 holds nothing live: losing it harms nothing.
	if err := os.Remove(segPath(dir, id, 1)); err != nil {
		t.Fatal(err)
	}
	d = openDead(t)
	wantPending(t, d, "", all)
	_ = d.Close()

	t.Run("truncated", func(t *testing.T) {
		if err := os.Truncate(segPath(dir, id, 0), 60000-1); err != nil {
			t.Fatal(err)
		}
		d := openDead(t)
		corrupt(t, d, 3)
		wantPending(t, d, "b", all[1:2])
		stats(t, d, []uint64{3}, "a", "b", "c")
		_ = d.Close()
		if err := os.Truncate(segPath(dir, id, 0), 45000); err != nil {
			t.Fatal(err)
		}
		d = openDead(t)
		corrupt(t, d, 2)
		stats(t, d, []uint64{2, 3}, "a", "c")
		_ = d.Close()
	})
	t.Run("missing", func(t *testing.T) {
		if err := os.Remove(segPath(dir, id, 0)); err != nil {
			t.Fatal(err)
		}
		d := openDead(t)
		stats(t, d, []uint64{1, 2, 3}, "c")
		wantPending(t, d, "c", all[3:])
		corrupt(t, d, 1)
		_ = d.Close()
	})

	// Restored, the journal recovers and is removed with all its files.
	if err := os.WriteFile(segPath(dir, id, 0), seg0, 0o600); err != nil {
		t.Fatal(err)
	}
	d = openDead(t)
	wantPending(t, d, "", all)
	write(t, d, &journal.Batch{Applied: map[string]uint64{"a": 3, "b": 2, "c": 4}})
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); names != nil {
		t.Fatalf("files left after Remove: %v", names)
	}
}

// A dead journal's Write keeps large data inline (it has no segment
// writer), and what it writes reads back with what the owner wrote.
func TestDeadJournalWrite(t *testing.T) {
	dir := t.TempDir()
	j := createSeg(t, dir, segAlways)
	a := segRec("a", 1, 30000)
	appendAll(t, j, a)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	before := segSizes(t, dir, j.ID())
	d, err := journal.OpenDead(context.Background(), dir, j.ID(), segAlways)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := segRec("b", 2, 30000)
	write(t, d, &journal.Batch{Records: []*journal.Record{b}})
	if b.LSN != 2 {
		t.Fatalf("LSN = %d, want 2", b.LSN)
	}
	if got := segSizes(t, dir, j.ID()); got != before {
		t.Fatalf("a dead journal's Write changed the segments: %v, was %v", got, before)
	}
	wantPending(t, d, "", []journal.Record{segCopy(a), segCopy(b)})
}

// Remove deletes the .db file, both segment files and the owner file, of a
// live journal that used its segments and of a dead one that lost them.
func TestRemoveSegments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := createSeg(t, dir, segAlways)
	a := segRec("a", 1, 30000)
	appendAll(t, j, a)
	if got := dirNames(t, dir); !slices.Equal(got, journalFiles(j.ID())) {
		t.Fatalf("files = %v", got)
	}
	if err := j.Remove(); !errors.Is(err, journal.ErrNotEmpty) {
		t.Fatalf("Remove with a pending segment entry = %v, want ErrNotEmpty", err)
	}
	if got := segSizes(t, dir, j.ID()); got != [2]int64{30000, 0} {
		t.Fatalf("a refused Remove changed the segments: %v", got)
	}
	write(t, j, &journal.Batch{Applied: map[string]uint64{"a": a.LSN}})
	if err := j.Remove(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); names != nil {
		t.Fatalf("files left after Remove: %v", names)
	}

	// A dead journal without segment files (its Create was killed before
	// making them) is removed all the same.
	j = createSeg(t, dir, nil)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	for n := range 2 {
		if err := os.Remove(segPath(dir, j.ID(), n)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := journal.OpenDead(ctx, dir, j.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); names != nil {
		t.Fatalf("files left after Remove: %v", names)
	}
}

// A process killed inside Remove after deleting the .db file (and maybe
// one segment file) leaves an orphan owner file with segment files;
// RemoveOrphans deletes them all, and leaves a dead journal's alone.
func TestRemoveOrphansSegments(t *testing.T) {
	dir := t.TempDir()
	dead := createSeg(t, dir, segAlways)
	appendAll(t, dead, segRec("a", 1, 5000))
	if err := dead.Close(); err != nil {
		t.Fatal(err)
	}
	var orphans []string
	for i := range 2 {
		j := createSeg(t, dir, segAlways)
		a := segRec("a", 2, 5000)
		appendAll(t, j, a)
		write(t, j, &journal.Batch{Applied: map[string]uint64{"a": a.LSN}})
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, j.ID()+".db")); err != nil { // Remove's first step
			t.Fatal(err)
		}
		if i == 1 { // and its first segment deletion
			if err := os.Remove(segPath(dir, j.ID(), 0)); err != nil {
				t.Fatal(err)
			}
		}
		orphans = append(orphans, j.ID())
	}
	slices.Sort(orphans)
	if got := removeOrphans(t, dir); !slices.Equal(got, orphans) {
		t.Fatalf("RemoveOrphans = %v, want %v", got, orphans)
	}
	if got := dirNames(t, dir); !slices.Equal(got, journalFiles(dead.ID())) {
		t.Fatalf("files = %v, want only the dead journal's", got)
	}
}

// ---- failures ----

// fsizeChildEnv makes TestSegmentWriteFails, run as a child, do its work
// under a small RLIMIT_FSIZE (which would hit the whole test process).
const fsizeChildEnv = "RANGETX_JOURNAL_TEST_FSIZE_CHILD"

// A segment write that fails (here EFBIG past RLIMIT_FSIZE, partly
// written) is ErrNotWritten: nothing is stored, no LSN is used, and the
// journal takes later writes, which reuse the space and read back intact.
func TestSegmentWriteFails(t *testing.T) {
	if dir := os.Getenv(fsizeChildEnv); dir != "" {
		segmentWriteFailsChild(t, dir)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSegmentWriteFails$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSegmentWriteFails") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func segmentWriteFailsChild(t *testing.T, dir string) {
	const fsize = 1 << 20
	ctx := context.Background()
	signal.Ignore(syscall.SIGXFSZ) // get EFBIG instead of dying
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: fsize, Max: lim.Max}); err != nil {
		t.Skipf("cannot lower RLIMIT_FSIZE: %v", err)
	}
	j := createSeg(t, dir, &journal.Options{InlineBytes: -1, SegmentBytes: 1 << 30})
	r1, r2 := segRec("a", 1, 400<<10), segRec("b", 2, 400<<10)
	write(t, j, &journal.Batch{Records: []*journal.Record{r1}})
	write(t, j, &journal.Batch{Records: []*journal.Record{r2}})
	over := segRec("a", 3, 200<<10, 200<<10) // [800K, 1200K): past the limit
	err := j.Write(ctx, &journal.Batch{Records: []*journal.Record{over}, Applied: map[string]uint64{"a": 1}})
	if !errors.Is(err, journal.ErrNotWritten) || !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Write past RLIMIT_FSIZE = %v, want ErrNotWritten wrapping EFBIG", err)
	}
	if over.LSN != 0 {
		t.Fatalf("a failed write set LSN %d", over.LSN)
	}
	wantPending(t, j, "", []journal.Record{segCopy(r1), segCopy(r2)}) // the watermark was not raised either
	r3 := segRec("c", 4, 200<<10)                                     // [800K, 1000K): fits
	write(t, j, &journal.Batch{Records: []*journal.Record{r3}, Applied: map[string]uint64{"a": 1}})
	if r3.LSN != 3 {
		t.Fatalf("LSN after a failed write = %d, want 3", r3.LSN)
	}
	wantPending(t, j, "", []journal.Record{segCopy(r2), segCopy(r3)})
}

// ---- crash point observers ----

type segEvent struct{ name, key string }

// installEvents installs a Failpoint recording every journal point, which
// returns fail's result for it (fail may be nil). It is removed when the
// test ends.
func installEvents(t *testing.T, fail func(name, key string) error) *[]segEvent {
	t.Helper()
	var mu sync.Mutex
	events := new([]segEvent)
	uninstall := crashpoint.Install(func(name, key string) error {
		if !strings.HasPrefix(name, "journal-") {
			return nil
		}
		mu.Lock()
		*events = append(*events, segEvent{name, key})
		mu.Unlock()
		if fail != nil {
			return fail(name, key)
		}
		return nil
	})
	t.Cleanup(uninstall)
	return events
}

func countEvents(events []segEvent) map[segEvent]int {
	m := map[segEvent]int{}
	for _, e := range events {
		m[e]++
	}
	return m
}

// A batch that both appends and drops reports JournalAppend per record and
// JournalMark per watermark before its commit, and after it JournalDropped
// per deleted entry and JournalAppended per record, each with its key;
// by the first of those the commit is visible.
func TestWriteCrashpointObservers(t *testing.T) {
	ctx := context.Background()
	j := createSeg(t, t.TempDir(), segAlways)
	write(t, j, &journal.Batch{Records: []*journal.Record{ // 1, 2, 3, 4
		segRec("a", 1, 100), segRec("a", 2, 100), segRec("b", 3, 100), segRec("b", 4, 100)}})

	var entriesAtFirstObserver = -1
	var events *[]segEvent
	events = installEvents(t, func(name, key string) error {
		if (name == crashpoint.JournalDropped || name == crashpoint.JournalAppended) && entriesAtFirstObserver < 0 {
			st, err := j.Stats(ctx)
			if err != nil {
				t.Error(err)
			}
			entriesAtFirstObserver = st.Entries
		}
		return nil
	})
	write(t, j, &journal.Batch{
		Records: []*journal.Record{segRec("a", 5, 100), segRec("c", 6, 100), segRec("a", 7, 100)}, // 5, 6, 7
		Applied: map[string]uint64{"a": 2, "b": 3, "c": 1},                                        // drops 1, 2, 3
	})
	want := map[segEvent]int{
		{crashpoint.JournalAppend, "a"}: 2, {crashpoint.JournalAppend, "c"}: 1,
		{crashpoint.JournalMark, "a"}: 1, {crashpoint.JournalMark, "b"}: 1, {crashpoint.JournalMark, "c"}: 1,
		{crashpoint.JournalDropped, "a"}: 2, {crashpoint.JournalDropped, "b"}: 1,
		{crashpoint.JournalAppended, "a"}: 2, {crashpoint.JournalAppended, "c"}: 1,
	}
	if got := countEvents(*events); !maps.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	post := false
	for _, e := range *events {
		isPost := e.name == crashpoint.JournalDropped || e.name == crashpoint.JournalAppended
		if post && !isPost {
			t.Fatalf("%s reported after the commit's observers: %v", e.name, *events)
		}
		post = post || isPost
	}
	if entriesAtFirstObserver != 4 { // 4, 5, 6, 7
		t.Fatalf("the first observer saw %d entries, want the committed 4", entriesAtFirstObserver)
	}
	if got := pendingLSNs(t, j, ""); !slices.Equal(got, []uint64{4, 5, 6, 7}) {
		t.Fatalf("Pending = %v", got)
	}
}

// An error injected at JournalAppend or JournalMark fails the whole batch
// with that error and ErrNotWritten before anything is written: no entry,
// no watermark, no LSN, no segment bytes; no observer reports anything.
func TestWriteCrashpointFailure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j := createSeg(t, dir, segAlways)
	first := segRec("a", 1, 1000)
	write(t, j, &journal.Batch{Records: []*journal.Record{first}})
	boom := errors.New("injected")
	for _, point := range []segEvent{{crashpoint.JournalAppend, "c"}, {crashpoint.JournalMark, "a"}} {
		t.Run(point.name, func(t *testing.T) {
			events := installEvents(t, func(name, key string) error {
				if name == point.name && key == point.key {
					return boom
				}
				return nil
			})
			b := &journal.Batch{
				Records: []*journal.Record{segRec("b", 2, 5000), segRec("c", 3, 5000)},
				Applied: map[string]uint64{"a": 1},
			}
			err := j.Write(ctx, b)
			if !errors.Is(err, boom) || !errors.Is(err, journal.ErrNotWritten) {
				t.Fatalf("Write = %v, want the injected error and ErrNotWritten", err)
			}
			for _, e := range *events {
				if e.name == crashpoint.JournalAppended || e.name == crashpoint.JournalDropped {
					t.Fatalf("a refused batch reported %v", e)
				}
			}
			if b.Records[0].LSN != 0 {
				t.Fatalf("a refused batch set LSN %d", b.Records[0].LSN)
			}
			if got := segSizes(t, dir, j.ID()); got != [2]int64{1000, 0} {
				t.Fatalf("a refused batch wrote its segment: sizes %v", got)
			}
			wantPending(t, j, "", []journal.Record{segCopy(first)})
		})
	}
	next := segRec("b", 4, 10)
	appendAll(t, j, next)
	if next.LSN != 2 {
		t.Fatalf("LSN after refused batches = %d, want 2", next.LSN)
	}
}
