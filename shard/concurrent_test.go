package shard_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/rangetx/rangetx/shard"
	"github.com/rangetx/rangetx/txn"
)

// TestConcurrentUpdates: many goroutines, on two engines opened on the same
// root as two processes would, update different inner chunks of one shard
// at once, each chunk first with one size (append) and then with the same
// size (in place) and finally a larger one (append again). No write is lost.
func TestConcurrentUpdates(t *testing.T) {
	bothLocations(t, func(t *testing.T, l shard.Layout) {
		root := t.TempDir()
		engines := []*txn.Engine{openOn(t, root), openOn(t, root)}
		l.Chunks = []int{4, 6}
		const key = "arr/c/0/0"
		const workers = 8
		final := func(i int) []byte { return []byte(fmt.Sprintf("chunk %d final %s", i, bytes.Repeat([]byte{'x'}, i))) }
		var wg sync.WaitGroup
		errs := make(chan error, l.NumChunks())
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := engines[w%2]
				for i := w; i < l.NumChunks(); i += workers {
					c := coordsOf(l, i)
					steps := [][]byte{
						[]byte(fmt.Sprintf("c%02d-a", i)),
						[]byte(fmt.Sprintf("c%02d-b", i)), // same size: in place
						final(i),
					}
					for _, d := range steps {
						err := shard.Update(ctx, e, key, l, func(wr *shard.Writer) error { return wr.Put(c, d) })
						if err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, e := range engines {
			all, err := shard.ReadAll(ctx, e, key, l)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range all {
				if !bytes.Equal(d, final(i)) {
					t.Errorf("chunk %d = %q, want %q", i, d, final(i))
				}
			}
		}
		b := raw(t, root, engines[0], key)
		entries := decodeRaw(t, l, b)
		for i, en := range entries {
			if !bytes.Equal(chunkOf(b, en), final(i)) {
				t.Errorf("stored chunk %d = %q", i, chunkOf(b, en))
			}
		}
	})
}

// TestConcurrentUpdateAndRead: readers running beside a writer always see
// whole Updates: both chunks of one Update carry the same generation.
func TestConcurrentUpdateAndRead(t *testing.T) {
	root := t.TempDir()
	e1, e2 := openOn(t, root), openOn(t, root)
	l := shard.Layout{Chunks: []int{2}, IndexCRC: true}
	const rounds = 40
	done := make(chan struct{})
	go func() {
		defer close(done)
		for g := range rounds {
			err := shard.Update(ctx, e1, "pair", l, func(w *shard.Writer) error {
				d := []byte(fmt.Sprintf("gen %d", g)) // sizes vary: appends
				if err := w.Put([]int{0}, d); err != nil {
					return err
				}
				return w.Put([]int{1}, d)
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var bad error
	for reading := true; reading && bad == nil; {
		select {
		case <-done:
			reading = false
		default:
		}
		for _, e := range []*txn.Engine{e1, e2} {
			all, err := shard.ReadAll(ctx, e, "pair", l)
			if err == nil && !bytes.Equal(all[0], all[1]) {
				err = fmt.Errorf("torn read: %q vs %q", all[0], all[1])
			}
			if err != nil {
				bad = err
				break
			}
		}
	}
	<-done
	if bad != nil {
		t.Fatal(bad)
	}
	all, err := shard.ReadAll(ctx, e2, "pair", l)
	if err != nil || string(all[0]) != fmt.Sprintf("gen %d", rounds-1) {
		t.Errorf("final = %q, %v", all, err)
	}
}
