package crashtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/rangetx/rangetx/txn"
)

// Harness modes: which commit mode each transaction uses. ModeAll picks
// journal, copy or auto at random per transaction.
const (
	ModeJournal = "journal"
	ModeCopy    = "copy"
	ModeAuto    = "auto"
	ModeAll     = "all"
)

// DefaultSizes are the initial sizes of the values when none are given:
// 4 KiB, 256 KiB, 4 MiB and 64 MiB.
var DefaultSizes = []int64{4 << 10, 256 << 10, 4 << 20, 64 << 20}

// MinValueSize is the smallest initial size a value may have: a resize
// may halve it, and the halves must still hold the value header and a
// range on each side.
const MinValueSize = 1 << 10

// maxValueSize bounds initial sizes; a resize may double them.
const maxValueSize = 1 << 34

// Value is one value the harness writes.
type Value struct {
	Key  string `json:"key"`
	Size int64  `json:"initial_size"` // size before the first transaction
}

// Model determines every transaction of a run: given the seed and the
// values, the content of transaction s on a value is a pure function of s
// and the value's size before it.
type Model struct {
	Seed   uint64
	Mode   string // ModeJournal, ModeCopy, ModeAuto or ModeAll
	Values []Value

	modes []txn.Mode
	tags  []uint32
}

// ValueKey is the key of the i-th value of a run.
func ValueKey(i int) string { return "crash/v" + strconv.Itoa(i) }

// NewModel returns the model of a run with one value per size, keyed
// ValueKey(0), ValueKey(1), ….
func NewModel(seed uint64, mode string, sizes []int64) (*Model, error) {
	modes, err := commitModes(mode)
	if err != nil {
		return nil, err
	}
	if len(sizes) == 0 {
		return nil, errors.New("crashtest: no values")
	}
	m := &Model{Seed: seed, Mode: mode, modes: modes}
	for i, sz := range sizes {
		if sz < MinValueSize || sz > maxValueSize {
			return nil, fmt.Errorf("crashtest: value size %d: want %d to %d bytes", sz, MinValueSize, int64(maxValueSize))
		}
		key := ValueKey(i)
		m.Values = append(m.Values, Value{Key: key, Size: sz})
		h := fnv.New64a()
		h.Write([]byte(key))
		m.tags = append(m.tags, uint32(mix(seed, h.Sum64(), 0x7a67)))
	}
	return m, nil
}

// commitModes returns the commit modes a harness mode stands for.
func commitModes(mode string) ([]txn.Mode, error) {
	switch mode {
	case ModeJournal:
		return []txn.Mode{txn.ModeJournal}, nil
	case ModeCopy:
		return []txn.Mode{txn.ModeCopy}, nil
	case ModeAuto:
		return []txn.Mode{txn.ModeAuto}, nil
	case ModeAll:
		return []txn.Mode{txn.ModeJournal, txn.ModeCopy, txn.ModeAuto}, nil
	}
	return nil, fmt.Errorf("crashtest: unknown mode %q (want journal, copy, auto or all)", mode)
}

// ParseSizes parses a comma-separated list of sizes in bytes, each with an
// optional binary suffix k, M or G ("4k,256k,4M,64M").
func ParseSizes(s string) ([]int64, error) {
	var sizes []int64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		mult := int64(1)
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mult = 1 << 10
		case strings.HasSuffix(f, "M"):
			mult = 1 << 20
		case strings.HasSuffix(f, "G"):
			mult = 1 << 30
		}
		if mult > 1 {
			f = f[:len(f)-1]
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 || n > maxValueSize/mult {
			return nil, fmt.Errorf("crashtest: bad size %q in %q", f, s)
		}
		sizes = append(sizes, n*mult)
	}
	return sizes, nil
}

// Index returns the index of the value with the given key, or -1.
func (m *Model) Index(key string) int {
	for i, v := range m.Values {
		if v.Key == key {
			return i
		}
	}
	return -1
}

// The value header, at offset 0 of every value: magic, sequence number of
// the last transaction applied, the value's size after it, the value's tag,
// and a CRC-32C of the preceding bytes. All integers little-endian.
const (
	HeaderSize  = 32
	headerMagic = "RTXCRASH"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded value header.
type Header struct {
	Seq  uint64
	Size int64
	Tag  uint32
}

func encodeHeader(h Header) []byte {
	b := make([]byte, HeaderSize)
	copy(b, headerMagic)
	binary.LittleEndian.PutUint64(b[8:], h.Seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.Size))
	binary.LittleEndian.PutUint32(b[24:], h.Tag)
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

// ParseHeader decodes a value header and checks its magic and CRC.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("value header: %d bytes, want %d", len(b), HeaderSize)
	}
	if string(b[:8]) != headerMagic {
		return Header{}, fmt.Errorf("value header: bad magic %q", b[:8])
	}
	if got, want := binary.LittleEndian.Uint32(b[28:]), crc32.Checksum(b[:28], castagnoli); got != want {
		return Header{}, fmt.Errorf("value header: CRC %08x, want %08x", got, want)
	}
	return Header{
		Seq:  binary.LittleEndian.Uint64(b[8:]),
		Size: int64(binary.LittleEndian.Uint64(b[16:])),
		Tag:  binary.LittleEndian.Uint32(b[24:]),
	}, nil
}

// The header of each range a transaction writes (other than the value
// header): magic, the value's tag, sequence number, range index, payload
// length and the payload's CRC-32C. The payload follows.
const (
	rangeHeaderSize = 32
	rangeMagic      = "RTXRANGE"
)

// rangeHeader is a decoded range header.
type rangeHeader struct {
	Tag   uint32
	Seq   uint64
	Index int
	Len   int
	CRC   uint32
}

func parseRangeHeader(b []byte) (rangeHeader, bool) {
	if len(b) < rangeHeaderSize || string(b[:8]) != rangeMagic {
		return rangeHeader{}, false
	}
	return rangeHeader{
		Seq:   binary.LittleEndian.Uint64(b[8:]),
		Tag:   binary.LittleEndian.Uint32(b[16:]),
		Index: int(binary.LittleEndian.Uint32(b[20:])),
		Len:   int(binary.LittleEndian.Uint32(b[24:])),
		CRC:   binary.LittleEndian.Uint32(b[28:]),
	}, true
}

// Initial returns value i's content before its first transaction: bytes
// derived from the seed, under a header with sequence number 0.
func (m *Model) Initial(i int) []byte {
	v := make([]byte, m.Values[i].Size)
	m.fill(v, uint64(m.tags[i]), 0, 0xff)
	copy(v, encodeHeader(Header{Seq: 0, Size: m.Values[i].Size, Tag: m.tags[i]}))
	return v
}

// fill fills b with bytes that depend only on the model's seed and a, b, c.
func (m *Model) fill(p []byte, a, b, c uint64) {
	var seed [32]byte
	for k := range 4 {
		binary.LittleEndian.PutUint64(seed[8*k:], mix(m.Seed, a, b, c, uint64(k)))
	}
	rand.NewChaCha8(seed).Read(p)
}

// mix hashes its arguments into one well-spread 64-bit number.
func mix(xs ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, x := range xs {
		h ^= x
		h += 0x9e3779b97f4a7c15
		h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
		h = (h ^ h>>27) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}
