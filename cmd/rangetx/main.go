// Command rangetx drives rangetx stores from the shell: atomic whole-value
// and range writes, reads, recovery, inspection, sharded Zarr v3 arrays, a
// demonstration, and a crash-consistency test harness.
//
//	rangetx put     --root DIR KEY [FILE|-]
//	rangetx write   --root DIR [--mode journal|copy|auto] KEY OFFSET:FILE [OFFSET:FILE ...]
//	rangetx get     --root DIR [--offset N] [--length N] KEY
//	rangetx recover --root DIR [--json]
//	rangetx inspect --root DIR [--json]
//	rangetx demo    [--root DIR]
//	rangetx crashtest --root DIR --workers W --kills N [--mode journal|copy|auto|all] [--seed S] [--json]
//	rangetx shard create  --root DIR ARRAY --dtype uint8|int32|float32|float64 --shape N,... --shards N,... --chunks N,...
//	                      [--index-location end|start] [--chunk-crc] [--gzip] [--fill N]
//	rangetx shard put     --root DIR ARRAY I,J,... FILE|-
//	rangetx shard get     --root DIR ARRAY I,J,...
//	rangetx shard stat    --root DIR ARRAY S,T,... [--json]
//	rangetx shard compact --root DIR ARRAY S,T,...
//	rangetx shard race    [--root DIR] [--json]
//	rangetx bench   [--quick] [--json] [--out DIR] [--dir TMPDIR] [--scenarios 1,2,...] [--contenders journal,raw,...]
//
// --root may also come from RANGETX_ROOT, except for crashtest. Exit status:
// 0 success, 1 error (the message on stderr names the key and the cause), 2
// bad usage. For shard, ARRAY is the array's path under the root, I,J,...
// inner-chunk and S,T,... shard coordinates; a malformed coordinate list or
// a flag value that makes no valid array is bad usage, coordinates out of
// range, a FILE of the wrong size or a missing array an error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// env is what a command may touch; tests substitute it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// errUsage marks errors that are the caller's misuse (exit status 2).
var errUsage = errors.New("usage")

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, ev env, args []string) error
}

var commands = []command{
	{"put", "put --root DIR KEY [FILE|-]", runPut},
	{"write", "write --root DIR [--mode journal|copy|auto] KEY OFFSET:FILE [OFFSET:FILE ...]", runWrite},
	{"get", "get --root DIR [--offset N] [--length N] KEY", runGet},
	{"recover", "recover --root DIR [--json]", runRecover},
	{"inspect", "inspect --root DIR [--json]", runInspect},
	{"demo", "demo [--root DIR]", runDemo},
	{"crashtest", "crashtest --root DIR --workers W --kills N [--mode journal|copy|auto|all] [--seed S] [--json]", runCrashtest},
	{"shard", shardUsage, runShard},
	{"bench", "bench [--quick] [--json] [--out DIR] [--dir TMPDIR] [--scenarios 1,2,...] [--contenders journal,raw,...]", runBench},
	{demoWorkerCmd, "", runDemoWorker},
	{crashtestWorkerCmd, "", runCrashtestWorker},
	{benchWorkerCmd, "", runBenchWorker},
	{raceWorkerCmd, "", runRaceWorker},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, env{os.Stdin, os.Stdout, os.Stderr, os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, ev env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(ev.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, ev, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(ev.stderr, "rangetx %s: %v\nusage: rangetx %s\n", c.name, err, c.usage)
			return 2
		default:
			fmt.Fprintf(ev.stderr, "rangetx %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(ev.stderr, "rangetx: unknown command %q\n", args[0])
	printUsage(ev.stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage:")
	for _, c := range commands {
		if c.usage != "" {
			fmt.Fprintf(w, "  rangetx %s\n", c.usage)
		}
	}
	fmt.Fprintln(w, "--root may also come from RANGETX_ROOT (not for crashtest, whose DIR must be empty or missing).")
}
