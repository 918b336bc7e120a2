package crashtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rangetx/rangetx/internal/crashpoint"
	"github.com/rangetx/rangetx/lock"
	"github.com/rangetx/rangetx/recovery"
	"github.com/rangetx/rangetx/store"
	"github.com/rangetx/rangetx/txn"
)

// Config describes a run.
type Config struct {
	// Dir is the harness directory: created if missing, and it must be
	// empty otherwise. It is left in place, laid out as the package doc
	// says (the store, acknowledgements, worker logs and history).
	Dir     string
	Workers int    // writer processes running at once
	Kills   int    // stop after at least this many kills
	Mode    string // ModeJournal, ModeCopy, ModeAuto or ModeAll
	Seed    uint64
	Sizes   []int64 // initial value sizes; nil: DefaultSizes

	// Command starts a worker: the executable and the arguments that come
	// before WorkerArgs (for the rangetx command, {exe,
	// "crashtest-worker"}). The process must run WorkerMain on the rest.
	Command []string
	// Env is the workers' environment; nil: os.Environ(). Any
	// RANGETX_CRASHPOINT in it is dropped; the controller arms crash
	// points itself.
	Env []string

	// MeanLife is the mean time a worker runs before the controller kills
	// it: each incarnation draws its moment of death uniformly from
	// [0, 2×MeanLife) after its start, so kills land in recovery, in
	// transactions and in commits alike. Default 300ms.
	MeanLife time.Duration
	// ArmedGrace is added to the life of a worker armed with a crash
	// point, so it has time to reach its point. Default 2s.
	ArmedGrace time.Duration

	// Progress, if set, receives the seed at the start and a progress line
	// every ProgressEvery (default 10s).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Logger receives the final recovery's warnings. Default: discard.
	Logger *slog.Logger
}

// Run runs the crash test cfg describes: it creates the values, starts the
// workers, kills and restarts them until cfg.Kills kills have happened,
// kills the rest, runs recovery and verifies (see the package doc). The
// returned report holds any violations; an error means the harness itself
// could not run or finish. Cancelling ctx stops the kills early; the run
// still recovers and verifies, and the report says it was interrupted.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	if cfg.Workers < 1 || cfg.Kills < 1 {
		return nil, fmt.Errorf("crashtest: want at least one worker and one kill, got %d and %d", cfg.Workers, cfg.Kills)
	}
	if len(cfg.Command) == 0 {
		return nil, errors.New("crashtest: no worker command")
	}
	sizes := cfg.Sizes
	if len(sizes) == 0 {
		sizes = DefaultSizes
	}
	m, err := NewModel(cfg.Seed, cfg.Mode, sizes)
	if err != nil {
		return nil, err
	}
	if err := CheckDir(cfg.Dir); err != nil {
		return nil, err
	}
	c := &controller{
		cfg:     cfg,
		model:   m,
		root:    filepath.Join(cfg.Dir, "store"),
		ackDir:  filepath.Join(cfg.Dir, "acks"),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0xc0ffee)),
		points:  CrashPoints(cfg.Mode),
		running: map[int]*proc{},
		inc:     make([]int, cfg.Workers),
		events:  make(chan exitEvent),
		rep: &Report{
			Seed: cfg.Seed, Mode: cfg.Mode, Workers: cfg.Workers,
			Crashpoints: map[string]int{}, ViolationDetails: []Violation{}, Values: []ValueState{},
		},
	}
	c.env = workerEnv(cfg.Env)
	if c.cfg.MeanLife <= 0 {
		c.cfg.MeanLife = 300 * time.Millisecond
	}
	if c.cfg.ArmedGrace <= 0 {
		c.cfg.ArmedGrace = 2 * time.Second
	}
	if c.cfg.ProgressEvery <= 0 {
		c.cfg.ProgressEvery = 10 * time.Second
	}
	if c.cfg.Progress != nil {
		fmt.Fprintf(c.cfg.Progress, "crashtest: seed %d, mode %s, %d workers, %d kills, in %s\n",
			cfg.Seed, cfg.Mode, cfg.Workers, cfg.Kills, cfg.Dir)
	}
	if err := c.setup(ctx); err != nil {
		return nil, err
	}
	err = c.loop(ctx)
	c.stop()
	if cerr := c.history.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("crashtest: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	if err := c.finish(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	c.rep.Elapsed = time.Since(start).Seconds()
	return c.rep, nil
}

// workerEnv returns env (default os.Environ()) without any crash point.
func workerEnv(env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, crashpoint.Env+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// controller is the state of a run. Only Run's goroutine touches it; each
// worker has a goroutine that reports the worker's end on events.
type controller struct {
	cfg          Config
	model        *Model
	root, ackDir string
	env          []string
	rng          *rand.Rand
	points       []string

	running  map[int]*proc // by slot
	inc      []int         // next incarnation of each slot
	events   chan exitEvent
	inflight int // kills sent, exits not yet seen
	failures int // workers that ended other than by SIGKILL
	rep      *Report
	history  *os.File // one line per ended worker, for post-mortems
}

// proc is one worker process.
type proc struct {
	slot, inc int
	cmd       *exec.Cmd
	point     string    // armed crash point, or ""
	spec      string    // its RANGETX_CRASHPOINT value
	started   time.Time // when it was started
	death     time.Time // when the controller kills it
	killed    bool      // the controller sent SIGKILL
	logPath   string    // its stderr, with the engine's log
}

// exitEvent is how a worker process ended and what it said.
type exitEvent struct {
	p           *proc
	err         error // from Wait
	opened      bool
	replayed    int
	tempRemoved int
	journal     string
	violations  []string
}

// kills is the number of kills seen so far.
func (c *controller) kills() int { return c.rep.KillsRandom + c.rep.KillsCrashpoint }

// maxFailures is how many workers may end other than by SIGKILL before the
// run stops early: something is broken, and restarting forever would only
// repeat it.
func (c *controller) maxFailures() int { return 10 + 2*c.cfg.Workers }

// loop starts the workers and kills and restarts them until enough kills
// happened, ctx ends or workers keep failing.
func (c *controller) loop(ctx context.Context) error {
	for w := range c.cfg.Workers {
		if err := c.start(w, ""); err != nil {
			return err
		}
	}
	kill := time.NewTimer(time.Hour)
	defer kill.Stop()
	progress := time.NewTicker(c.cfg.ProgressEvery)
	defer progress.Stop()
	begun := time.Now()
	for c.kills() < c.cfg.Kills {
		kill.Reset(c.untilNextDeath())
		select {
		case <-ctx.Done():
			c.rep.Interrupted = true
			return nil
		case ev := <-c.events:
			point := c.handle(ev)
			if c.failures > c.maxFailures() {
				c.rep.addViolations(Violation{Kind: KindWorker,
					Detail: fmt.Sprintf("%d workers ended other than by a kill; stopped early", c.failures)})
				return nil
			}
			if c.kills() < c.cfg.Kills {
				if err := c.start(ev.p.slot, point); err != nil {
					return err
				}
			}
		case <-kill.C:
			now := time.Now()
			for slot := range c.cfg.Workers {
				p := c.running[slot]
				if p != nil && !p.killed && !now.Before(p.death) && c.kills()+c.inflight < c.cfg.Kills {
					c.kill(p)
				}
			}
		case <-progress.C:
			if c.cfg.Progress != nil {
				fmt.Fprintf(c.cfg.Progress, "crashtest: %d/%d kills (%d at crash points), %d recoveries, %s\n",
					c.kills(), c.cfg.Kills, c.rep.KillsCrashpoint, c.rep.Recoveries, time.Since(begun).Round(time.Second))
			}
		}
	}
	return nil
}

// untilNextDeath is the time until the earliest moment of death of a
// running worker not yet killed (an hour if there is none, or if the kills
// already sent will do).
func (c *controller) untilNextDeath() time.Duration {
	d := time.Hour
	if c.kills()+c.inflight >= c.cfg.Kills {
		return d
	}
	for _, p := range c.running {
		if !p.killed {
			d = min(d, time.Until(p.death))
		}
	}
	return max(d, 0)
}

func (c *controller) kill(p *proc) {
	p.killed = true
	c.inflight++
	// An error means the process is already gone; its exit event comes
	// anyway.
	_ = p.cmd.Process.Kill()
}

// start starts a new incarnation of slot, armed with point if not "".
func (c *controller) start(slot int, point string) error {
	life := time.Duration(c.rng.Int64N(int64(2 * c.cfg.MeanLife)))
	if point != "" {
		life += c.cfg.ArmedGrace
	}
	now := time.Now()
	p := &proc{slot: slot, inc: c.inc[slot], point: point, started: now, death: now.Add(life)}
	c.inc[slot]++
	wc := WorkerConfig{Root: c.root, AckDir: c.ackDir, Model: c.model, Worker: slot, Incarnation: p.inc}
	args := append(append([]string{}, c.cfg.Command[1:]...), WorkerArgs(wc)...)
	p.cmd = exec.Command(c.cfg.Command[0], args...)
	p.cmd.Env = c.env
	// Its own process group, so a terminal's ^C reaches the controller
	// only (which then stops the run and verifies); and it dies with the
	// controller, so no writer outlives a killed run.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if point != "" {
		p.spec = fmt.Sprintf("%s@%d", point, 1+c.rng.IntN(3))
		p.cmd.Env = append(append([]string{}, c.env...), crashpoint.Env+"="+p.spec)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("crashtest: start worker: %w", err)
	}
	p.logPath = filepath.Join(c.logDir(), fmt.Sprintf("%d-%d.log", slot, p.inc))
	stderr, err := os.Create(p.logPath)
	if err != nil {
		return fmt.Errorf("crashtest: start worker: %w", err)
	}
	defer stderr.Close() // the child has its own descriptor
	p.cmd.Stderr = stderr
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("crashtest: start worker: %w", err)
	}
	c.running[slot] = p
	go func() {
		ev := exitEvent{p: p}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "open "); ok {
				f := strings.Fields(rest)
				if len(f) == 3 {
					ev.opened = true
					ev.replayed, _ = strconv.Atoi(f[0])
					ev.tempRemoved, _ = strconv.Atoi(f[1])
					ev.journal = f[2]
				}
			} else if rest, ok := strings.CutPrefix(line, "violation "); ok {
				ev.violations = append(ev.violations, rest)
			}
		}
		ev.err = p.cmd.Wait()
		c.events <- ev
	}()
	return nil
}

// handle accounts for a worker's end and returns the crash point to arm
// its next incarnation with ("" for none).
func (c *controller) handle(ev exitEvent) string {
	p := ev.p
	delete(c.running, p.slot)
	if p.killed {
		c.inflight--
	}
	if ev.opened {
		c.rep.Recoveries++
		c.rep.Replayed += ev.replayed
		c.rep.TempRemoved += ev.tempRemoved
		if ev.replayed > 0 {
			c.rep.RecoveriesReplaying++
		}
	}
	name := fmt.Sprintf("worker %d-%d", p.slot, p.inc)
	if p.point != "" {
		name += " (armed " + p.spec + ")"
	}
	for _, v := range ev.violations {
		c.rep.addViolations(Violation{Kind: KindWorker, Detail: name + ": " + v})
	}
	sigkill := false
	var ee *exec.ExitError
	if errors.As(ev.err, &ee) {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		sigkill = ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	}
	end := "killed"
	switch {
	case sigkill && (p.killed || p.point == ""):
		// Ours, or (not armed, not ours) someone else's: either way a
		// kill at a moment nobody chose.
		c.rep.KillsRandom++
	case sigkill:
		end = "crashpoint"
		c.rep.KillsCrashpoint++
		c.rep.Crashpoints[p.point]++
	case len(ev.violations) > 0:
		end = "violation"
		c.failures++
	default:
		end = fmt.Sprintf("failed(%v)", ev.err)
		c.failures++
		c.rep.addViolations(Violation{Kind: KindWorker,
			Detail: fmt.Sprintf("%s ended unexpectedly (%v): %s", name, ev.err, tail(p.logPath, 2<<10))})
	}
	journal := ev.journal
	if journal == "" {
		journal = "-"
	}
	armed := p.spec
	if armed == "" {
		armed = "-"
	}
	fmt.Fprintf(c.history, "%s worker %d-%d pid %d journal %s armed %s life %s end %s opened %t replayed %d\n",
		time.Now().Format(time.RFC3339Nano), p.slot, p.inc, p.cmd.Process.Pid, journal, armed,
		time.Since(p.started).Round(time.Millisecond), end, ev.opened, ev.replayed)
	c.rep.Kills = c.kills()
	return c.nextPoint(sigkill && !p.killed && p.point != "" && leavesPending[p.point])
}

// nextPoint picks the crash point of the next incarnation: after a kill
// that left journal entries to replay, often recovery's replay point (the
// restarted worker's Open is likely to be the one replaying); otherwise
// half the time a random point of the mode.
func (c *controller) nextPoint(pending bool) string {
	if len(c.points) == 0 {
		return ""
	}
	if pending && c.rng.IntN(2) == 0 {
		return crashpoint.RecoveryMidReplay
	}
	if c.rng.IntN(2) == 0 {
		return c.points[c.rng.IntN(len(c.points))]
	}
	return ""
}

// stop kills every running worker and waits for all of them.
func (c *controller) stop() {
	for _, p := range c.running {
		if !p.killed {
			c.kill(p)
		}
	}
	for len(c.running) > 0 {
		c.handle(<-c.events)
	}
}

// finish runs the final recovery and the checks.
func (c *controller) finish(ctx context.Context) error {
	locks, jdir, rlock := txn.Layout(c.root)
	st, err := store.NewLocal(c.root)
	if err != nil {
		return fmt.Errorf("crashtest: final recovery: %w", err)
	}
	lk, err := lock.NewFile(locks)
	if err != nil {
		return fmt.Errorf("crashtest: final recovery: %w", err)
	}
	rep, err := recovery.Run(ctx, recovery.Config{Store: st, Locker: lk, JournalDir: jdir, LockPath: rlock, Logger: c.logger()})
	if err != nil {
		c.rep.addViolations(Violation{Kind: KindRecovery, Detail: err.Error()})
	} else {
		c.rep.Recoveries++
		c.rep.Replayed += rep.Replayed
		c.rep.TempRemoved += len(rep.TempRemoved)
		if rep.Replayed > 0 {
			c.rep.RecoveriesReplaying++
		}
	}
	res, err := Verify(ctx, c.model, c.root, c.ackDir)
	if err != nil {
		return err
	}
	c.rep.addViolations(res.Violations...)
	c.rep.Acknowledged = res.Acknowledged
	c.rep.Values = res.Values
	return nil
}

// tail returns the last n bytes of the file at path, trimmed.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}
