package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/recovery"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
	"golang.org/x/sys/unix"
)

// progressThreshold is how many values recovery must settle before it is
// worth drawing progress on a terminal.
const progressThreshold = 16

func quietLogger(ev env) *slog.Logger {
	return slog.New(slog.NewTextHandler(ev.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func runRecover(ctx context.Context, ev env, args []string) error {
	root, asJSON, err := parseRootJSON("recover", ev, args)
	if err != nil {
		return err
	}
	rep, err := recoverRoot(ctx, root, quietLogger(ev), progressFunc(ev, asJSON))
	if asJSON {
		out := struct {
			recovery.Report
			Error string `json:"error,omitempty"`
		}{Report: rep}
		if err != nil {
			out.Error = err.Error()
		}
		enc := json.NewEncoder(ev.stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(out); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		printReport(ev.stdout, rep)
	}
	return err
}

// recoverRoot runs recovery on root without opening an engine of its own.
func recoverRoot(ctx context.Context, root string, log *slog.Logger, progress func(done, total int)) (recovery.Report, error) {
	locks, jdir, rlock := txn.Layout(root)
	st, err := store.NewLocal(root)
	if err != nil {
		return recovery.Report{}, err
	}
	lk, err := lock.NewFile(locks)
	if err != nil {
		return recovery.Report{}, err
	}
	return recovery.Run(ctx, recovery.Config{
		Store: st, Locker: lk, JournalDir: jdir, LockPath: rlock, Logger: log, Progress: progress,
	})
}

// progressFunc draws "settled i/n values" on a terminal, and nothing
// otherwise.
func progressFunc(ev env, asJSON bool) func(done, total int) {
	out, ok := ev.stdout.(*os.File)
	if asJSON || !ok || !isTerminal(out) {
		return nil
	}
	return func(done, total int) {
		if total < progressThreshold {
			return
		}
		fmt.Fprintf(out, "\rrecovering: %d/%d values settled", done, total)
		if done == total {
			fmt.Fprintln(out)
		}
	}
}

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func printReport(w io.Writer, rep recovery.Report) {
	dead := 0
	for _, j := range rep.Journals {
		switch {
		case j.Live:
			fmt.Fprintf(w, "journal %s: owner alive, left alone\n", j.ID)
		case j.Corrupt != "":
			dead++
			fmt.Fprintf(w, "journal %s: CORRUPT, nothing applied: %s\n", j.ID, j.Corrupt)
		default:
			dead++
			for _, k := range recovery.SortedKeys(j.Replayed) {
				fmt.Fprintf(w, "journal %s: replayed %d entries for %s\n", j.ID, j.Replayed[k], k)
			}
			for k, why := range j.Failed {
				fmt.Fprintf(w, "journal %s: FAILED to settle %s: %s\n", j.ID, k, why)
			}
			if j.Removed {
				fmt.Fprintf(w, "journal %s: fully applied, removed\n", j.ID)
			}
		}
	}
	for _, p := range rep.TempRemoved {
		fmt.Fprintf(w, "removed temporary file %s\n", p)
	}
	fmt.Fprintf(w, "recovered: %d dead journals, %d entries replayed, %d temporary files removed\n",
		dead, rep.Replayed, len(rep.TempRemoved))
}
