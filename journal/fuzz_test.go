package journal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rangetx/rangetx/journal"
)

// FuzzRecordDecode: decoding never panics, fails only with ErrCorrupt, and
// whatever decodes re-encodes to the same bytes (the encoding is canonical).
func FuzzRecordDecode(f *testing.F) {
	for _, r := range []journal.Record{
		sampleRecord(),
		{Key: "k"},
		{Key: "k", BaseSize: 10, MinSize: 2, Size: 4, Ranges: []journal.Range{{Off: 0}, {Off: 1, Data: []byte("abc")}}},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add([]byte("RTXJ\x01"))
	g := valid()
	g.count = 1 << 31
	f.Add(g.bytes())

	f.Fuzz(func(t *testing.T, b []byte) {
		var r journal.Record
		if err := r.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, journal.ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		out, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n  in %x\n out %x", b, out)
		}
	})
}
