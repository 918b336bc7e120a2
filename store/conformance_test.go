package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fullStore is everything Memory and Local both implement.
type fullStore interface {
	Store
	RangeReader
	RangeWriter
	Patcher
}

// A storeCase is a store implementation under test.
type storeCase struct {
	name string
	new  func(t *testing.T) fullStore
}

// stores are the implementations every conformance test runs against:
// Memory, and Local on each file system in localFSes ("local" is Local on
// the operating system).
var stores = func() []storeCase {
	s := []storeCase{{"memory", func(t *testing.T) fullStore { return NewMemory() }}}
	for _, lf := range localFSes {
		name := "local"
		if lf.name != "os" {
			name += "-" + lf.name
		}
		s = append(s, storeCase{name, func(t *testing.T) fullStore { return newLocalOn(t, lf) }})
	}
	return s
}()

func forEachStore(t *testing.T, f func(t *testing.T, s fullStore)) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) { f(t, sc.new(t)) })
	}
}

func put(t *testing.T, s Store, key, val string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(val)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// want fails unless key holds val.
func want(t *testing.T, s Store, key, val string) {
	t.Helper()
	got, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if string(got) != val {
		t.Fatalf("Get(%q) = %q, want %q", key, got, val)
	}
}

// wantMissing fails unless key has no value.
func wantMissing(t *testing.T, s Store, key string) {
	t.Helper()
	if _, err := s.Get(context.Background(), key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) error = %v, want ErrNotFound", key, err)
	}
}

func wantKeys(t *testing.T, s Store, prefix string, keys ...string) {
	t.Helper()
	got, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	if len(got) != len(keys) || !slices.Equal(got, keys) {
		t.Fatalf("List(%q) = %q, want %q", prefix, got, keys)
	}
}

func TestGetPutDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		ctx := context.Background()
		wantMissing(t, s, "a")
		put(t, s, "a", "one")
		want(t, s, "a", "one")
		put(t, s, "a", "two, longer")
		want(t, s, "a", "two, longer")
		put(t, s, "a", "")
		want(t, s, "a", "")
		put(t, s, "deep/er/key", "x")
		want(t, s, "deep/er/key", "x")

		// Get returns a copy.
		b, _ := s.Get(ctx, "deep/er/key")
		b[0] = 'y'
		want(t, s, "deep/er/key", "x")

		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		wantMissing(t, s, "a")
		if err := s.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Delete = %v, want ErrNotFound", err)
		}
	})
}

func TestPutReaderError(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		put(t, s, "k", "old")
		boom := errors.New("boom")
		r := io.MultiReader(strings.NewReader("partial"), errReader{boom})
		if err := s.Put(context.Background(), "k", r); !errors.Is(err, boom) {
			t.Fatalf("Put = %v, want boom", err)
		}
		want(t, s, "k", "old")
		if err := s.Put(context.Background(), "new", errReader{boom}); !errors.Is(err, boom) {
			t.Fatalf("Put = %v, want boom", err)
		}
		wantMissing(t, s, "new")
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestStat(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		ctx := context.Background()
		put(t, s, "d/k", "hello")
		info, err := s.Stat(ctx, "d/k")
		if err != nil {
			t.Fatal(err)
		}
		if info.Key != "d/k" || info.Size != 5 || info.ModTime.IsZero() {
			t.Fatalf("Stat = %+v", info)
		}
		if _, err := s.Stat(ctx, "d/missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestList(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		wantKeys(t, s, "")
		for _, k := range []string{"b", "a/b", "a/b/c", "a/bc", "a-c", "a/b/d/e", "z"} {
			if k == "a/b" {
				continue // Local cannot hold a value at a directory's path
			}
			put(t, s, k, k)
		}
		wantKeys(t, s, "", "a-c", "a/b/c", "a/b/d/e", "a/bc", "b", "z")
		wantKeys(t, s, "a", "a/b/c", "a/b/d/e", "a/bc")
		wantKeys(t, s, "a/b", "a/b/c", "a/b/d/e")
		wantKeys(t, s, "a/b/", "a/b/c", "a/b/d/e")
		wantKeys(t, s, "a/bc", "a/bc")
		wantKeys(t, s, "b", "b")
		wantKeys(t, s, "nope")
		wantKeys(t, s, "b/nope")
		if _, err := s.List(context.Background(), "a//b"); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("List(bad prefix) = %v, want ErrInvalidKey", err)
		}
	})
}

func TestReadAt(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		ctx := context.Background()
		put(t, s, "k", "0123456789")
		for _, tc := range []struct {
			off    int64
			n      int
			want   string
			wantEx error
		}{
			{0, 10, "0123456789", nil},
			{3, 4, "3456", nil},
			{8, 4, "89", io.EOF},
			{10, 1, "", io.EOF},
			{20, 1, "", io.EOF},
			{5, 0, "", nil},
		} {
			p := make([]byte, tc.n)
			n, err := s.ReadAt(ctx, "k", p, tc.off)
			if err != tc.wantEx || string(p[:n]) != tc.want {
				t.Errorf("ReadAt(%d, %d) = %q, %v; want %q, %v", tc.off, tc.n, p[:n], err, tc.want, tc.wantEx)
			}
		}
		if _, err := s.ReadAt(ctx, "k", make([]byte, 1), -1); !errors.Is(err, ErrInvalidRange) {
			t.Errorf("ReadAt(-1) = %v, want ErrInvalidRange", err)
		}
		if _, err := s.ReadAt(ctx, "missing", make([]byte, 1), 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadAt(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestWriteAt(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		ctx := context.Background()
		put(t, s, "k", "0123456789")
		if n, err := s.WriteAt(ctx, "k", []byte("ab"), 3); n != 2 || err != nil {
			t.Fatalf("WriteAt = %d, %v", n, err)
		}
		if n, err := s.WriteAt(ctx, "k", []byte("XY"), 8); n != 2 || err != nil {
			t.Fatalf("WriteAt at end = %d, %v", n, err)
		}
		if n, err := s.WriteAt(ctx, "k", nil, 10); n != 0 || err != nil {
			t.Fatalf("empty WriteAt at size = %d, %v", n, err)
		}
		if err := s.Sync(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		want(t, s, "k", "012ab567XY")

		for _, tc := range []struct {
			name string
			p    string
			off  int64
		}{
			{"past end", "XYZ", 8},
			{"at end", "Z", 10},
			{"beyond end", "", 11},
			{"negative", "a", -1},
			{"min int", "a", math.MinInt64},
			{"overflow", "ab", math.MaxInt64},
			{"overflow by one", "a", math.MaxInt64},
		} {
			if n, err := s.WriteAt(ctx, "k", []byte(tc.p), tc.off); n != 0 || !errors.Is(err, ErrInvalidRange) {
				t.Errorf("%s: WriteAt(%d) = %d, %v; want ErrInvalidRange", tc.name, tc.off, n, err)
			}
		}
		want(t, s, "k", "012ab567XY")

		if _, err := s.WriteAt(ctx, "missing", []byte("a"), 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("WriteAt(missing) = %v, want ErrNotFound", err)
		}
		wantMissing(t, s, "missing")
		if err := s.Sync(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Sync(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestTruncate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		ctx := context.Background()
		put(t, s, "k", "0123456789")
		if err := s.Truncate(ctx, "k", 4); err != nil {
			t.Fatal(err)
		}
		want(t, s, "k", "0123")
		// Growing after a cut must not bring the cut bytes back.
		if err := s.Truncate(ctx, "k", 6); err != nil {
			t.Fatal(err)
		}
		want(t, s, "k", "0123\x00\x00")
		if err := s.Truncate(ctx, "k", 0); err != nil {
			t.Fatal(err)
		}
		want(t, s, "k", "")
		if err := s.Truncate(ctx, "k", -1); !errors.Is(err, ErrInvalidRange) {
			t.Errorf("Truncate(-1) = %v, want ErrInvalidRange", err)
		}
		if err := s.Truncate(ctx, "missing", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Truncate(missing) = %v, want ErrNotFound", err)
		}
		wantMissing(t, s, "missing")
	})
}

func TestPatchCopy(t *testing.T) {
	r := func(off int64, s string) Range { return Range{Off: off, Data: []byte(s)} }
	for _, tc := range []struct {
		name string
		old  *string // nil: no value
		p    Patch
		want string
	}{
		{"same size", ptr("0123456789"), Patch{10, 10, []Range{r(2, "ab"), r(9, "Z")}, nil}, "01ab45678Z"},
		{"grow", ptr("0123"), Patch{4, 7, []Range{r(5, "xy")}, nil}, "0123\x00xy"},
		{"grow past old with MinSize above old", ptr("01"), Patch{5, 5, nil, nil}, "01\x00\x00\x00"},
		{"shrink", ptr("0123456789"), Patch{3, 3, []Range{r(0, "a")}, nil}, "a12"},
		{"MinSize cut then grow", ptr("0123456789"), Patch{2, 6, []Range{r(5, "z")}, nil}, "01\x00\x00\x00z"},
		{"MinSize zero", ptr("0123"), Patch{0, 2, nil, nil}, "\x00\x00"},
		{"later range wins", ptr("0000"), Patch{4, 4, []Range{r(0, "abc"), r(1, "X")}, nil}, "aXc0"},
		{"range ends at size", ptr("01"), Patch{2, 4, []Range{r(2, "ab"), r(4, "")}, nil}, "01ab"},
		{"create from missing", nil, Patch{0, 3, []Range{r(0, "new")}, nil}, "new"},
		{"create from missing, MinSize ignored", nil, Patch{2, 4, []Range{r(3, "x")}, nil}, "\x00\x00\x00x"},
		{"to empty", ptr("abc"), Patch{0, 0, nil, nil}, ""},
		{"copies from the old version", ptr("0123456789"),
			Patch{MinSize: 0, Size: 8, Copies: []Copy{{Off: 0, Src: 6, N: 4}, {Off: 4, Src: 0, N: 2}, {Off: 7, Src: 9, N: 1}}},
			"6789" + "01\x009"},
		{"copies overlap their sources, ranges go on top", ptr("abcdef"),
			Patch{MinSize: 6, Size: 6, Copies: []Copy{{Off: 1, Src: 0, N: 5}, {Off: 0, Src: 5, N: 0}}, Ranges: []Range{r(5, "Z")}},
			"aabcdZ"},
		{"copy past the old end, grown", ptr("xy"), Patch{MinSize: 2, Size: 5, Copies: []Copy{{Off: 3, Src: 0, N: 2}}}, "xy\x00xy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, s fullStore) {
				key := "dir/sub/k"
				if tc.old != nil {
					put(t, s, key, *tc.old)
				}
				if err := s.PatchCopy(context.Background(), key, tc.p); err != nil {
					t.Fatal(err)
				}
				want(t, s, key, tc.want)
			})
		})
	}
}

func ptr(s string) *string { return &s }

func TestPatchCopyInvalid(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		ctx := context.Background()
		put(t, s, "k", "0123")
		for _, p := range []Patch{
			{MinSize: -1, Size: 4},
			{MinSize: 5, Size: 4},
			{MinSize: 0, Size: -1},
			{MinSize: 4, Size: 4, Ranges: []Range{{Off: -1, Data: []byte("a")}}},
			{MinSize: 4, Size: 4, Ranges: []Range{{Off: 3, Data: []byte("ab")}}},
			{MinSize: 4, Size: 4, Ranges: []Range{{Off: 5}}},
			{MinSize: 4, Size: math.MaxInt64, Ranges: []Range{{Off: math.MaxInt64 - 1, Data: []byte("ab")}}},
			{MinSize: 4, Size: 4, Ranges: []Range{{Off: 0, Data: []byte("a")}, {Off: math.MaxInt64, Data: []byte("a")}}},
			{MinSize: 4, Size: 4, Copies: []Copy{{Off: 0, Src: 0, N: 5}}},                         // past the new size
			{MinSize: 4, Size: 8, Copies: []Copy{{Off: 0, Src: 1, N: 4}}},                         // past the old value
			{MinSize: 4, Size: 8, Copies: []Copy{{Off: 0, Src: -1, N: 1}}},                        // negative source
			{MinSize: 4, Size: 8, Copies: []Copy{{Off: 0, Src: 0, N: -1}}},                        // negative length
			{MinSize: 4, Size: 8, Copies: []Copy{{Off: 1, Src: math.MaxInt64, N: 2}}},             // source overflows
			{MinSize: 4, Size: math.MaxInt64, Copies: []Copy{{Off: math.MaxInt64, Src: 0, N: 1}}}, // destination overflows
		} {
			if err := s.PatchCopy(ctx, "k", p); !errors.Is(err, ErrInvalidRange) {
				t.Errorf("PatchCopy(%+v) = %v, want ErrInvalidRange", p, err)
			}
			if err := s.PatchCopy(ctx, "new/k", p); !errors.Is(err, ErrInvalidRange) {
				t.Errorf("PatchCopy(new, %+v) = %v, want ErrInvalidRange", p, err)
			}
		}
		want(t, s, "k", "0123")
		wantKeys(t, s, "", "k")
	})
}

// badKeys are rejected by every store and every method.
var badKeys = []string{
	"",
	"/abs",
	"a/../b",
	"..",
	"a//b",
	"a/",
	"./a",
	"a/.",
	"a\\b",
	"a\x00b",
	".rangetx",
	".rangetx/x",
	"x" + TempMarker + "y",
	"d/.v" + TempMarker + "owner.0123",
	strings.Repeat("s", MaxSegmentLen+1),
	strings.Repeat("a/", MaxKeyLen/2+1) + "a",
}

// callAll calls every keyed method of s on key and returns their errors.
func callAll(ctx context.Context, s fullStore, key string) map[string]error {
	errs := map[string]error{}
	_, errs["Get"] = s.Get(ctx, key)
	errs["Put"] = s.Put(ctx, key, strings.NewReader("x"))
	errs["Delete"] = s.Delete(ctx, key)
	_, errs["Stat"] = s.Stat(ctx, key)
	_, errs["ReadAt"] = s.ReadAt(ctx, key, make([]byte, 1), 0)
	_, errs["WriteAt"] = s.WriteAt(ctx, key, []byte("x"), 0)
	errs["Truncate"] = s.Truncate(ctx, key, 0)
	errs["Sync"] = s.Sync(ctx, key)
	errs["PatchCopy"] = s.PatchCopy(ctx, key, Patch{Size: 1, Ranges: []Range{{Data: []byte("x")}}})
	return errs
}

func TestBadKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		for _, key := range badKeys {
			for op, err := range callAll(context.Background(), s, key) {
				if !errors.Is(err, ErrInvalidKey) {
					t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, key, err)
				}
			}
		}
		wantKeys(t, s, "")
		if l, ok := s.(*Local); ok {
			wantTree(t, l.fs, l.Root())
		}
	})
}

func TestCancelledContext(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		put(t, s, "k", "old")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, key := range []string{"k", "new/dir/k"} {
			for op, err := range callAll(ctx, s, key) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s(%q) = %v, want context.Canceled", op, key, err)
				}
			}
		}
		if _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
			t.Errorf("List = %v, want context.Canceled", err)
		}
		want(t, s, "k", "old")
		wantKeys(t, s, "", "k")
		if l, ok := s.(*Local); ok {
			wantTree(t, l.fs, l.Root(), "k")
		}
	})
}

// TestCancelDuringPut cancels while Put is reading: nothing is replaced.
func TestCancelDuringPut(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		put(t, s, "k", "old")
		ctx, cancel := context.WithCancel(context.Background())
		r := readFunc(func(p []byte) (int, error) {
			cancel()
			return copy(p, "new"), io.EOF
		})
		if err := s.Put(ctx, "k", r); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put = %v, want context.Canceled", err)
		}
		want(t, s, "k", "old")
		if l, ok := s.(*Local); ok {
			wantTree(t, l.fs, l.Root(), "k")
		}
	})
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

func TestConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s fullStore) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				key := fmt.Sprintf("g%d/k", g)
				for i := range 30 {
					val := bytes.Repeat([]byte{byte('a' + g)}, 100+i)
					if err := s.Put(ctx, key, bytes.NewReader(val)); err != nil {
						t.Error(err)
						return
					}
					got, err := s.Get(ctx, key)
					if err != nil || !bytes.Equal(got, val) {
						t.Errorf("Get(%q) = %q, %v", key, got, err)
						return
					}
					if _, err := s.List(ctx, ""); err != nil {
						t.Error(err)
						return
					}
					p := Patch{MinSize: int64(len(val)), Size: int64(len(val)), Ranges: []Range{{Off: 0, Data: []byte("Z")}}}
					if err := s.PatchCopy(ctx, key, p); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		// Readers of one shared key see a whole value, never a mix.
		put(t, s, "shared", strings.Repeat("a", 4096))
		wg.Go(func() {
			for i := range 30 {
				val := strings.Repeat(string(rune('a'+i%26)), 4096)
				if err := s.Put(ctx, "shared", strings.NewReader(val)); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 30 {
				got, err := s.Get(ctx, "shared")
				if err != nil || len(got) != 4096 || bytes.Count(got, got[:1]) != 4096 {
					t.Errorf("Get(shared) saw a torn value (%v)", err)
					return
				}
			}
		})
		wg.Wait()
	})
}
