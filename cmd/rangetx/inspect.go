package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rangetx/rangetx/journal"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/txn"
)

// inspection is what inspect prints.
type inspection struct {
	Root     string          `json:"root"`
	Journals []journalStatus `json:"journals"`
	Locks    []lock.Status   `json:"locks"`
}

type journalStatus struct {
	ID string `json:"id"`
	// Live: its owner process holds it; its contents cannot be read from
	// outside and are applied by the owner itself.
	Live       bool              `json:"live"`
	Entries    int               `json:"entries"`
	Pending    []string          `json:"pending_keys"`
	Watermarks map[string]uint64 `json:"watermarks"`
	Corrupt    []uint64          `json:"corrupt_lsns,omitempty"`
	// CorruptFile says why the journal's bbolt file itself cannot be read
	// (cut short, a damaged page, not a bbolt file); its entries are then
	// unknown. Empty otherwise.
	CorruptFile string `json:"corrupt_file,omitempty"`
	Error       string `json:"error,omitempty"`
}

func runInspect(ctx context.Context, ev env, args []string) error {
	root, asJSON, err := parseRootJSON("inspect", ev, args)
	if err != nil {
		return err
	}
	locks, jdir, _ := txn.Layout(root)
	in := inspection{Root: root, Journals: []journalStatus{}, Locks: []lock.Status{}}
	ids, err := journal.List(jdir)
	if err != nil {
		return err
	}
	for _, id := range ids {
		in.Journals = append(in.Journals, inspectJournal(ctx, jdir, id))
	}
	if ls, err := lock.Scan(ctx, locks); err != nil {
		return err
	} else if ls != nil {
		in.Locks = ls
	}
	if asJSON {
		enc := json.NewEncoder(ev.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	fmt.Fprintf(ev.stdout, "root %s\n", root)
	fmt.Fprintf(ev.stdout, "journals: %d\n", len(in.Journals))
	for _, j := range in.Journals {
		switch {
		case j.Live:
			fmt.Fprintf(ev.stdout, "  %s  live (owner running)\n", j.ID)
		case j.CorruptFile != "":
			fmt.Fprintf(ev.stdout, "  %s  dead  CORRUPT journal file: %s\n", j.ID, j.CorruptFile)
		case j.Error != "":
			fmt.Fprintf(ev.stdout, "  %s  dead  error: %s\n", j.ID, j.Error)
		default:
			fmt.Fprintf(ev.stdout, "  %s  dead  %d entries, pending keys %v, watermarks %v\n", j.ID, j.Entries, j.Pending, j.Watermarks)
			if len(j.Corrupt) > 0 {
				fmt.Fprintf(ev.stdout, "      CORRUPT records at LSN %v\n", j.Corrupt)
			}
		}
	}
	held := 0
	for _, l := range in.Locks {
		if l.Held || l.Marker != "" {
			held++
		}
	}
	fmt.Fprintf(ev.stdout, "locks: %d known, %d held or marked\n", len(in.Locks), held)
	for _, l := range in.Locks {
		if l.Held || l.Marker != "" {
			fmt.Fprintf(ev.stdout, "  %s  held=%t marker=%q\n", l.Key, l.Held, l.Marker)
		}
	}
	return nil
}

func inspectJournal(ctx context.Context, dir, id string) journalStatus {
	js := journalStatus{ID: id, Pending: []string{}, Watermarks: map[string]uint64{}}
	j, err := journal.OpenDead(ctx, dir, id, nil)
	switch {
	case errors.Is(err, journal.ErrOwnerAlive):
		js.Live = true
		return js
	case errors.Is(err, journal.ErrCorrupt):
		js.CorruptFile = err.Error()
		return js
	case err != nil:
		js.Error = err.Error()
		return js
	}
	defer j.Close()
	// Stats tolerates corrupt records (it lists their LSNs), so ErrCorrupt
	// from it means a damaged file.
	st, err := j.Stats(ctx)
	switch {
	case errors.Is(err, journal.ErrCorrupt):
		js.CorruptFile = err.Error()
		return js
	case err != nil:
		js.Error = err.Error()
		return js
	}
	js.Entries = st.Entries
	if st.PendingKeys != nil {
		js.Pending = st.PendingKeys
	}
	if st.Applied != nil {
		js.Watermarks = st.Applied
	}
	js.Corrupt = st.Corrupt
	return js
}
