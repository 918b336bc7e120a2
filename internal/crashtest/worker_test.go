package crashtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// workerEnvVar makes this test binary run as a crash-test worker.
const workerEnvVar = "RANGETX_CRASHTEST_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnvVar) != "" {
		if err := WorkerMain(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Workers in one process, never killed, in every mode: every transaction
// is acknowledged once and present, and the store verifies clean.
func TestWorkersWithoutKills(t *testing.T) {
	for _, mode := range []string{ModeAll, ModeJournal, ModeCopy, ModeAuto} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			m := newModel(t, 21, mode, 4<<10, 64<<10, 1<<20)
			dir := t.TempDir()
			root, acks := filepath.Join(dir, "store"), filepath.Join(dir, "acks")
			os.Mkdir(acks, 0o755)
			if err := CreateValues(ctx, m, root, nil); err != nil {
				t.Fatal(err)
			}
			const workers, txs = 3, 25
			var wg sync.WaitGroup
			errs := make([]error, workers)
			for w := range workers {
				wg.Go(func() {
					errs[w] = RunWorker(ctx, WorkerConfig{Root: root, AckDir: acks, Model: m, Worker: w, MaxTx: txs,
						Logger: slog.New(slog.DiscardHandler)})
				})
			}
			wg.Wait()
			for w, err := range errs {
				if err != nil {
					t.Fatalf("worker %d: %v", w, err)
				}
			}
			res, err := Verify(ctx, m, root, acks)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Violations) != 0 {
				t.Fatalf("violations %v", res.Violations)
			}
			total := uint64(0)
			for _, v := range res.Values {
				total += v.Seq
			}
			if res.Acknowledged != workers*txs || total != workers*txs {
				t.Fatalf("%d acknowledged, %d applied, want %d", res.Acknowledged, total, workers*txs)
			}
		})
	}
}

// A short run of the controller, with this test binary as the workers.
func TestRunSmall(t *testing.T) {
	const kills = 40
	dir := filepath.Join(t.TempDir(), "run")
	rep, err := Run(context.Background(), Config{
		Dir: dir, Workers: 3, Kills: kills, Mode: ModeAll, Seed: uint64(time.Now().UnixNano()),
		Sizes:   []int64{4 << 10, 64 << 10, 1 << 20},
		Command: []string{os.Args[0]},
		Env:     append(os.Environ(), workerEnvVar+"=1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: %d kills (%d random, %d at %v), %d acknowledged, %d recoveries (%d replaying %d entries), %.1fs",
		rep.Seed, rep.Kills, rep.KillsRandom, rep.KillsCrashpoint, rep.Crashpoints, rep.Acknowledged,
		rep.Recoveries, rep.RecoveriesReplaying, rep.Replayed, rep.Elapsed)
	if rep.Violations != 0 {
		t.Fatalf("violations: %v", rep.ViolationDetails)
	}
	if rep.Kills < kills || rep.Acknowledged == 0 || rep.KillsRandom == 0 || rep.KillsCrashpoint == 0 {
		t.Fatalf("kills %d (random %d, crash points %d), acknowledged %d", rep.Kills, rep.KillsRandom, rep.KillsCrashpoint, rep.Acknowledged)
	}
	// The directory must be fresh.
	if _, err := Run(context.Background(), Config{Dir: dir, Workers: 1, Kills: 1, Mode: ModeAll, Command: []string{os.Args[0]}}); err == nil {
		t.Fatal("a second run into the same directory was accepted")
	}
}
