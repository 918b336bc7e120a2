package bench

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rangetx/rangetx/txn"
)

// Rangetx is rangetx itself in one commit mode: one txn.Do per write on an
// engine opened with txn.Open on the directory. Its name is the mode's
// ("journal", "copy" or "auto").
type Rangetx txn.Mode

// Name returns the mode's name.
func (r Rangetx) Name() string { return txn.Mode(r).String() }

// Setup writes the values as files under dir (key "v00" is the file
// dir/v00) and opens an engine on dir.
func (r Rangetx) Setup(ctx context.Context, dir string, values int, size int64) (Target, error) {
	if err := createFiles(dir, values, size); err != nil {
		return nil, fmt.Errorf("%s: %w", r.Name(), err)
	}
	return r.Attach(ctx, dir)
}

// Attach opens another engine on dir; engines in any number of processes
// share a root.
func (r Rangetx) Attach(ctx context.Context, dir string) (Target, error) {
	e, err := txn.Open(ctx, dir, &txn.Options{Mode: txn.Mode(r), Logger: slog.Default()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Name(), err)
	}
	return rangetxTarget{e}, nil
}

type rangetxTarget struct{ e *txn.Engine }

func (t rangetxTarget) Write(ctx context.Context, value int, off int64, data []byte) error {
	return txn.Do(ctx, t.e, valueKey(value), func(tx *txn.Tx) error {
		_, err := tx.WriteAt(data, off)
		return err
	})
}

func (t rangetxTarget) Close() error { return t.e.Close() }
