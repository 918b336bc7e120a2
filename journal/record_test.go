package journal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/journal"
)

// forged is a record laid out field by field, independently of the
// package's encoder, so tests can write what the encoder refuses to.
type forged struct {
	version             byte
	txid                uuid.UUID
	lsn                 uint64
	base, minSize, size int64
	keyLen              uint32 // len(key) unless overridden
	key                 string
	count               uint32 // len(ranges) unless overridden
	ranges              []forgedRange
	trailing            []byte
}

type forgedRange struct {
	off  int64
	n    uint64 // len(data) unless overridden
	data []byte
}

func (f forged) bytes() []byte {
	le := binary.LittleEndian
	b := []byte("RTXJ")
	b = append(b, f.version)
	b = append(b, f.txid[:]...)
	b = le.AppendUint64(b, f.lsn)
	b = le.AppendUint64(b, uint64(f.base))
	b = le.AppendUint64(b, uint64(f.minSize))
	b = le.AppendUint64(b, uint64(f.size))
	b = le.AppendUint32(b, f.keyLen)
	b = append(b, f.key...)
	b = le.AppendUint32(b, f.count)
	for _, r := range f.ranges {
		b = le.AppendUint64(b, uint64(r.off))
		b = le.AppendUint64(b, r.n)
		b = append(b, r.data...)
	}
	b = append(b, f.trailing...)
	return le.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// valid returns a well-formed forged record with lsn 7.
func valid() forged {
	return forged{
		version: 1, txid: uuid.MustParse("0190a0b0-c0d0-7e0f-8a1b-2c3d4e5f6071"),
		lsn: 7, base: 100, minSize: 50, size: 120,
		keyLen: 3, key: "a/b", count: 2,
		ranges: []forgedRange{
			{off: 10, n: 3, data: []byte("xyz")},
			{off: 115, n: 5, data: []byte("tail!")},
		},
	}
}

func sampleRecord() journal.Record {
	return journal.Record{
		TxID: uuid.MustParse("0190a0b0-c0d0-7e0f-8a1b-2c3d4e5f6071"),
		LSN:  7, Key: "a/b", BaseSize: 100, MinSize: 50, Size: 120,
		Ranges: []journal.Range{{Off: 10, Data: []byte("xyz")}, {Off: 115, Data: []byte("tail!")}},
	}
}

func recordsEqual(a, b journal.Record) bool {
	if a.TxID != b.TxID || a.LSN != b.LSN || a.Key != b.Key || a.BaseSize != b.BaseSize ||
		a.MinSize != b.MinSize || a.Size != b.Size || len(a.Ranges) != len(b.Ranges) {
		return false
	}
	for i := range a.Ranges {
		if a.Ranges[i].Off != b.Ranges[i].Off || !bytes.Equal(a.Ranges[i].Data, b.Ranges[i].Data) {
			return false
		}
	}
	return true
}

func TestRecordLayout(t *testing.T) {
	r := sampleRecord()
	got, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := valid().bytes(); !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from the documented layout:\n got %x\nwant %x", got, want)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	key := strings.Repeat("k", journal.MaxKeyLen)
	tests := map[string]journal.Record{
		"ranges":        sampleRecord(),
		"no-op":         {Key: "k", BaseSize: 9, MinSize: 9, Size: 9},
		"empty":         {Key: "k"},
		"grow only":     {Key: "k", BaseSize: 5, MinSize: 5, Size: 1 << 40},
		"shrink only":   {Key: "k", BaseSize: 5, MinSize: 2, Size: 2},
		"cut then grow": {Key: "k", BaseSize: 50, MinSize: 0, Size: 3, Ranges: []journal.Range{{Off: 0, Data: []byte("abc")}}},
		"empty ranges":  {Key: "k", Size: 4, MinSize: 0, Ranges: []journal.Range{{Off: 0}, {Off: 0, Data: []byte("ab")}, {Off: 2}, {Off: 4}}},
		"adjacent":      {Key: "k", Size: 4, Ranges: []journal.Range{{Off: 0, Data: []byte("ab")}, {Off: 2, Data: []byte("cd")}}},
		"max key":       {Key: key, Size: math.MaxInt64, Ranges: []journal.Range{{Off: math.MaxInt64 - 1, Data: []byte{1}}}},
		"binary key":    {Key: "\x00\xff/..", LSN: math.MaxUint64, TxID: uuid.New()},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := r.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != cap(b) {
				t.Errorf("MarshalBinary: len %d, cap %d; want one exact allocation", len(b), cap(b))
			}
			prefix := []byte("prefix")
			ab, err := r.AppendBinary(prefix)
			if err != nil || !bytes.Equal(ab, append([]byte("prefix"), b...)) {
				t.Fatalf("AppendBinary = %x, %v; want prefix+MarshalBinary", ab, err)
			}
			var d journal.Record
			if err := d.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !recordsEqual(r, d) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", d, r)
			}
			if d.Bytes() != r.Bytes() {
				t.Errorf("Bytes = %d, want %d", d.Bytes(), r.Bytes())
			}
			clear(b) // the decoded record must own its data
			if !recordsEqual(r, d) {
				t.Fatal("decoded record aliases the input")
			}
		})
	}
}

func TestRecordInvalid(t *testing.T) {
	data := []byte("abc")
	tests := map[string]journal.Record{
		"empty key":      {Size: 1},
		"long key":       {Key: strings.Repeat("k", journal.MaxKeyLen+1)},
		"negative size":  {Key: "k", Size: -1},
		"negative base":  {Key: "k", BaseSize: -1, MinSize: -1},
		"min above base": {Key: "k", BaseSize: 1, MinSize: 2, Size: 3},
		"min above size": {Key: "k", BaseSize: 3, MinSize: 2, Size: 1},
		"negative off":   {Key: "k", Size: 5, Ranges: []journal.Range{{Off: -1, Data: data}}},
		"past size":      {Key: "k", Size: 5, Ranges: []journal.Range{{Off: 3, Data: data}}},
		"empty past":     {Key: "k", Size: 5, Ranges: []journal.Range{{Off: 6}}},
		"overlap":        {Key: "k", Size: 9, Ranges: []journal.Range{{Off: 0, Data: data}, {Off: 2, Data: data}}},
		"out of order":   {Key: "k", Size: 9, Ranges: []journal.Range{{Off: 5, Data: data}, {Off: 0, Data: data}}},
		"overflow":       {Key: "k", Size: math.MaxInt64, Ranges: []journal.Range{{Off: math.MaxInt64 - 1, Data: data}}},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			if b, err := r.MarshalBinary(); !errors.Is(err, journal.ErrInvalid) || b != nil {
				t.Errorf("MarshalBinary = %x, %v; want ErrInvalid", b, err)
			}
			prefix := []byte("p")
			if b, err := r.AppendBinary(prefix); !errors.Is(err, journal.ErrInvalid) || !bytes.Equal(b, prefix) {
				t.Errorf("AppendBinary = %q, %v; want prefix unchanged, ErrInvalid", b, err)
			}
		})
	}
}

func decodeCorrupt(t *testing.T, b []byte) error {
	t.Helper()
	r := journal.Record{Key: "untouched"}
	err := r.UnmarshalBinary(b)
	if !errors.Is(err, journal.ErrCorrupt) {
		t.Fatalf("UnmarshalBinary(%x) = %v, want ErrCorrupt", b, err)
	}
	if r.Key != "untouched" || r.Ranges != nil {
		t.Fatalf("failed UnmarshalBinary changed the record: %+v", r)
	}
	return err
}

func TestRecordBitFlips(t *testing.T) {
	r := sampleRecord()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		decodeCorrupt(t, c)
	}
}

func TestRecordTruncationsAndExtensions(t *testing.T) {
	r := sampleRecord()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		decodeCorrupt(t, b[:n])
	}
	decodeCorrupt(t, append(bytes.Clone(b), 0))
	decodeCorrupt(t, append(bytes.Clone(b), b...))
}

func TestRecordForgedFields(t *testing.T) {
	tests := map[string]func(f *forged){
		"version 0":          func(f *forged) { f.version = 0 },
		"version 2":          func(f *forged) { f.version = 2 },
		"key length 0":       func(f *forged) { f.keyLen, f.key = 0, "" },
		"key length short":   func(f *forged) { f.keyLen = 2 },
		"key length long":    func(f *forged) { f.keyLen = 4 },
		"key length huge":    func(f *forged) { f.keyLen = math.MaxUint32 },
		"key too long":       func(f *forged) { f.key = strings.Repeat("k", 4097); f.keyLen = 4097 },
		"count huge":         func(f *forged) { f.count = math.MaxUint32 },
		"count high":         func(f *forged) { f.count = 3 },
		"count low":          func(f *forged) { f.count = 1 },
		"len huge":           func(f *forged) { f.ranges[0].n = math.MaxUint64 },
		"len high":           func(f *forged) { f.ranges[1].n = 6 },
		"len low":            func(f *forged) { f.ranges[0].n = 2 },
		"trailing":           func(f *forged) { f.trailing = []byte{0} },
		"negative size":      func(f *forged) { f.size = -1 },
		"negative base":      func(f *forged) { f.base = math.MinInt64 },
		"negative min":       func(f *forged) { f.minSize = -1 },
		"min above base":     func(f *forged) { f.minSize = 101 },
		"min above size":     func(f *forged) { f.size = 49 },
		"range past size":    func(f *forged) { f.size = 119 },
		"negative off":       func(f *forged) { f.ranges[0].off = -1 },
		"overlap":            func(f *forged) { f.ranges[1].off = 12 },
		"out of order":       func(f *forged) { f.ranges[0], f.ranges[1] = f.ranges[1], f.ranges[0] },
		"off+len overflows":  func(f *forged) { f.size = math.MaxInt64; f.ranges[1].off = math.MaxInt64 - 2 },
		"off beyond, empty":  func(f *forged) { f.ranges[1] = forgedRange{off: 121} },
		"bad magic":          nil, // handled below
		"one byte of header": nil,
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			f := valid()
			var b []byte
			switch name {
			case "bad magic":
				b = f.bytes()
				b[0] = 'X'
				journal.Reseal(b)
			case "one byte of header":
				b = []byte("R")
			default:
				mutate(&f)
				b = f.bytes()
			}
			err := decodeCorrupt(t, b)
			if hasHeader := !strings.HasPrefix(name, "version") && name != "bad magic" && len(b) > 40; hasHeader &&
				!strings.Contains(err.Error(), "lsn 7") {
				t.Errorf("error %q does not name lsn 7", err)
			}
		})
	}
}

func TestRecordGarbageLengthsDoNotAllocate(t *testing.T) {
	huge := []func(f *forged){
		func(f *forged) { f.count = math.MaxUint32 },
		func(f *forged) { f.count = math.MaxUint32 / 2 },
		func(f *forged) { f.ranges[0].n = math.MaxUint64 },
		func(f *forged) { f.ranges[0].n = 1 << 40 },
		func(f *forged) { f.keyLen = math.MaxUint32 },
	}
	for i, mutate := range huge {
		f := valid()
		mutate(&f)
		b := f.bytes()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var r journal.Record
		err := r.UnmarshalBinary(b)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, journal.ErrCorrupt) {
			t.Errorf("case %d: err = %v, want ErrCorrupt", i, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("case %d: decoding a %d-byte record allocated %d bytes", i, len(b), n)
		}
	}
}
