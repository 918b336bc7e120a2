package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rangetx/rangetx/internal/testutil"
	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/txn"
	"golang.org/x/sys/unix"
)

// openPTY returns the master side of a new pseudo-terminal and its slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("this test needs /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestRecoverProgress: with much to do, recover draws progress on a
// terminal, and never into a pipe or with --json.
func TestRecoverProgress(t *testing.T) {
	setup := func() string {
		root := t.TempDir()
		var recs []journal.Record
		for i := range progressThreshold {
			key := fmt.Sprintf("v/%02d", i)
			ok(t, rangetx(t, []byte("0123456789"), nil, "put", "--root", root, key))
			recs = append(recs, journal.Record{TxID: uuid.New(), Key: key, BaseSize: 10, MinSize: 10, Size: 10,
				Ranges: []journal.Range{{Off: 0, Data: []byte("X")}}})
		}
		_, jdir, _ := txn.Layout(root)
		testutil.DeadJournal(t, jdir, recs...)
		return root
	}

	master, slave := openPTY(t)
	cmd := exec.Command(os.Args[0], "recover", "--root", setup())
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	cmd.Stdout = slave
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, master); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		master.Close()
		<-done
	}
	if want := fmt.Sprintf("%d/%d values settled", progressThreshold, progressThreshold); !strings.Contains(out.String(), want) {
		t.Fatalf("terminal output lacks progress %q:\n%s", want, out.String())
	}

	r := ok(t, rangetx(t, nil, nil, "recover", "--root", setup()))
	if strings.Contains(r.stdout, "values settled") {
		t.Fatalf("progress drawn into a pipe: %q", r.stdout)
	}
}
