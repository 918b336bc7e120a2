package crashtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rangetx/rangetx/store/vfs"
	"golang.org/x/sys/unix"
)

// An acknowledgement log holds one line "KEY SEQ" per transaction whose
// Commit returned nil, appended and fdatasynced right after, so the log is
// meaningful after a power loss too. A line cut short by a kill (no final
// newline) acknowledges nothing.

// ackLogName is the name of worker w's log in its incarnation inc.
func ackLogName(w, inc int) string { return fmt.Sprintf("%d-%d.log", w, inc) }

// ackLog appends acknowledgements to one log.
type ackLog struct{ f *os.File }

// createAckLog creates a fresh log at path and makes its directory entry
// durable.
func createAckLog(path string) (*ackLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("crashtest: ack log: %w", err)
	}
	if err := vfs.Default.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("crashtest: ack log: %w", err)
	}
	return &ackLog{f}, nil
}

// ack records that transaction seq on key committed: one write, then
// fdatasync.
func (a *ackLog) ack(key string, seq uint64) error {
	if _, err := a.f.WriteString(key + " " + strconv.FormatUint(seq, 10) + "\n"); err != nil {
		return fmt.Errorf("crashtest: ack: %w", err)
	}
	if err := unix.Fdatasync(int(a.f.Fd())); err != nil {
		return fmt.Errorf("crashtest: ack: fdatasync: %w", err)
	}
	return nil
}

func (a *ackLog) close() error { return a.f.Close() }

// Ack is one acknowledged transaction.
type Ack struct {
	Key string
	Seq uint64
	Log string // the log's file name, "<worker>-<incarnation>.log"
}

// ReadAcks reads every log in dir, in name order. Lines that name no
// transaction are KindBadAck violations.
func ReadAcks(dir string) ([]Ack, []Violation, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("crashtest: acks: %w", err)
	}
	var acks []Ack
	var bad []Violation
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("crashtest: acks: %w", err)
		}
		if i := bytes.LastIndexByte(b, '\n'); i+1 < len(b) {
			b = b[:i+1] // cut short by a kill
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			key, seq, ok := strings.Cut(sc.Text(), " ")
			s, err := strconv.ParseUint(seq, 10, 64)
			if !ok || err != nil || s == 0 || key == "" {
				bad = append(bad, Violation{Kind: KindBadAck, Detail: fmt.Sprintf("%s line %d: %q", e.Name(), n, sc.Text())})
				continue
			}
			acks = append(acks, Ack{Key: key, Seq: s, Log: e.Name()})
		}
	}
	return acks, bad, nil
}

// CheckAcks checks the acknowledgements against the values' final states:
// every acknowledged transaction must be present (its sequence number at
// most the value's), and no sequence number of a value may be acknowledged
// twice. It counts each value's acknowledgements into states.
func (m *Model) CheckAcks(acks []Ack, states []ValueState) []Violation {
	var vs []Violation
	seen := map[Ack]string{} // (key, seq) → first log
	for _, a := range acks {
		i := m.Index(a.Key)
		if i < 0 {
			vs = append(vs, Violation{Kind: KindBadAck, Key: a.Key, Detail: fmt.Sprintf("%s acknowledges seq %d of an unknown value", a.Log, a.Seq)})
			continue
		}
		states[i].Acknowledged++
		k := Ack{Key: a.Key, Seq: a.Seq}
		if first, dup := seen[k]; dup {
			vs = append(vs, Violation{Kind: KindDuplicate, Key: a.Key,
				Detail: fmt.Sprintf("seq %d acknowledged by %s and by %s: one commit overwrote the other (lost update)", a.Seq, first, a.Log)})
		} else {
			seen[k] = a.Log
		}
		if a.Seq > states[i].Seq {
			vs = append(vs, Violation{Kind: KindLost, Key: a.Key,
				Detail: fmt.Sprintf("seq %d acknowledged by %s, but the value holds only up to seq %d", a.Seq, a.Log, states[i].Seq)})
		}
	}
	slices.SortStableFunc(vs, func(a, b Violation) int { return strings.Compare(a.Key, b.Key) })
	return vs
}
