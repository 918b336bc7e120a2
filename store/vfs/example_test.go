package vfs_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/rangetx/rangetx/store/vfs"
)

// A write counts after a power loss only once synced; a process kill keeps
// it either way.
func ExampleMemFS_Crash() {
	m := vfs.NewMem()
	if err := m.WriteFile("/v", []byte("old"), 0o644); err != nil {
		panic(err)
	}
	f, err := m.OpenFile("/v", os.O_WRONLY, 0)
	if err != nil {
		panic(err)
	}
	show := func(when string) {
		for _, mode := range []vfs.CrashMode{vfs.DropUnsynced, vfs.KeepUnsynced} {
			b, _ := m.Crash(mode, 0).ReadFile("/v")
			fmt.Printf("%s, %v: %s\n", when, mode, b)
		}
	}
	if _, err := f.WriteAt([]byte("new"), 0); err != nil {
		panic(err)
	}
	show("before Sync")
	if err := f.Sync(); err != nil {
		panic(err)
	}
	show("after Sync")
	// Output:
	// before Sync, DropUnsynced: old
	// before Sync, KeepUnsynced: new
	// after Sync, DropUnsynced: new
	// after Sync, KeepUnsynced: new
}

// Crashing just before each operation of a commit by rename shows which
// step makes the new value durable.
func ExampleMemFS_SetHook() {
	m := vfs.NewMem()
	if err := vfs.MkdirAll(m, "/d", 0o755); err != nil {
		panic(err)
	}
	if err := m.WriteFile("/d/v", []byte("old"), 0o644); err != nil {
		panic(err)
	}
	m.SetHook(func(op vfs.Op) {
		b, _ := m.Crash(vfs.DropUnsynced, 0).ReadFile("/d/v")
		fmt.Printf("power loss before %-30s leaves %s\n", op.String()+":", b)
	})
	f, _ := m.OpenFile("/d/v.tmp", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	_, _ = f.Write([]byte("new"))
	_ = f.Sync()
	_ = f.Close()
	_ = m.Rename("/d/v.tmp", "/d/v")
	_ = m.SyncDir("/d")
	m.SetHook(nil)
	b, _ := m.Crash(vfs.DropUnsynced, 0).ReadFile("/d/v")
	fmt.Printf("power loss after the commit leaves %s\n", b)
	// Output:
	// power loss before create /d/v.tmp:               leaves old
	// power loss before write /d/v.tmp off=-1 len=3:   leaves old
	// power loss before sync /d/v.tmp:                 leaves old
	// power loss before rename /d/v.tmp -> /d/v:       leaves old
	// power loss before syncdir /d:                    leaves old
	// power loss after the commit leaves new
}

// Counting a workload's operations, then failing each in turn.
func ExampleFault() {
	work := func(fsys vfs.FS) error {
		f, err := fsys.OpenFile("/f", os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write([]byte("data")); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	count := &vfs.Fault{}
	if err := work(vfs.Inject(vfs.NewMem(), count.Rule)); err != nil {
		panic(err)
	}
	for n := int64(1); n <= count.Count(); n++ {
		fault := &vfs.Fault{N: n, Err: syscall.EIO}
		err := work(vfs.Inject(vfs.NewMem(), fault.Rule))
		fmt.Println(n, errors.Is(err, syscall.EIO), err)
	}
	// Output:
	// 1 true create /f: input/output error
	// 2 true write /f: input/output error
	// 3 true sync /f: input/output error
	// 4 true close /f: input/output error
}
