package vfs

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
)

// CrashMode says what MemFS.Crash does with the operations that are not yet
// durable.
type CrashMode uint8

const (
	// DropUnsynced keeps only what is durable: a power loss that lost every
	// unsynced operation.
	DropUnsynced CrashMode = iota
	// KeepUnsynced keeps every operation: the current state, which is what
	// killing the process leaves.
	KeepUnsynced
	// RandomUnsynced keeps or drops each pending operation independently,
	// and tears some writes, as chosen by a seeded random source.
	RandomUnsynced
)

// String returns the mode's name, "DropUnsynced" for example.
func (c CrashMode) String() string {
	switch c {
	case DropUnsynced:
		return "DropUnsynced"
	case KeepUnsynced:
		return "KeepUnsynced"
	case RandomUnsynced:
		return "RandomUnsynced"
	}
	return "CrashMode(" + strconv.Itoa(int(c)) + ")"
}

// Crash returns a new, independent MemFS holding a state that a power loss
// at this instant could leave: everything in it is durable, it has no hook
// and no open files, and its Ops count is 0. m is unchanged and stays
// usable.
//
// With DropUnsynced the state is what is durable; with KeepUnsynced it is
// the current state. With RandomUnsynced, using a PCG source seeded by seed
// (the same seed and the same history give the same state), each pending
// directory operation is kept or dropped with equal odds, in the order the
// operations happened; one that cannot apply given earlier choices (removing
// or renaming a name that is not there or names something else, creating a
// name that exists, replacing a directory that is not empty or is of the
// other type, removing a directory that is not empty) is dropped. Then each
// pending data operation of a file is, in order, kept or dropped with equal
// odds, except that a write is kept, dropped or torn with equal odds: torn,
// it is split at the multiples of 512 or of 4096 (one size chosen per write)
// in file offsets and each piece is kept or dropped on its own. A dropped
// piece past the end of the file leaves zeros if a later piece is kept.
//
// The state is built from "/" down: each directory's durable entries with
// its kept pending operations applied, each file's durable data with its
// kept pending data operations applied. What is reachable only through
// dropped entries vanishes. Because the two halves of a rename between
// directories are kept or dropped independently, a file or directory may
// end up under both names, as independent copies, or under neither; an
// entry that would make a directory its own ancestor is left out.
func (m *MemFS) Crash(mode CrashMode, seed uint64) *MemFS {
	c := &crasher{
		mode:   mode,
		files:  map[*inode][]byte{},
		onPath: map[*inode]bool{},
	}
	switch mode {
	case DropUnsynced, KeepUnsynced:
	case RandomUnsynced:
		c.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		c.work = map[*inode]map[string]*inode{}
	default:
		panic("vfs: Crash with unknown " + mode.String())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if mode == RandomUnsynced {
		c.replay(m.dirOps)
	}
	return &MemFS{root: c.copyDir(m.root)}
}

// crasher builds the state of one Crash.
type crasher struct {
	mode   CrashMode
	rng    *rand.Rand
	work   map[*inode]map[string]*inode // RandomUnsynced: entries after replay, for directories with kept operations
	files  map[*inode][]byte            // the crashed content of each file met so far
	onPath map[*inode]bool              // the directories copyDir is inside of
}

// entries returns the crashed entries of directory d (read-only).
func (c *crasher) entries(d *inode) map[string]*inode {
	switch c.mode {
	case KeepUnsynced:
		return d.entries
	case DropUnsynced:
		return d.durEntries
	}
	if w, ok := c.work[d]; ok {
		return w
	}
	return d.durEntries
}

// writable returns d's working entries, starting from its durable ones.
func (c *crasher) writable(d *inode) map[string]*inode {
	w, ok := c.work[d]
	if !ok {
		w = maps.Clone(d.durEntries)
		if w == nil {
			w = map[string]*inode{}
		}
		c.work[d] = w
	}
	return w
}

// canReplace reports whether ino can take the place of old in a rename.
func (c *crasher) canReplace(old, ino *inode) bool {
	if old == nil || old == ino {
		return true
	}
	if old.isDir() != ino.isDir() {
		return false
	}
	return !old.isDir() || len(c.entries(old)) == 0
}

// replay keeps or drops each pending directory operation.
func (c *crasher) replay(ops []dirOp) {
	for _, op := range ops {
		if c.rng.IntN(2) == 0 {
			continue
		}
		cur := c.entries(op.dir)
		switch op.kind {
		case dirAdd:
			old := cur[op.name]
			if op.replace && !c.canReplace(old, op.ino) || !op.replace && old != nil {
				continue
			}
			c.writable(op.dir)[op.name] = op.ino
		case dirRemove:
			if cur[op.name] != op.ino || op.ino.isDir() && len(c.entries(op.ino)) > 0 {
				continue
			}
			delete(c.writable(op.dir), op.name)
		case dirRename:
			if cur[op.name] != op.ino || !c.canReplace(cur[op.newName], op.ino) {
				continue
			}
			w := c.writable(op.dir)
			delete(w, op.name)
			w[op.newName] = op.ino
		}
	}
}

// copyDir returns the crashed copy of directory d.
func (c *crasher) copyDir(d *inode) *inode {
	nd := &inode{mode: d.mode, modTime: d.modTime}
	ents := c.entries(d)
	nd.entries = make(map[string]*inode, len(ents))
	c.onPath[d] = true
	names := slices.Collect(maps.Keys(ents))
	if c.rng != nil {
		slices.Sort(names) // the random choices follow a fixed order
	}
	for _, name := range names {
		switch n := ents[name]; {
		case !n.isDir():
			nd.entries[name] = c.copyFile(n)
		case !c.onPath[n]:
			nd.entries[name] = c.copyDir(n)
		}
	}
	delete(c.onPath, d)
	nd.durEntries = maps.Clone(nd.entries)
	return nd
}

// copyFile returns the crashed copy of file f, computing its content once.
func (c *crasher) copyFile(f *inode) *inode {
	data, seen := c.files[f]
	if seen {
		data = bytes.Clone(data)
	} else {
		data = c.content(f)
		c.files[f] = data
	}
	return &inode{mode: f.mode, modTime: f.modTime, data: data, shared: true}
}

// content returns f's crashed content, in a new slice.
func (c *crasher) content(f *inode) []byte {
	switch c.mode {
	case KeepUnsynced:
		return bytes.Clone(f.data)
	case DropUnsynced:
		return bytes.Clone(f.durableData())
	}
	b := bytes.Clone(f.durableData())
	for _, op := range f.pending {
		if op.trunc {
			if c.rng.IntN(2) == 0 {
				b = op.apply(b)
			}
			continue
		}
		switch c.rng.IntN(3) {
		case 0: // kept
			b = op.apply(b)
		case 1: // dropped
		case 2: // torn
			bs := int64(512)
			if c.rng.IntN(2) == 0 {
				bs = 4096
			}
			end := op.off + int64(len(op.data))
			for s := op.off; s < end; {
				e := min(end, (s/bs+1)*bs)
				if c.rng.IntN(2) == 0 {
					b = writeAt(b, op.data[s-op.off:e-op.off], s)
				}
				s = e
			}
		}
	}
	return b
}
