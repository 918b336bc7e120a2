package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rangetx/rangetx/txn"
)

// A Contender is one way of storing values and updating byte ranges of them
// durably. Values are numbered 0..values-1.
type Contender interface {
	// Name is the contender's short name, as on the command line.
	Name() string
	// Setup creates values values of size bytes each under the empty
	// directory dir, with every byte written (no sparse files) and
	// synced, and returns a Target that writes into them.
	Setup(ctx context.Context, dir string, values int, size int64) (Target, error)
	// Attach returns another Target on the values that Setup made under
	// dir, as another process would open them while the first Target is
	// open. It fails with ErrSkip if the contender cannot be written by
	// several processes at once.
	Attach(ctx context.Context, dir string) (Target, error)
}

// A Target writes byte ranges into a contender's values. Write is safe for
// concurrent use; when it returns nil the bytes are durable.
type Target interface {
	// Write stores data at offset off of value, which it does not grow.
	Write(ctx context.Context, value int, off int64, data []byte) error
	// Close releases the target; the values stay on disk.
	Close() error
}

// ErrSkip marks a cell that a contender cannot run; the error's text says
// why.
var ErrSkip = errors.New("skipped")

// Contenders returns every contender, in the order of the reports.
func Contenders() []Contender {
	return []Contender{
		Rangetx(txn.ModeJournal), Rangetx(txn.ModeCopy), Rangetx(txn.ModeAuto),
		Naive{}, Raw{}, SQLite{}, Bbolt{},
	}
}

// ContenderNames returns the names of Contenders, in order.
func ContenderNames() []string {
	var names []string
	for _, c := range Contenders() {
		names = append(names, c.Name())
	}
	return names
}

// SelectContenders returns the contenders named in the comma-separated
// list, in the order of Contenders; an empty list selects all.
func SelectContenders(list string) ([]Contender, error) {
	all := Contenders()
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	want := map[string]bool{}
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, c := range all {
			found = found || c.Name() == n
		}
		if !found {
			return nil, fmt.Errorf("unknown contender %q (want %s)", n, strings.Join(ContenderNames(), ", "))
		}
		want[n] = true
	}
	var sel []Contender
	for _, c := range all {
		if want[c.Name()] {
			sel = append(sel, c)
		}
	}
	return sel, nil
}
