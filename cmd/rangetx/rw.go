package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// openEngine opens the engine on the command's root. Only commands that
// write may create a missing root.
func openEngine(ctx context.Context, ev env, f *flags, mode txn.Mode, create bool) (*txn.Engine, error) {
	root, err := f.rootDir(ev)
	if err != nil {
		return nil, err
	}
	if !create {
		if err := isDir(root); err != nil {
			return nil, err
		}
	}
	return txn.Open(ctx, root, &txn.Options{Mode: mode, Logger: quietLogger(ev)})
}

func isDir(root string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("root %s: not a directory", root)
	}
	return nil
}

func runPut(ctx context.Context, ev env, args []string) error {
	f := newFlags("put", true)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return fmt.Errorf("%w: want KEY [FILE|-]", errUsage)
	}
	key := pos[0]
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	var r io.Reader = ev.stdin
	if len(pos) == 2 && pos[1] != "-" {
		file, err := os.Open(pos[1])
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		defer file.Close()
		r = file
	}
	e, err := openEngine(ctx, ev, f, txn.ModeAuto, true)
	if err != nil {
		return err
	}
	defer e.Close()
	return e.Put(ctx, key, r)
}

// rangeArg is one OFFSET:FILE argument of write, with the file read.
type rangeArg struct {
	off  int64
	data []byte
}

func runWrite(ctx context.Context, ev env, args []string) error {
	f := newFlags("write", true)
	modeName := f.String("mode", "auto", "commit mode: journal, copy or auto")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	mode, err := txn.ParseMode(*modeName)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) < 2 {
		return fmt.Errorf("%w: want KEY OFFSET:FILE [OFFSET:FILE ...]", errUsage)
	}
	key := pos[0]
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	// Read every input before touching the store, so a bad argument
	// writes nothing.
	ranges := make([]rangeArg, 0, len(pos)-1)
	stdinUsed := false
	for _, spec := range pos[1:] {
		offStr, name, ok := strings.Cut(spec, ":")
		if !ok || name == "" {
			return fmt.Errorf("%w: %q is not OFFSET:FILE", errUsage, spec)
		}
		off, err := strconv.ParseInt(offStr, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return fmt.Errorf("%s: offset %s: %w", key, offStr, store.ErrInvalidRange)
			}
			return fmt.Errorf("%w: offset %q is not an integer", errUsage, offStr)
		}
		var data []byte
		if name == "-" {
			if stdinUsed {
				return fmt.Errorf("%w: standard input (-) may be used once", errUsage)
			}
			stdinUsed = true
			data, err = io.ReadAll(ev.stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		ranges = append(ranges, rangeArg{off, data})
	}
	e, err := openEngine(ctx, ev, f, mode, true)
	if err != nil {
		return err
	}
	defer e.Close()
	return txn.Do(ctx, e, key, func(tx *txn.Tx) error {
		for _, r := range ranges {
			if _, err := tx.WriteAt(r.data, r.off); err != nil {
				return err
			}
		}
		return nil
	})
}

func runGet(ctx context.Context, ev env, args []string) error {
	f := newFlags("get", true)
	offset := f.Int64("offset", 0, "first byte to print")
	length := f.Int64("length", -1, "number of bytes to print (default: to the end)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want KEY", errUsage)
	}
	key := pos[0]
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if *offset < 0 || (*length < 0 && *length != -1) {
		return fmt.Errorf("%s: offset %d length %d: %w", key, *offset, *length, store.ErrInvalidRange)
	}
	e, err := openEngine(ctx, ev, f, txn.ModeAuto, false)
	if err != nil {
		return err
	}
	defer e.Close()
	return e.View(ctx, key, func(r io.ReaderAt, size int64) error {
		n := *length
		if n == -1 {
			n = size - *offset
		}
		if *offset > size || n > size-*offset {
			return fmt.Errorf("%s: bytes [%d, %d+%d) of a %d-byte value: %w", key, *offset, *offset, n, size, store.ErrInvalidRange)
		}
		w := bufio.NewWriterSize(ev.stdout, 1<<20)
		if _, err := io.Copy(w, io.NewSectionReader(r, *offset, n)); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return w.Flush()
	})
}
