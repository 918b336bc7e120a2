package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/rangetx/rangetx/txn"
)

// ErrBadDir is returned for a harness directory that is not a directory or
// not empty.
var ErrBadDir = errors.New("crashtest: the directory must be empty or missing")

// CheckDir reports whether dir can hold a run: missing, or an empty
// directory. The error wraps ErrBadDir.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrBadDir, dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadDir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("%w: %s holds %s", ErrBadDir, dir, ents[0].Name())
	}
	return nil
}

// setup creates the directories and the values' initial contents.
func (c *controller) setup(ctx context.Context) error {
	for _, d := range []string{c.cfg.Dir, c.root, c.ackDir, c.logDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("crashtest: %w", err)
		}
	}
	h, err := os.Create(filepath.Join(c.cfg.Dir, historyFile))
	if err != nil {
		return fmt.Errorf("crashtest: %w", err)
	}
	c.history = h
	return CreateValues(ctx, c.model, c.root, c.logger())
}

func (c *controller) logDir() string { return filepath.Join(c.cfg.Dir, "logs") }

// historyFile, in the harness directory, gets one line per ended worker:
// when it ended, its slot and incarnation, process id, journal, armed
// crash point, how it ended, and what its recovery replayed.
const historyFile = "workers.log"

// CreateValues writes every value's initial content (Model.Initial) into
// the store at root, creating the store if needed.
func CreateValues(ctx context.Context, m *Model, root string, log *slog.Logger) error {
	e, err := txn.Open(ctx, root, &txn.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("crashtest: create values: %w", err)
	}
	for i, v := range m.Values {
		if err := e.Put(ctx, v.Key, bytes.NewReader(m.Initial(i))); err != nil {
			e.Close()
			return fmt.Errorf("crashtest: create values: %w", err)
		}
	}
	if err := e.Close(); err != nil {
		return fmt.Errorf("crashtest: create values: %w", err)
	}
	return nil
}

func (c *controller) logger() *slog.Logger {
	if c.cfg.Logger != nil {
		return c.cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}
